"""
The legacy sessions' backend on an in-process plant: no middleware in between.

Lock-step calls the schedule directly on the session's thread (the fast
path: one lock, one step).  In real time the plant ticks on its own thread
and a CONTROL waits for the first sample published after it arrived, exactly
as the bridge waits for the plant's ``state`` topic.
"""

import collections
import threading

from ..legacy.backend import BadState, PlantBackend, PlantUnavailable
from ..physics.state import InvalidStateError
from ..runtime.lockstep import LockstepSchedule
from ..runtime.realtime import RealtimeSchedule
from ..runtime.schedule import Fanout, PlantFinished, PlantHalted, PlantListener

RECENT = 64         # samples kept for a reply whose thread wakes late


class DirectBackend(PlantBackend, PlantListener):
    """A :class:`PlantBackend` that owns the plant's schedule and listens to it."""

    def __init__(self, plant, mode='realtime', max_steps=0, realtime_priority=0,
                 reply_timeout=1.0, listener=None, log=None, observers=()):
        self.reply_timeout = float(reply_timeout)
        self._forward = listener if listener is not None else PlantListener()
        self._cond = threading.Condition()
        self._published = 0          # samples published so far
        self._recent = collections.deque(maxlen=RECENT)   # the last samples published
        self._episodes = 0           # episode-start (t = 0) samples made so far
        self._episode_start = None   # the last of them: a RESET's reply
        hears = Fanout(self, observers) if observers else self
        if mode == 'lockstep':
            self.schedule = LockstepSchedule(plant, hears, max_steps)
        elif mode == 'realtime':
            self.schedule = RealtimeSchedule(plant, hears, max_steps, realtime_priority,
                                             log=log)
        else:
            raise ValueError(f"mode must be 'realtime' or 'lockstep', got {mode!r}")
        self.lockstep = mode == 'lockstep'

    def start(self):
        """Publish the first sample; in real time, start ticking."""
        self.schedule.start()

    def stop(self):
        """Stop the plant; waiting requests get PlantFinished."""
        self.schedule.stop()
        with self._cond:
            self._cond.notify_all()

    # -- PlantBackend --------------------------------------------------------
    @property
    def halted(self):
        """Return why the plant stopped, or None."""
        return self.schedule.halted

    @property
    def finished(self):
        """Return True once the plant reached max_steps or was stopped."""
        return self.schedule.finished.is_set()

    def control(self, u):
        """Apply ``u``; lock-step: the sample it made; real time: the next sample."""
        if self.lockstep:
            sample = self.schedule.control(u)
            return sample.measured, sample.t
        with self._cond:
            self._check_running()
            seen = self._published
        self.schedule.control(u)
        return self._wait(lambda: self._first_after(seen))

    def reset(self, state=None):
        """Reset (lock-step: now; real time: at the next tick); the t = 0 sample."""
        try:
            if self.lockstep:
                sample = self.schedule.reset(state)
                return sample.measured, sample.t
            with self._cond:
                if self.finished:
                    raise PlantFinished('plant finished')
                seen = self._episodes
            self.schedule.request_reset(state)
        except InvalidStateError as exc:
            raise BadState(str(exc)) from None
        # The reply is the episode-start sample made after the request, kept aside
        # (see prepare): the next tick may replace the latest sample before this
        # thread wakes up.
        return self._wait(lambda: self._episode_start if self._episodes > seen else None,
                          halted_ok=True)

    def _first_after(self, seen):
        """Return the first sample published after ``seen`` samples, or None."""
        if self._published <= seen:
            return None
        # Woken late, several may have come: the reply is the first of them.
        back = self._published - seen
        return self._recent[-back] if back <= len(self._recent) else self._recent[0]

    def _check_running(self):
        if self.finished:
            raise PlantFinished('plant finished')
        if self.schedule.halted is not None:
            raise PlantHalted(self.schedule.halted, self.schedule.last_reply())

    def _wait(self, ready, halted_ok=False):
        """Wait until ``ready()`` returns the reply's sample; ``(state, t)`` of it."""
        with self._cond:
            self._cond.wait_for(
                lambda: ready() is not None or self.finished or (not halted_ok and self.halted),
                self.reply_timeout)
            sample = ready()
            if sample is not None:
                return sample.measured, sample.t
            if not halted_ok:
                self._check_running()
            if self.finished:
                raise PlantFinished('plant finished')
            raise PlantUnavailable(f'no plant sample within {self.reply_timeout:g} s')

    # -- PlantListener (called by the schedule, under its lock) ---------------
    def prepare(self, sample):
        # Every episode start passes here in the tick that applies the reset, even
        # when that tick is so late that its catch-up burst does not publish it.
        if not self.lockstep and sample.t == 0.0 and \
                sample.index == self.schedule.episode_index:
            with self._cond:
                self._episodes += 1
                self._episode_start = sample
                self._cond.notify_all()
        return sample

    def publish(self, sample):
        if not self.lockstep:       # lock-step requests get their sample returned
            with self._cond:
                self._published += 1
                self._recent.append(sample)
                self._cond.notify_all()
        self._forward.publish(self._forward.prepare(sample))

    def on_episode(self, index):
        self._forward.on_episode(index)

    def on_halt(self, reason):
        with self._cond:
            self._cond.notify_all()
        self._forward.on_halt(reason)

    def on_finish(self):
        with self._cond:
            self._cond.notify_all()
        self._forward.on_finish()

    def on_event(self, event):
        self._forward.on_event(event)

    def on_failsafe(self, active, controlled):
        self._forward.on_failsafe(active, controlled)

    def on_late(self, missed, overruns, controlled):
        self._forward.on_late(missed, overruns, controlled)
