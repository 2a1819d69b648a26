"""
What the real-time and lock-step schedules share: samples, listener, outcomes.

A schedule owns *when* the plant steps; the :class:`~.plant.Plant` owns what
a step does.  Whoever runs a schedule (the ROS ``plant`` node, the in-process
``PlantServer``) hears of it through a :class:`PlantListener`, so both doors
get the same behaviour from one piece of code.
"""

import threading
from typing import NamedTuple

from .settings import defaults

_TABLE = defaults()          # the settings table's defaults: declared there, once


class Sample(NamedTuple):
    """One sample of the plant, as published."""

    index: int          # periods since the schedule started: its instant is start + index * dt
    t: float            # episode time [s]
    measured: tuple     # the state with sensor effects
    true: tuple         # the state itself
    force: float        # the force applied in the period that ended at this sample

    def result(self, timeout=None):
        """
        Return this sample: a request answered at once (lock-step) is its own ticket.

        Both schedules' ``control`` and ``reset`` return something with
        ``result(timeout)``: a sample here, a :class:`~.replies.Ticket` in
        real time, so their callers never ask which mode runs.
        """
        return self


class PlantHalted(Exception):
    """The plant stopped (a limit, a non-finite state) and waits for a reset."""

    def __init__(self, reason, last=None):
        super().__init__(reason)
        self.last = last    # (measured state, t) of the last sample published, if any


class PlantFinished(Exception):
    """The plant reached max_steps or is shutting down."""


class PlantUnavailable(Exception):
    """No state from the plant within the reply timeout."""


class PlantListener:
    """Hooks a schedule calls, under its lock; override what you need."""

    def prepare(self, sample):
        """Return what :meth:`publish` will send for ``sample`` (e.g. a filled message)."""
        return sample

    def publish(self, prepared):
        """Send what :meth:`prepare` made: the sample's instant has come."""

    def on_sample(self, sample):
        """Hear of a sample as it is published (observers of a :class:`Fanout`)."""

    def on_episode(self, index):
        """Hear that a new episode starts at sample ``index`` (t = 0)."""

    def on_halt(self, reason):
        """Hear that the plant stopped with ``reason`` and waits for a reset."""

    def on_finish(self):
        """Hear that ``max_steps`` is reached: no more samples will come."""

    def on_failsafe(self, active, controlled):
        """
        Hear that the fail-safe tripped (``active``) or that a control ended it.

        ``controlled``: has any control arrived since start.
        """

    def on_event(self, event):
        """Hear of an :class:`~.plant.Event` (fail-safe, halt, disturbance, episode, ...)."""

    def on_late(self, missed, overruns, controlled):
        """Hear that a tick came ``missed`` periods late (caught up); ``overruns`` so far."""


class Fanout(PlantListener):
    """
    A door's own listener plus observers (a recorder, a live view) of the same plant.

    The primary prepares and publishes; each observer hears every published
    sample (``on_sample``) and every other hook.  Observers run on the
    stepping thread: they hand work to a thread of their own, never block.
    """

    def __init__(self, primary, observers=()):
        self.primary = primary
        self.observers = list(observers)

    def prepare(self, sample):
        return self.primary.prepare(sample), sample

    def publish(self, prepared):
        token, sample = prepared
        self.primary.publish(token)
        for observer in self.observers:
            observer.on_sample(sample)

    def _each(name):
        def forward(self, *args):
            getattr(self.primary, name)(*args)
            for observer in self.observers:
                getattr(observer, name)(*args)
        forward.__name__ = name
        forward.__doc__ = f'Forward ``{name}`` to the primary and every observer.'
        return forward

    on_episode = _each('on_episode')
    on_halt = _each('on_halt')
    on_finish = _each('on_finish')
    on_failsafe = _each('on_failsafe')
    on_event = _each('on_event')
    on_late = _each('on_late')
    del _each


class PlantSchedule:
    """Base of the two schedules: stepping, fail-safe and halt reports, max_steps."""

    mode = None

    def __init__(self, plant, listener=None, max_steps=_TABLE['max_steps']):
        self.plant = plant
        self.listener = listener if listener is not None else PlantListener()
        self.max_steps = int(max_steps or 0)
        self.lock = threading.RLock()
        self.finished = threading.Event()
        self.episode_index = 0
        self.last_sample = None
        self.controlled = False       # has any control arrived since start

    @property
    def halted(self):
        """Return why the plant stopped, or None while it runs."""
        return self.plant.fault

    def last_reply(self):
        """``(measured state, t)`` of the last sample published, or None."""
        s = self.last_sample
        return None if s is None else (s.measured, s.t)

    def _begin_episode(self, index):
        self.episode_index = index
        self.listener.on_episode(index)
        self._report_events()

    def _report_events(self):
        if self.plant.events:
            for event in self.plant.take_events():
                self.listener.on_event(event)

    def set_disturbance(self, force, tau1=0.0, tau2=0.0):
        """Push the plant: hold ``(F, tau1, tau2)`` from now on (lock-step: from the next step)."""
        with self.lock:
            values = self.plant.set_disturbance(force, tau1, tau2, at=self._now_in_period())
            self.refresh()
            self._report_events()
            return values

    def estop(self, reason='emergency stop'):
        """Set the force to 0 at once and halt the plant until a reset; the halt reason."""
        with self.lock:
            halted_before = self.plant.fault is not None
            reason = self.plant.estop(reason)
            if not halted_before:
                self.listener.on_halt(reason)
                self._halted_now(reason)
            self.refresh()
            self._report_events()
            return reason

    def _now_in_period(self):
        """Return how far into the coming period now is (0: lock-step, the whole period)."""
        return 0.0

    def _control(self, u, at=0.0):
        was_failsafe = self.plant.control_timed_out
        u = self.plant.set_control(u, at)
        self.controlled = True
        if was_failsafe:
            self.listener.on_failsafe(False, True)
            self._report_events()
        return u

    def _advance(self):
        """Step the plant once, report what changed; False when nothing moved."""
        plant = self.plant
        if plant.fault is not None:
            return False
        was_failsafe = plant.control_timed_out
        moved = plant.step()              # False: the step diverged (fault set)
        if plant.control_timed_out and not was_failsafe:
            self.listener.on_failsafe(True, self.controlled)
        if plant.fault is not None:
            self.listener.on_halt(plant.fault)
            self._halted_now(plant.fault)
        self._report_events()
        return moved

    def _sample(self, index, t, state, force):
        return Sample(index, t, self.plant.measure(state, t), state, force)

    def _emit(self, sample):
        self.last_sample = sample
        self.listener.publish(self.listener.prepare(sample))
        return sample

    def _max_steps_reached(self):
        return bool(self.max_steps) and self.plant.total_steps >= self.max_steps

    def _check_max_steps(self):
        if self._max_steps_reached() and not self.finished.is_set():
            self.finished.set()
            self.listener.on_finish()
            self._finished_now()
            return True
        return False

    def _halted_now(self, reason):
        """Hear that the plant just halted (a schedule with waiting requests wakes them)."""

    def _finished_now(self):
        """Hear that ``max_steps`` was just reached."""

    def refresh(self):
        """Recompute what was computed ahead after a setting changed (call under the lock)."""

    def stop(self):
        """Stop stepping (idempotent)."""
        self.finished.set()
