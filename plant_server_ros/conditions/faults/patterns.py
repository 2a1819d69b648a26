"""
When a fault acts: its window and its pattern's level ``a`` in [0, 1], for one plant and N lanes.

The fault is on over ``[start, start + duration)`` (episode time; no
duration: to the end of the episode); with ``tau = t - start``:

- ``constant``: ``a = 1``,
- ``ramp``: ``a = min(tau / over, 1)``,
- ``intermittent``: 1 for ``on`` s, 0 for ``off`` s, alternately, starting
  on; a ``[low, high]`` duration is drawn uniformly, each time, from the
  fault's own stream,
- ``sine``: ``a = (1 - cos(2 pi frequency tau + phase)) / 2``.

:func:`level` is the single plant's; :func:`level_lanes` the same arithmetic
over ``(N,)`` episode times.  Both are asked for times that never go back
(an intermittent fault draws its switching times as it goes).
"""

import bisect
import math

import numpy as np

PATTERNS = ('constant', 'ramp', 'intermittent', 'sine')
ON_OFF = ('constant', 'intermittent')       # the patterns of a fault without a value
# pattern -> (keys it needs, keys it may take)
PATTERN_KEYS = {'constant': ((), ()), 'ramp': (('over',), ()),
                'intermittent': (('on', 'off'), ()), 'sine': (('frequency',), ('phase',))}
EPSILON = 1e-9      # s; a time this close to an edge has reached it (the sample grid)
# The shortest on or off of an intermittent pattern [s], and the fastest sine
# [Hz]: at most one switch per millisecond to draw in a period, whatever asked.
MIN_ON_OFF = 1e-3
MAX_FREQUENCY = 1e4


def draws(fault):
    """Tell whether the fault's pattern draws from the fault's stream."""
    return fault.pattern == 'intermittent' and (isinstance(fault.on, tuple)
                                                or isinstance(fault.off, tuple))


def in_window(fault, t):
    """Tell whether episode time ``t`` lies in the fault's window."""
    if t < fault.start - EPSILON:
        return False
    return fault.duration is None or t < fault.start + fault.duration - EPSILON


def _duration(fault, count, rng):
    key = fault.on if count % 2 else fault.off
    return rng().uniform(*key) if isinstance(key, tuple) else key


def level(run, t):
    """Return the level of ``run`` (a running fault) at episode time ``t`` (0 outside)."""
    f = run.fault
    if not in_window(f, t):
        return 0.0
    tau = max(t - f.start, 0.0)
    pattern = f.pattern
    if pattern == 'constant':
        return 1.0
    if pattern == 'ramp':
        return min(tau / f.over, 1.0)
    if pattern == 'sine':
        return (1.0 - math.cos(2.0 * math.pi * f.frequency * tau + f.phase)) / 2.0
    toggles = run.toggles          # the times (into the fault) it switches, from on
    while toggles[-1] <= tau + EPSILON:
        toggles.append(toggles[-1] + _duration(f, run.toggles_dropped + len(toggles),
                                               lambda: run.rng))
    # A level is asked for at most a period back: switches older than the run's
    # horizon (two periods) are only counted, so a long episode keeps no long list.
    if len(toggles) > 64 and toggles[32] < tau - run.horizon:
        run.toggles_dropped += 32
        del toggles[:32]
    return 1.0 if (run.toggles_dropped + bisect.bisect_right(toggles, tau + EPSILON)) % 2 \
        else 0.0


def in_window_lanes(fault, t):
    """Return the ``(N,)`` mask of the episode times ``t`` in the fault's window."""
    inside = t >= fault.start - EPSILON
    if fault.duration is not None:
        inside &= t < fault.start + fault.duration - EPSILON
    return inside


class Toggles:
    """An intermittent fault's switching times in N lanes: how many passed, the next."""

    def __init__(self, n):
        self.count = np.zeros(n, dtype=np.int64)
        self.next = np.zeros(n)

    def reset(self, lanes):
        """Start the lanes of the mask ``lanes`` from the fault's first switch (on, at 0)."""
        self.count[lanes] = 0
        self.next[lanes] = 0.0


def level_lanes(run, t, lanes):
    """
    Return the ``(N,)`` levels of ``run`` (a fault in lanes) at episode times ``t``.

    ``lanes``: the mask of the lanes asked (an intermittent fault's other
    lanes draw nothing); the others' level is 0.
    """
    f = run.fault
    inside = in_window_lanes(f, t) & lanes
    pattern = f.pattern
    if pattern == 'constant':
        return np.where(inside, 1.0, 0.0)
    tau = np.maximum(t - f.start, 0.0)
    if pattern == 'ramp':
        return np.where(inside, np.minimum(tau / f.over, 1.0), 0.0)
    if pattern == 'sine':
        return np.where(inside, (1.0 - np.cos(2.0 * math.pi * f.frequency * tau + f.phase))
                        / 2.0, 0.0)
    toggles = run.toggles
    limit = tau + EPSILON
    for i in np.flatnonzero(inside & (toggles.next <= limit)):
        count, at, bound = int(toggles.count[i]), float(toggles.next[i]), float(limit[i])
        while at <= bound:
            count += 1
            at = at + _duration(f, count, lambda: run.rng(i))
        toggles.count[i], toggles.next[i] = count, at
    return np.where(inside & (toggles.count % 2 == 1), 1.0, 0.0)
