"""
The motor between the commanded force and the force the plant feels (no ROS).

A command goes through, in this order, once per control period:

1. a transport delay of ``delay`` whole periods (the command of ``delay``
   periods ago; 0 before there was one),
2. the static shape: saturation at +/-``max_force``, then a deadband
   (``|u| < deadband`` gives 0, anything else passes unchanged),
3. a first-order lag with time constant ``time_constant`` (T), discretised
   exactly for an input held over the period:
   ``F += (1 - exp(-dt/T)) * (target - F)``; T = 0 gives ``F = target``,
4. a slew-rate limit: ``|F - F_prev| <= slew_rate * dt``.

The lag and the slew limit share one state, the force itself: the lag
proposes the next force from the current one and the slew limit clips the
change (a rate-limited first-order motor, nothing winds up behind it).  The
force returned by :meth:`ActuatorModel.step` is held over the whole period;
with a lag it is the value the lag reaches at the end of the period, i.e.
at the sample instant that closes it, so a unit step commanded at t = 0
gives ``1 - exp(-t/T)`` at every sample instant t = dt, 2 dt, ...

Plain floats only: this runs once per period on the hot path.
"""

import math
from numbers import Integral

import numpy as np

# The longest delay line [periods] (the plant node's actuator.delay range).
MAX_DELAY = 1000


def _non_negative(name, value, finite=True):
    value = float(value)
    if math.isnan(value) or value < 0.0 or (finite and math.isinf(value)):
        kind = 'finite and >= 0' if finite else '>= 0'
        raise ValueError(f'{name} must be {kind}, got {value!r}')
    return value


class ActuatorModel:
    """
    Commanded force in, force on the cart out, one call per control period.

    ``max_force`` (no limit unless given: the plant passes its setting) is
    a plain attribute that :meth:`shape` reads on every call, so it may be
    changed between periods.  ``output`` is the force
    returned by the last :meth:`step` (0 after :meth:`reset`).
    """

    def __init__(self, dt, max_force=math.inf, deadband=0.0, slew_rate=math.inf,
                 time_constant=0.0, delay=0):
        dt = float(dt)
        if not (math.isfinite(dt) and dt > 0.0):
            raise ValueError(f'dt must be finite and > 0, got {dt!r}')
        self.dt = dt
        self.max_force = _non_negative('max_force', max_force, finite=False)
        self.deadband = _non_negative('deadband', deadband)
        if self.deadband > self.max_force:
            raise ValueError(f'deadband ({self.deadband:g} N) must not exceed max_force '
                             f'({self.max_force:g} N): every force would be zeroed')
        slew_rate = float(slew_rate)
        if math.isnan(slew_rate) or slew_rate <= 0.0:
            raise ValueError(f'slew_rate must be > 0 (inf: unlimited), got {slew_rate!r}')
        self.slew_rate = slew_rate
        self.time_constant = _non_negative('time_constant', time_constant)
        if isinstance(delay, bool) or not isinstance(delay, Integral) or \
                not 0 <= delay <= MAX_DELAY:
            raise ValueError(f'delay must be an int in [0, {MAX_DELAY}] (whole periods), '
                             f'got {delay!r}')
        self.delay = int(delay)
        # Per-period constants: the lag's factor and the largest change (None: off).
        self.alpha = (-math.expm1(-dt / self.time_constant)
                      if self.time_constant > 0.0 else None)
        self.max_change = slew_rate * dt if math.isfinite(slew_rate) else None
        self.reset()

    @property
    def dynamic(self):
        """
        Tell whether the actuator has memory (slew limit, lag or delay).

        A dynamic actuator's output changes only at period boundaries (in
        :meth:`step`); a static one is just :meth:`shape` and may be applied
        whenever a command arrives.
        """
        return self.alpha is not None or self.max_change is not None or self.delay > 0

    def shape(self, u):
        """Return ``u`` saturated at +/-max_force, then through the deadband."""
        limit = self.max_force
        u = min(max(u, -limit), limit)
        return 0.0 if abs(u) < self.deadband else u

    def reset(self):
        """Start a new episode: output 0, the delay line full of zeros."""
        self.output = 0.0
        self._line = [0.0] * self.delay
        self._head = 0

    def step(self, u):
        """
        Take the latest command at the start of a period; return the force held over it.

        Delay, then shape, then lag, then slew limit (see the module notes).
        Raises ValueError for a non-finite command, which would otherwise
        stay in the delay line and the lag state.
        """
        u = float(u)
        if not math.isfinite(u):
            raise ValueError(f'control force is not finite: {u}')
        if self.delay:
            line, i = self._line, self._head
            u, line[i] = line[i], u
            i += 1
            self._head = 0 if i == self.delay else i
        limit = self.max_force
        target = min(max(u, -limit), limit)
        if abs(target) < self.deadband:
            target = 0.0
        force = self.output
        alpha = self.alpha
        new = target if alpha is None else force + alpha * (target - force)
        max_change = self.max_change
        if max_change is not None:
            change = new - force
            if change > max_change:
                new = force + max_change
            elif change < -max_change:
                new = force - max_change
        self.output = new
        return new


class ActuatorLanes:
    """
    An ActuatorModel in N lanes: saturation (a limit per lane), deadband, lag, slew, delay.

    As Plant.set_control then ActuatorModel.step, per lane: the command is
    shaped on arrival, and a motor with memory takes the shaped command at
    the period boundary.
    """

    def __init__(self, model, n, max_force):
        self.deadband = model.deadband
        self.alpha = model.alpha
        self.max_change = model.max_change
        self.delay = model.delay
        self.dynamic = model.dynamic
        self.max_force = max_force            # (N,)
        self.output = np.zeros(n)
        self._line = np.zeros((self.delay, n))
        self._head = 0

    def reset(self, lanes):
        """Output 0 and the delay line emptied, in ``lanes`` (a boolean mask)."""
        self.output[lanes] = 0.0
        self._line[:, lanes] = 0.0

    def _shape(self, u):
        limit = self.max_force
        u = np.minimum(np.maximum(u, -limit), limit)
        if self.deadband:
            u = np.where(np.abs(u) < self.deadband, 0.0, u)
        return u

    def apply(self, u, lanes):
        """Return the force each lane feels over this period for command ``u``."""
        u = self._shape(u)
        if not self.dynamic:
            return u
        if self.delay:
            line = self._line
            u, line[self._head] = line[self._head].copy(), u
            self._head = (self._head + 1) % self.delay
        target = self._shape(u)
        force = self.output
        new = target if self.alpha is None else force + self.alpha * (target - force)
        if self.max_change is not None:
            change = new - force
            new = np.where(change > self.max_change, force + self.max_change,
                           np.where(change < -self.max_change, force - self.max_change, new))
        self.output = np.where(lanes, new, force)
        return new
