"""
What a running plant reports about itself: timing figures and a status dict.

The same dict serves ``PlantServer.status()``, the server's log and the ROS
``/diagnostics`` of the plant node, so every door tells the same story.
"""

import collections
import time

WINDOW = 1000        # recent ticks the timing percentiles are taken over


class TickStats:
    """Lateness and cost of the recent ticks of a real-time schedule (seconds)."""

    def __init__(self, window=WINDOW):
        self.lateness = collections.deque(maxlen=window)
        self.cost = collections.deque(maxlen=window)

    def add(self, lateness, cost):
        """Record one tick: how late it started, how long it took."""
        self.lateness.append(lateness)
        self.cost.append(cost)

    def summary(self):
        """Return p50/p99 of lateness and cost [us] over the window (None when empty)."""
        out = {}
        for name, values in (('tick_lateness', self.lateness), ('tick_cost', self.cost)):
            ordered = sorted(values)
            for label, q in (('p50', 0.5), ('p99', 0.99)):
                out[f'{name}_{label}_us'] = (
                    round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1e6, 1)
                    if ordered else None)
        return out


class CpuMeter:
    """This process's CPU use [% of one core] since the last reading."""

    def __init__(self):
        self._last = (time.monotonic(), time.process_time())

    def percent(self):
        """Return the CPU share since the last call (or since construction)."""
        now = (time.monotonic(), time.process_time())
        wall, cpu = now[0] - self._last[0], now[1] - self._last[1]
        self._last = now
        return round(100.0 * cpu / wall, 1) if wall > 0 else None


def plant_status(schedule):
    """Return the plant's state, episode and timing as a flat dict (JSON-ready)."""
    plant = schedule.plant
    if schedule.finished.is_set():
        state = 'finished'
    elif plant.fault is not None:
        state = 'halted'
    elif plant.control_timed_out:
        state = 'fail-safe'
    else:
        state = 'running'
    status = {
        'state': state, 'halt_reason': plant.fault, 'mode': schedule.mode,
        'episode': plant.episode, 'scenario': plant.scenario.name,
        'episode_time': round(plant.time, 9), 'total_steps': plant.total_steps,
        'control_age': round(plant.control_age, 9), 'controlled': schedule.controlled,
        'failsafe': plant.control_timed_out,
    }
    ticker = getattr(schedule, 'ticker', None)
    if ticker is not None:
        status['overruns'] = ticker.overruns
        status.update(schedule.tick_stats.summary())
    return status
