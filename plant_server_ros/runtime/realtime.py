"""
The real-time schedule: the plant steps on a drift-free wall-clock ticker.

Tick ``k`` is due at ``t0 + k * dt``.  Its sample is computed ahead, during
period ``k - 1`` (and again whenever a control arrives in it), so at the
deadline only the publish is left and the stamp-to-wire delay stays small.
A control acts from the moment it arrives inside the period (zero-order hold
with the switch where it happened).  A reset waits for the next tick, so
samples stay on the ``dt`` grid.  A late tick catches up on every missed
period (the plant keeps wall time) and publishes the last few of them.  A
halted plant goes on publishing its frozen state on the grid until a reset.
"""

import time

from .plant import Event
from .replies import Refused, ReplyRule, Ticket
from .schedule import PlantFinished, PlantHalted, PlantSchedule, Sample
from .settings import defaults
from .status import TickStats
from .ticker import Ticker
from ..physics.state import all_finite, InvalidStateError

_TABLE = defaults()          # the settings table's defaults: declared there, once

# Periods published in one catch-up burst; older due periods are still
# integrated (the plant keeps wall time) but not published.
MAX_PUBLISHED_BACKLOG = 10


class RealtimeSchedule(PlantSchedule):
    """Step ``plant`` every ``dt`` of wall time on a thread of its own."""

    mode = 'realtime'

    def __init__(self, plant, listener=None, max_steps=_TABLE['max_steps'],
                 realtime_priority=_TABLE['realtime_priority'], name='plant', log=None):
        super().__init__(plant, listener, max_steps)
        self.ticker = Ticker(plant.dt, self._on_tick, realtime_priority=realtime_priority,
                             name=f'{name}_ticker', log=log)
        self._pending_reset = None
        self._prepared = None        # (Sample, what the listener made of it), not yet due
        self._last_index = 0
        self.tick_stats = TickStats()
        self.replies = ReplyRule()    # which published sample answers which request

    def start(self):
        """Publish sample 0 now and tick from here on."""
        t0 = time.monotonic()
        with self.lock:
            self._begin_episode(0)
            first = self._emit(self._sample(0, 0.0, self.plant.state, 0.0))
            self.replies.episode_started(first)
            self.replies.published(first)
            self._prepare_next(1)
        self.ticker.start(t0)

    @property
    def priority_error(self):
        """Why SCHED_FIFO was refused, or None."""
        return self.ticker.priority_error

    def control(self, u):
        """
        Apply ``u`` from now on (ValueError if not finite); a Ticket for the next sample.

        A halted or finished plant keeps nothing: the ticket raises
        PlantHalted (with the last sample) or PlantFinished.
        """
        with self.lock:
            if self.finished.is_set():
                return Refused(PlantFinished('plant finished'))
            if self.plant.fault is not None:
                return Refused(PlantHalted(self.plant.fault, self.last_reply()))
            replies = self.replies
            mark = replies.mark()
            self._control(u, at=self._now_in_period())
            if self._prepared is not None:
                self._prepare_next(self._prepared[0].index)
            return Ticket(self, lambda: replies.first_after(mark))

    def _now_in_period(self):
        return time.monotonic() - (self.ticker.t0 + self._last_index * self.plant.dt)

    def refresh(self):
        """Recompute the sample computed ahead (a setting such as max_force changed)."""
        with self.lock:
            if self._prepared is not None:
                self._prepare_next(self._prepared[0].index)

    def reset(self, state=None):
        """
        Reset at the next tick; a Ticket for the new episode's t = 0 sample.

        InvalidStateError at once for a bad target, PlantFinished once the
        plant has finished.
        """
        self.plant.check_reset(state)               # refused now, not in the tick
        with self.lock:
            if self.finished.is_set():
                raise PlantFinished('plant finished')
            replies = self.replies
            mark = replies.mark()
            self._pending_reset = (None if state is None else tuple(state),)
            self._prepared = None
            return Ticket(self, lambda: replies.episode_start_after(mark), halted_ok=True)

    def estop(self, reason='emergency stop'):
        """Halt now; a reset asked for before the stop does not undo it."""
        with self.lock:
            self._pending_reset = None
            return super().estop(reason)

    # -- the ticking thread ----------------------------------------------------
    def _on_tick(self, index, due):
        start = time.monotonic()
        try:
            self._tick(index, due)
        finally:
            self.tick_stats.add(start - (self.ticker.t0 + index * self.plant.dt),
                                time.monotonic() - start)

    def _tick(self, index, due):
        with self.lock:
            for k in range(index - due + 1, index + 1):
                if self.finished.is_set():
                    return
                publish = index - k < MAX_PUBLISHED_BACKLOG
                plant = self.plant
                if self._pending_reset is not None:
                    target, self._pending_reset = self._pending_reset[0], None
                    try:
                        plant.reset(target)
                    except InvalidStateError as exc:    # a campaign moved on under it
                        self.listener.on_event(Event(plant.time, 'reset_refused', str(exc)))
                        continue
                    self._begin_episode(k)
                    self._prepare(self._sample(k, 0.0, plant.state, 0.0))
                    # Kept aside for the reset's reply: a late tick's burst may
                    # not publish it, and the next tick replaces the latest.
                    self.replies.episode_started(self._prepared[0])
                elif self._prepared is not None and self._prepared[0].index == k:
                    if publish:
                        self._publish_prepared()
                    publish = False
                    self._advance()               # commits the state just published
                elif self._advance():             # catching up: nothing computed ahead
                    self._prepare(self._sample(k, plant.time, plant.state,
                                               plant.last_applied_force))
                elif plant.fault is not None and all_finite(plant.state):
                    # Halted: the rig stands still, its sensors still read (frozen
                    # state, no force), so a subscriber never just hears silence.
                    self._prepare(self._sample(k, plant.time, plant.state, 0.0))
                else:
                    continue
                if publish:
                    self._publish_prepared()
                self._prepared = None
                self._last_index = k
                if self._check_max_steps():
                    self.ticker.request_stop()
                    return
            self._prepare_next(index + 1)
        if due > 1:
            self.listener.on_late(due - 1, self.ticker.overruns, self.controlled)

    def _prepare(self, sample):
        self._prepared = (sample, self.listener.prepare(sample))

    def _prepare_next(self, index):
        """Compute the sample due at ``index`` (not committed), unless none will come."""
        self._prepared = None
        plant = self.plant
        if self.finished.is_set() or self._pending_reset is not None or \
                plant.fault is not None or self._max_steps_reached():
            return
        state, force = plant.preview()
        if all_finite(state):
            t = (plant.steps + 1) * plant.dt
            measured = plant.measure_ahead(state, t, index)
            self._prepare(Sample(index, t, measured, state, force))

    def _publish_prepared(self):
        sample, prepared = self._prepared
        self.last_sample = sample
        self.replies.published(sample)
        self.listener.publish(prepared)

    def _halted_now(self, reason):
        self.replies.wake()         # a waiting CONTROL gets HALTED at once

    def _finished_now(self):
        self.replies.wake()

    def stop(self):
        """Stop ticking and wait for the thread (idempotent; not from a tick)."""
        super().stop()
        self.replies.wake()
        self.ticker.stop()
