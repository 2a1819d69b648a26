"""
The fault kinds: what each may target and take, and what it does to one plant and to N lanes.

Each kind is one class holding its spec (targets, keys, patterns), its
scalar evaluation (the single plant, plain floats: the hot path) and its
lanes evaluation (``(N,)`` arrays, the same arithmetic in the same order),
side by side.  :data:`KINDS` is the registry the spec parser, the plant's
:class:`~.fault_set.FaultSet` and the batch's :class:`~.lanes.FaultLanes`
look kinds up in; a new kind is a class here, registered, with its line in
docs/faults.md.

``a`` is the fault's level (:mod:`.patterns`), ``on`` the ``(N,)`` mask of
the lanes where it is above 0; ``run`` the fault's running state (its
stream, and what it remembers: one plant's, or N lanes').
"""

from dataclasses import fields
import math
from numbers import Real

import numpy as np

from .patterns import EPSILON, ON_OFF, PATTERNS
from ..sensors import CHANNELS
from ...physics.dynamics import DIPParams

MOTOR = 'motor'
PARAMETERS = tuple(f.name for f in fields(DIPParams))
NONFINITE = {'nan': math.nan, 'inf': math.inf, '-inf': -math.inf}
# Bounds that keep one period's work bounded and every number representable
# whatever a spec asks for (docs/limits.md): spikes per second (at most
# MAX_RATE * dt arrivals drawn in a period), and the size of a value, a spike,
# a noise std or an overload limit [N, m, rad, ... of its target].
MAX_RATE = 1000.0
MAX_MAGNITUDE = 1e6


class FaultError(ValueError):
    """A fault spec that makes no sense (the message names the key)."""


def number(key, value, low=-MAX_MAGNITUDE, open_low=False, high=MAX_MAGNITUDE):
    """Return ``value`` as a float in ``[low, high]`` (or ``(low, high]``); FaultError if not."""
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
        raise FaultError(f'{key}: must be a finite number, got {value!r}')
    value = float(value)
    if value < low or (open_low and value == low):
        raise FaultError(f'{key}: must be {">" if open_low else ">="} {low:g}, got {value!r}')
    if value > high:
        raise FaultError(f'{key}: must be <= {high:g}, got {value!r}')
    return value


class Kind:
    """A kind of fault (the base: no targets, no effect)."""

    name = ''
    targets = ()
    needs = ()            # keys it must have
    may = ()              # keys it may have
    patterns = PATTERNS
    draws = False         # draws from the fault's stream itself (beside its pattern)
    commits = False       # keeps a clock across periods (commit at each period's end)

    def check_value(self, target, value):
        """Return the spec's ``value`` checked (FaultError names the key)."""
        return number('value', value)


# -- the motor: the force on the cart ---------------------------------------------------
class MotorKind(Kind):
    """A fault of the motor: a map from the force after the actuator to the force on the cart."""

    targets = (MOTOR,)

    def begin(self, run, a, last_force):
        """Take the period's level ``a`` (scalar); ``last_force``: the period before's."""

    def force(self, u, a, fault, run, faults):
        """Return what reaches the cart of force ``u`` (scalar)."""
        return u

    def begin_lanes(self, run, on, live, last_force):
        """Take the period's levels in lanes (``on``: above 0, ``live``: stepping)."""

    def force_lanes(self, u, on, a, fault, run, faults):
        """Return what reaches the cart of the ``(N,)`` forces ``u``."""
        return u


class Bias(MotorKind):
    """``F = u + a * value``."""

    name = 'bias'
    needs = ('value',)

    def force(self, u, a, fault, run, faults):
        return u + a * fault.value

    def force_lanes(self, u, on, a, fault, run, faults):
        return np.where(on, u + a * fault.value, u)


class Gain(MotorKind):
    """The motor: ``F = u * (1 + a * (value - 1))``; a channel: the same gain error on ``v``."""

    name = 'gain'
    targets = (MOTOR,) + CHANNELS
    needs = ('value',)

    def check_value(self, target, value):
        value = number('value', value)
        if target == MOTOR and not 0.0 <= value <= 1.0:
            raise FaultError(f'value: a motor gain is the fraction of the commanded force '
                             f'that reaches the cart, in [0, 1], got {value!r}')
        return value

    def force(self, u, a, fault, run, faults):
        return u * (1.0 + a * (fault.value - 1.0))

    def force_lanes(self, u, on, a, fault, run, faults):
        return np.where(on, u * (1.0 + a * (fault.value - 1.0)), u)

    def read(self, v, a, fault, run, prev, key, t, dt):
        return v * (1.0 + a * (fault.value - 1.0))

    def read_lanes(self, v, on, a, fault, run, prev, t, dt):
        return np.where(on, v * (1.0 + a * (fault.value - 1.0)), v)


class Stuck(MotorKind):
    """``F`` = the force on the cart in the period before the fault came on."""

    name = 'stuck'
    patterns = ON_OFF

    def begin(self, run, a, last_force):
        if a <= 0.0:
            run.stuck = None
        elif run.stuck is None:
            run.stuck = last_force

    def force(self, u, a, fault, run, faults):
        return run.stuck

    def begin_lanes(self, run, on, live, last_force):
        run.stuck = np.where(on & ~run.stuck_set, last_force, run.stuck)
        run.stuck_set = np.where(live, on, run.stuck_set)

    def force_lanes(self, u, on, a, fault, run, faults):
        return np.where(on, run.stuck, u)


class Loss(MotorKind):
    """``F = 0`` while on."""

    name = 'loss'
    patterns = ON_OFF

    def force(self, u, a, fault, run, faults):
        return 0.0

    def force_lanes(self, u, on, a, fault, run, faults):
        return np.where(on, 0.0, u)


class Reversed(MotorKind):
    """``F = -u`` while on."""

    name = 'reversed'
    patterns = ON_OFF

    def force(self, u, a, fault, run, faults):
        return -u

    def force_lanes(self, u, on, a, fault, run, faults):
        return np.where(on, -u, u)


class Overload(MotorKind):
    """
    The motor cuts out for ``cooldown`` s once ``|u| > limit`` held for ``hold`` s.

    What enters the overload is watched (the fault set's ``input``: the last
    overload's, as the map runs); its clock advances at each period's end.
    """

    name = 'overload'
    needs = ('limit',)
    may = ('hold', 'cooldown')
    patterns = ON_OFF
    commits = True
    DEFAULTS = {'hold': 1.0, 'cooldown': 2.0}

    def begin(self, run, a, last_force):
        if a <= 0.0:
            run.over, run.cut_since = 0.0, None

    def force(self, u, a, fault, run, faults):
        faults.input = u
        return 0.0 if run.cut_since is not None else u

    def commit(self, run, t, dt, faults):
        """End a period in which the fault was on, at ``t``; return its events."""
        f = run.fault
        if run.cut_since is not None:
            if t - run.cut_since >= f.cooldown - EPSILON:
                run.cut_since, run.over = None, 0.0
                return [(t, 'overload_recover', f'{f.describe()}: the motor is back after '
                         f'{f.cooldown:g} s')]
            return []
        run.over = run.over + dt if abs(faults.input) > f.limit else 0.0
        if run.over >= f.hold - EPSILON and abs(faults.input) > f.limit:
            run.cut_since = t
            return [(t, 'overload_trip', f'{f.describe()}: |F| > {f.limit:g} N for '
                     f'{run.over:g} s, the motor cuts out')]
        return []

    def begin_lanes(self, run, on, live, last_force):
        off = live & ~on
        run.over = np.where(off, 0.0, run.over)
        run.cut_since = np.where(off, math.nan, run.cut_since)

    def force_lanes(self, u, on, a, fault, run, faults):
        faults.input = np.where(on, u, faults.input)
        return np.where(on & ~np.isnan(run.cut_since), 0.0, u)

    def commit_lanes(self, run, t, dt, on, faults):
        """End a period at the ``(N,)`` times ``t`` in the lanes ``on`` (the fault was on)."""
        f = run.fault
        cut = on & ~np.isnan(run.cut_since)
        back = cut & (t - run.cut_since >= f.cooldown - EPSILON)
        run.cut_since = np.where(back, math.nan, run.cut_since)
        run.over = np.where(back, 0.0, run.over)
        clock = on & ~cut
        above = np.abs(faults.input) > f.limit
        run.over = np.where(clock, np.where(above, run.over + dt, 0.0), run.over)
        trip = clock & (run.over >= f.hold - EPSILON) & above
        run.cut_since = np.where(trip, t, run.cut_since)


# -- a sensor channel --------------------------------------------------------------------
class SensorKind(Kind):
    """A fault of a sensor channel: a map from the channel's value to what is read."""

    targets = CHANNELS
    patterns = ON_OFF

    def read(self, v, a, fault, run, prev, key, t, dt):
        """
        Return what is read of value ``v`` at time ``t`` (scalar).

        ``prev``: the channel's output at the sample before (None at the
        first); ``key`` names the sample (measured again, the same result).
        """
        return v

    def read_lanes(self, v, on, a, fault, run, prev, t, dt):
        """
        Return what is read of the ``(N,)`` values ``v``.

        ``prev``: ``(outputs, mask)``, the channel's outputs at the sample
        before and the mask of the lanes that had one this episode.
        """
        return v


class Jump(SensorKind):
    """``v + value`` while on: an encoder that skipped counts."""

    name = 'jump'
    needs = ('value',)

    def read(self, v, a, fault, run, prev, key, t, dt):
        return v + fault.value

    def read_lanes(self, v, on, a, fault, run, prev, t, dt):
        return np.where(on, v + fault.value, v)


class Spikes(SensorKind):
    """``+/- size`` for each arrival of a Poisson process of ``rate`` in ``(t - dt, t]``."""

    name = 'spikes'
    needs = ('rate', 'size')
    draws = True

    @staticmethod
    def _arrive(arrivals, fault, rng, tau):
        """Draw arrivals (time into the fault, signed size) until one is past ``tau``."""
        while not arrivals or arrivals[-1][0] <= tau + EPSILON:
            last = arrivals[-1][0] if arrivals else 0.0
            gap = rng.expovariate(fault.rate)
            sign = 1.0 if rng.random() < 0.5 else -1.0
            arrivals.append((last + gap, sign * fault.size))

    @staticmethod
    def _sum(arrivals, low, high):
        total = 0.0
        for at, size in arrivals:
            if at > high:
                break
            if at > low:
                total += size
        return total

    def read(self, v, a, fault, run, prev, key, t, dt):
        tau = t - fault.start
        arrivals = run.arrivals
        self._arrive(arrivals, fault, run.rng, tau)
        low = tau - dt + EPSILON
        # Arrivals before this sample's window are never asked for again.
        keep = next((k for k, (at, _) in enumerate(arrivals) if at > low), len(arrivals))
        del arrivals[:keep]
        return v + self._sum(arrivals, low, tau + EPSILON)

    def read_lanes(self, v, on, a, fault, run, prev, t, dt):
        tau = t - fault.start
        # Only a lane with an arrival not yet past (or none drawn ahead) has work.
        out = v.copy()
        for i in np.flatnonzero(on & (run.first_arrival <= tau + EPSILON)):
            arrivals = run.arrivals[i]
            self._arrive(arrivals, fault, run.rng(i), float(tau[i]))
            low = float(tau[i]) - dt + EPSILON
            keep = next((k for k, (at, _) in enumerate(arrivals) if at > low), len(arrivals))
            del arrivals[:keep]
            out[i] = out[i] + self._sum(arrivals, low, float(tau[i]) + EPSILON)
            run.first_arrival[i] = arrivals[0][0]
        return out


class Noise(SensorKind):
    """``v + a * std * w``, ``w`` a standard normal drawn per sample from the fault's stream."""

    name = 'noise'
    needs = ('std',)
    patterns = PATTERNS
    draws = True

    def read(self, v, a, fault, run, prev, key, t, dt):
        if run.drawn is None or run.drawn[0] != key:
            run.drawn = (key, run.rng.gauss(0.0, 1.0))
        return v + a * fault.std * run.drawn[1]

    def read_lanes(self, v, on, a, fault, run, prev, t, dt):
        lanes = np.flatnonzero(on)
        w = np.zeros(len(v))
        for i in lanes:
            w[i] = run.rng(i).gauss(0.0, 1.0)
        return np.where(on, v + a * fault.std * w, v)


class Nonfinite(SensorKind):
    """The channel reads ``nan`` (or ``inf``, ``-inf``) while on."""

    name = 'nonfinite'
    may = ('value',)

    def check_value(self, target, value):
        if value not in NONFINITE:
            raise FaultError(f'value: a nonfinite channel reads one of {list(NONFINITE)}, '
                             f'got {value!r}')
        return value

    def read(self, v, a, fault, run, prev, key, t, dt):
        return NONFINITE[fault.value or 'nan']

    def read_lanes(self, v, on, a, fault, run, prev, t, dt):
        return np.where(on, NONFINITE[fault.value or 'nan'], v)


class Freeze(SensorKind):
    """The channel repeats its output of the sample before, while on."""

    name = 'freeze'

    def read(self, v, a, fault, run, prev, key, t, dt):
        return v if prev is None else prev

    def read_lanes(self, v, on, a, fault, run, prev, t, dt):
        values, has = prev
        return np.where(on & has, values, v)


# -- a physical parameter ---------------------------------------------------------------
class Drift(Kind):
    """The parameter is ``p0 + a * (value - p0)``, taken at period boundaries."""

    name = 'drift'
    targets = PARAMETERS
    needs = ('value',)

    def check_value(self, target, value):
        value = number('value', value)
        try:
            DIPParams(**{target: value})
        except ValueError as exc:
            raise FaultError(f'value: {exc}') from None
        return value

    def drift(self, base, a, fault):
        """Return the parameter drifted from ``base`` at level ``a`` (scalar)."""
        return base + a * (fault.value - base)

    def drift_lanes(self, base, on, a, fault):
        """Return the ``(N,)`` parameters drifted from ``base`` where ``on``."""
        return np.where(on, base + a * (fault.value - base), base)


KINDS = {kind.name: kind for kind in (
    Bias(), Gain(), Stuck(), Loss(), Reversed(), Overload(), Jump(), Spikes(), Noise(),
    Nonfinite(), Freeze(), Drift())}


def acts_on(fault):
    """Return what the fault acts on: ``'motor'``, ``'sensor'`` or ``'parameter'``."""
    if fault.target == MOTOR:
        return 'motor'
    return 'parameter' if fault.target in PARAMETERS else 'sensor'
