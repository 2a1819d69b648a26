"""
The safety supervisor: the limits that halt the plant, and the emergency stop.

A halted plant stops stepping and waits for a reset (ERROR ``HALTED`` on the
legacy doors).  Every limit is off (infinite) unless set; the plant always
sets the track (its ``track_limit`` setting, or the scenario's): the rail
has an end.
"""

from dataclasses import dataclass, fields
import math

import numpy as np

from ..physics.state import wrap_angle

# What each limit is called where a halt is counted (SafetyLanes.check's codes 1..4).
LIMITS = ('track', 'fall', 'cart_speed', 'joint_rate')


@dataclass(frozen=True)
class SafetyLimits:
    """Limits on the true state; beyond any of them the plant halts."""

    track_limit: float = math.inf     # |x| [m]
    fall_angle: float = math.inf      # |theta1|, |theta2| [rad], wrapped to (-pi, pi]
    max_cart_speed: float = math.inf  # |xdot| [m/s]
    max_joint_rate: float = math.inf  # |theta1dot|, |theta2dot| [rad/s]

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or \
                    math.isnan(value) or value <= 0.0:
                raise ValueError(f'safety.{f.name} must be a number > 0 (inf = off), '
                                 f'got {value!r}')

    @classmethod
    def from_dict(cls, values, prefix='safety'):
        """Build from a mapping (a scenario's ``safety`` section); unknown keys are refused."""
        known = {f.name for f in fields(cls)}
        for key in values:
            if key not in known:
                raise ValueError(f'{prefix}.{key} is not a safety limit (one of {sorted(known)})')
        return cls(**{k: float(v) for k, v in values.items()})

    def check(self, state, t):
        """Return why a finite ``state`` (at episode time ``t``) must halt the plant, or None."""
        x, th1, th2, v, w1, w2 = state
        if abs(x) > self.track_limit:
            return (f'cart left the track at t={t:.3f} s (x={x:.3f} m, limit '
                    f'+/-{self.track_limit:g} m)')
        fall = self.fall_angle         # judged on the wrapped angle (no cost within it)
        if abs(th1) > fall and abs(wrap_angle(th1)) > fall or \
                abs(th2) > fall and abs(wrap_angle(th2)) > fall:
            return (f'pendulum fell at t={t:.3f} s (theta1={th1:.3f}, theta2={th2:.3f} rad, '
                    f'limit +/-{self.fall_angle:g} rad)')
        if abs(v) > self.max_cart_speed:
            return (f'cart too fast at t={t:.3f} s (xdot={v:.3f} m/s, limit '
                    f'{self.max_cart_speed:g} m/s)')
        if abs(w1) > self.max_joint_rate or abs(w2) > self.max_joint_rate:
            return (f'joint rate too high at t={t:.3f} s (theta1dot={w1:.3f}, '
                    f'theta2dot={w2:.3f} rad/s, limit {self.max_joint_rate:g} rad/s)')
        return None


class SafetyLanes:
    """The SafetyLimits of N lanes (a track limit per lane), checked in their order."""

    def __init__(self, limits, track_limit):
        self.limits = limits
        self.track_limit = track_limit            # (N,)
        self.track_only = math.isinf(limits.fall_angle) and \
            math.isinf(limits.max_cart_speed) and math.isinf(limits.max_joint_rate)

    def check(self, columns):
        """Return per lane 0 (within) or 1 + the index in :data:`LIMITS` of the first crossed."""
        x, t1, t2, v, w1, w2 = columns
        code = np.where(np.abs(x) > self.track_limit, 1, 0)
        if self.track_only:
            return code
        lim = self.limits
        code = np.where((code == 0) & ((np.abs(wrap_angle(t1)) > lim.fall_angle)
                                       | (np.abs(wrap_angle(t2)) > lim.fall_angle)), 2, code)
        code = np.where((code == 0) & (np.abs(v) > lim.max_cart_speed), 3, code)
        code = np.where((code == 0) & ((np.abs(w1) > lim.max_joint_rate)
                                       | (np.abs(w2) > lim.max_joint_rate)), 4, code)
        return code

    def reason(self, i, state, t):
        """Return lane ``i``'s halt reason for its ``state`` at ``t``, in the plant's words."""
        limits = self.limits
        track = float(self.track_limit[i])
        if track != limits.track_limit:
            limits = type(limits)(track, limits.fall_angle, limits.max_cart_speed,
                                  limits.max_joint_rate)
        return limits.check(state, t)
