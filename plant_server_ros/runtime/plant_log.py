"""
What a running plant says in its log, the same words through every door.

The ROS node hands in its rclpy logger (so the lines reach ``/rosout``), the
in-process server a ``logging.Logger``: anything with ``info``, ``warning``
and ``error`` taking one string.
"""

import time

from .schedule import PlantListener
from .settings import defaults

_TABLE = defaults()          # the settings table's defaults: declared there, once

LATE_REPORT_PERIOD = 10.0   # s between two reports of late ticks
LOGGED_EVENTS = ('episode', 'disturbance', 'disturbance_start', 'disturbance_end', 'estop')


class PlantLog(PlantListener):
    """
    Log the plant's events without flooding.

    The fail-safe is reported once per episode (a count follows when the
    episode ends); before any control has arrived it is INFO: an idle plant
    is not failing.  Late ticks are counted and reported at most every
    ``LATE_REPORT_PERIOD``; before any control they are DEBUG for the same
    reason (start-up costs a few periods and nobody is driving yet).
    """

    def __init__(self, log, plant, max_steps=_TABLE['max_steps']):
        self.log = log
        self.plant = plant
        self.max_steps = max_steps
        self.failsafe_trips = 0        # in the current episode
        self._late = 0                 # late ticks not yet reported
        self._late_reported = -LATE_REPORT_PERIOD

    def on_episode(self, index):
        self.report_failsafe()

    def report_failsafe(self):
        """Log how often the fail-safe tripped in the episode that ends; start counting anew."""
        if self.failsafe_trips > 1:
            self.log.info(f'fail-safe tripped {self.failsafe_trips} times in that episode')
        self.failsafe_trips = 0

    def on_failsafe(self, active, controlled):
        if active:
            self.failsafe_trips += 1
            if self.failsafe_trips == 1:
                text = (f'no control for {self.plant.control_timeout:g} s: applying u = 0 '
                        '(fail-safe; reported once per episode)')
                # One call site per severity: rclpy refuses a site that changes it.
                if controlled:
                    self.log.warning(text)
                else:
                    self.log.info(text)
        elif self.failsafe_trips == 1:
            self.log.info('control received again')

    def on_event(self, event):
        # The fail-safe and halts have lines of their own (on_failsafe, on_halt).
        if event.kind in LOGGED_EVENTS:
            self.log.info(f't={event.t:.3f} s {event.kind}: {event.detail}')

    def on_halt(self, reason):
        # A scenario that ran its course is no failure.
        text = f'plant stopped: {reason}; waiting for a reset'
        if getattr(self.plant, 'fault_kind', None) == 'scenario_done':
            self.log.info(text)
        else:
            self.log.error(text)

    def on_finish(self):
        self.log.info(f'max_steps={self.max_steps} reached: stopping')

    def on_late(self, missed, overruns, controlled):
        self._late += 1
        now = time.monotonic()
        if now - self._late_reported < LATE_REPORT_PERIOD:
            return
        self._late_reported = now
        text = (f'{self._late} late tick(s) caught up ({overruns} overruns since start; '
                f'the last one {missed} period(s) late)')
        self._late = 0
        if controlled:
            self.log.warning(text)
        else:
            debug = getattr(self.log, 'debug', None)
            if debug is not None:
                debug(text)
