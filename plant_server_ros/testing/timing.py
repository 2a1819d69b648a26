"""
The controller's response times and deadline misses, per episode.

A sample is *sent* when the plant publishes it (an observer's ``on_sample``,
on the stepping thread); a control is *received* when the door hands it to
the plant (:class:`TimedBackend`, a thin wrapper of the legacy backend, or
the in-process runner's own call).  A control answers the oldest sample
published since the previous control, so a controller that skips a sample
is not credited with the newer one.  A deadline miss is a control that came
after the next sample was due: a response longer than ``dt``.  A controller
on its own chip may report the CPU cycles of each step (the compact serial
framing): their spread, and the worst as a fraction of the period.
"""

import threading
import time

import numpy as np

from ..legacy.backend import PlantBackend


class ResponseTimer:
    """Pair each control with the sample it answers; the response times of an episode."""

    def __init__(self, dt, clock=time.perf_counter):
        self.dt = float(dt)
        self.clock = clock
        self._lock = threading.Lock()
        self._pending = None          # sent instant of the oldest unanswered sample
        self.responses = []           # [s], this episode
        self.last_control = None      # clock instant of the last control received
        self.controls = 0             # controls received since the start
        self.cycles = []              # CPU cycles per step the controller reported, this episode
        self.clock_hz = 0             # the clock it reported them at (0: unknown)

    def new_episode(self):
        """Forget the previous episode's responses (its t = 0 sample comes next)."""
        with self._lock:
            self.responses = []
            self._pending = None
            self.cycles = []

    def sent(self):
        """Note that a sample was published now."""
        now = self.clock()
        with self._lock:
            if self._pending is None:
                self._pending = now

    def received(self):
        """Note that a control arrived now."""
        now = self.clock()
        with self._lock:
            self.last_control = now
            self.controls += 1
            if self._pending is not None:
                self.responses.append(now - self._pending)
                self._pending = None

    def computed(self, cycles, clock_hz=0):
        """Note the CPU cycles the controller reports for its last step (at ``clock_hz``)."""
        with self._lock:
            self.cycles.append(int(cycles))
            if clock_hz:
                self.clock_hz = int(clock_hz)

    def summary(self):
        """Return the p50, p99 and max response time [ms], the deadline misses, the compute."""
        with self._lock:
            values = np.array(self.responses, dtype=float)
            cycles = np.array(self.cycles, dtype=float)
            clock = self.clock_hz
        compute = {}
        if cycles.size:
            # A controller on its own chip reports its cycles per step (docs/serial.md):
            # the fraction of the period its computation takes at its clock.
            worst = float(cycles.max())
            compute = {'compute_cycles_min': int(cycles.min()),
                       'compute_cycles_p50': float(np.percentile(cycles, 50)),
                       'compute_cycles_max': int(worst), 'compute_steps': int(cycles.size),
                       'compute_clock_hz': clock or None,
                       'compute_us_max': worst / clock * 1e6 if clock else None,
                       'compute_fraction_max': worst / clock / self.dt if clock else None}
        if values.size == 0:
            return {'response_p50_ms': None, 'response_p99_ms': None, 'response_max_ms': None,
                    'deadline_misses': 0, 'responses': 0, **compute}
        ms = values * 1e3
        return {'response_p50_ms': float(np.percentile(ms, 50)),
                'response_p99_ms': float(np.percentile(ms, 99)),
                'response_max_ms': float(ms.max()),
                'deadline_misses': int(np.count_nonzero(values > self.dt)),
                'responses': int(values.size), **compute}


class TimedBackend(PlantBackend):
    """A legacy backend that tells a :class:`ResponseTimer` when each control arrives."""

    def __init__(self, backend, timer):
        self.backend = backend
        self.timer = timer

    @property
    def halted(self):
        """Return why the plant stopped, or None."""
        return self.backend.halted

    @property
    def finished(self):
        """Return True once the plant finished."""
        return self.backend.finished

    def control(self, u):
        """Timestamp, then pass on."""
        self.timer.received()
        return self.backend.control(u)

    def reset(self, state=None):
        """Pass on (a reset is not a response to a sample)."""
        return self.backend.reset(state)
