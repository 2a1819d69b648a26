"""
A drift-free periodic thread: absolute deadlines, catch-up, overrun count (no ROS).

Why not an rclpy timer: its wake-ups go through the executor and the kernel
tick, which adds about a millisecond of jitter at a subscriber
(``bench/bench_timing.py`` compares).  This thread sleeps to just before each
absolute deadline ``t0 + k * period`` and busy-waits the last stretch, so
lateness does not accumulate and the tick lands within tens of microseconds.
"""

import ctypes
import logging
import os
import sys
import threading
import time
import traceback

from .settings import defaults

_TABLE = defaults()          # the settings table's defaults: declared there, once

_log = logging.getLogger(__name__)


def set_realtime_priority(priority):
    """Put the calling thread under SCHED_FIFO ``priority``; return an error or None."""
    if priority <= 0:
        return None
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
    except (AttributeError, OSError) as exc:
        return f'SCHED_FIFO priority {priority} not permitted ({exc}); running unprioritised'
    return None


def tighten_timer_slack(slack_ns=1000):
    """
    Let the kernel wake this thread within ``slack_ns`` of a timeout (Linux).

    The default slack is 50 us; measured here, sleep overshoot p50 drops from
    ~170 us to ~110 us.  Best effort: elsewhere this does nothing.
    """
    if not sys.platform.startswith('linux'):
        return
    try:
        ctypes.CDLL(None, use_errno=True).prctl(29, slack_ns, 0, 0, 0)   # PR_SET_TIMERSLACK
    except (OSError, AttributeError):
        pass


class Ticker:
    """
    Call ``callback(index, due)`` on a thread every ``period`` seconds.

    ``index`` counts periods since :meth:`start` (tick ``k`` is due at
    ``t0 + k * period``); ``due`` is how many periods elapsed since the last
    call, more than one when the callback or the machine fell behind, so the
    caller can catch up instead of drifting.
    """

    def __init__(self, period, callback, busy_wait=150e-6,
                 realtime_priority=_TABLE['realtime_priority'],
                 name='ticker', log=None):
        if not period > 0.0:
            raise ValueError('period must be > 0')
        self.period = float(period)
        self.callback = callback
        self.busy_wait = min(float(busy_wait), self.period)
        self.realtime_priority = int(realtime_priority)
        # Anything with error(str): the owner's logger (a ROS node's reaches /rosout).
        self.log = log if log is not None else _log
        self.overruns = 0
        self.priority_error = None
        self.t0 = None
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self, t0=None):
        """Start ticking from monotonic time ``t0`` (default: now)."""
        self.t0 = time.monotonic() if t0 is None else float(t0)
        self._thread.start()
        self._ready.wait()

    def stop(self, timeout=1.0):
        """Stop ticking and wait for the thread (never from inside the callback)."""
        self._stop.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    def request_stop(self):
        """Ask the loop to end after the current callback (safe from the callback)."""
        self._stop.set()

    @property
    def running(self):
        return self._thread.is_alive() and not self._stop.is_set()

    def _run(self):
        self.priority_error = set_realtime_priority(self.realtime_priority)
        tighten_timer_slack()
        clock = time.monotonic
        t0 = self.t0
        self._ready.set()
        period = self.period
        index = 0
        while not self._stop.is_set():
            deadline = t0 + (index + 1) * period
            wait = deadline - clock() - self.busy_wait
            if wait > 0.0 and self._stop.wait(wait):
                break
            while clock() < deadline:
                pass
            due = max(1, int((clock() - t0) / period) - index)
            if due > 1:
                self.overruns += 1
            index += due
            try:
                self.callback(index, due)
            except Exception:  # noqa: B902 - a bad tick must not stop the plant's clock
                self.log.error(f'tick callback failed:\n{traceback.format_exc()}')
