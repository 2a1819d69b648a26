"""
The plant's sensors: noise, bias, drift, quantisation, dropout, stuck, delay (no ROS).

A :class:`SensorModel` turns the true state into what the controller sees,
one sample per control period.  Each of the six channels (:data:`CHANNELS`)
has a :class:`ChannelSpec`; per sample and per channel the pipeline is::

    v = true value
    v = v + bias
    v = v + drift          drift += gauss(0, drift_std * sqrt(dt)) first
    v = v + gauss(0, noise_std)
    v = round(v / quantum) * quantum
    dropout: with probability p, v = this channel's previous output
    stuck:   from t >= stuck_from on, v = this channel's previous output

A stage that is off (zero, or ``stuck_from`` None) is skipped entirely: no
arithmetic and no random draw.  The first sample of an episode is never
dropped, and a channel stuck from its first sample holds that sample.
With ``velocities='derived'`` the velocity channels are not measured at all:
``x_dot``, ``theta1_dot`` and ``theta2_dot`` are ``(p[n] - p[n-1]) / dt`` of
the measured positions ``p`` (after every stage above), 0 at the first
sample of an episode.  Last, a delay line over the whole 6-vector: the
output at sample ``n`` is the vector of sample ``n - delay`` (the first
vector of the episode until ``delay`` samples exist).

Random draws, all from the one ``random.Random`` passed in, in a fixed
order per sample: channel by channel in :data:`CHANNELS` order (positions
only when velocities are derived), and within a channel drift
(``gauss``), noise (``gauss``), dropout (``random``), each only when that
feature is on.  The number of draws per sample depends on the
configuration only, never on the time or the values (a dropout draw is
made on the first sample and while stuck too), so a seed reproduces a run
and a delay or a stuck channel does not shift the other channels' draws.

The model keeps state (drift, held values, delay line): call
:meth:`SensorModel.measure` exactly once per sample and
:meth:`SensorModel.reset` at the start of every episode.
"""

from collections import deque
from dataclasses import dataclass, fields
import math
from math import cos as _cos, log as _log, sin as _sin, sqrt as _sqrt
import operator
import random

import numpy as np

CHANNELS = ('x', 'theta1', 'theta2', 'x_dot', 'theta1_dot', 'theta2_dot')
VELOCITIES = (3, 4, 5)
VELOCITY_MODES = ('measured', 'derived')
# The longest delay line [samples] (the plant node's sensor.delay range).
MAX_DELAY = 1000

# The bounds of a channel's numbers (docs/limits.md): far beyond any sensor, and
# such that a quantised reading of a state within physics/state.py's limits stays
# a number (round(inf) raises).
MAX_MAGNITUDE = 1e6          # |bias|, noise_std, drift_std, quantum [SI]
MIN_QUANTUM = 1e-9           # a quantum is 0 (none) or at least this
MAX_TIME = 1e9               # s: stuck_from

# Episode times within this of stuck_from count as reached, so that a
# stuck_from on the sample grid is hit by ``steps * dt`` despite rounding.
_TIME_TOLERANCE = 1e-9


def _number(name, value):
    """Return ``value`` as a finite float, or raise ValueError naming the field."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f'ChannelSpec.{name} must be a number, got {value!r}') from None
    if not math.isfinite(value):
        raise ValueError(f'ChannelSpec.{name} must be finite, got {value!r}')
    return value


@dataclass(frozen=True)
class ChannelSpec:
    """
    What one sensor channel does to its true value (SI units of the channel).

    ``noise_std``: Gaussian white noise sigma.  ``bias``: constant offset.
    ``drift_std``: random-walk offset whose std grows as
    ``drift_std * sqrt(seconds)``.  ``quantum``: quantisation step (encoder
    resolution), 0 for none.  ``dropout``: probability in [0, 1] that a
    sample is lost and the previous output held.  ``stuck_from``: episode
    time [s] from which the channel holds its last output, None for never.
    """

    noise_std: float = 0.0
    bias: float = 0.0
    drift_std: float = 0.0
    quantum: float = 0.0
    dropout: float = 0.0
    stuck_from: float | None = None

    def __post_init__(self):
        """Refuse nonsense, naming the field; store every number as a float."""
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == 'stuck_from' and value is None:
                continue
            value = _number(f.name, value)
            if f.name in ('noise_std', 'drift_std', 'quantum', 'stuck_from') and value < 0.0:
                raise ValueError(f'ChannelSpec.{f.name} must be >= 0, got {value!r}')
            if f.name == 'dropout' and not 0.0 <= value <= 1.0:
                raise ValueError(f'ChannelSpec.dropout must be in [0, 1], got {value!r}')
            bound = MAX_TIME if f.name == 'stuck_from' else MAX_MAGNITUDE
            if abs(value) > bound:
                raise ValueError(f'ChannelSpec.{f.name} must be within +/-{bound:g}, '
                                 f'got {value!r}')
            if f.name == 'quantum' and 0.0 < value < MIN_QUANTUM:
                raise ValueError(f'ChannelSpec.quantum must be 0 (none) or >= '
                                 f'{MIN_QUANTUM:g}, got {value!r}')
            object.__setattr__(self, f.name, value)

    @property
    def ideal(self):
        """Tell whether the channel passes its true value through untouched."""
        return self == _IDEAL

    @property
    def noise_only(self):
        """Tell whether the channel adds white noise and nothing else."""
        return self.noise_std > 0.0 and self == ChannelSpec(noise_std=self.noise_std)


_IDEAL = ChannelSpec()


class SensorModel:
    """
    Six sensor channels sampled every ``dt`` seconds (see the module docstring).

    ``channels``: six :class:`ChannelSpec` in :data:`CHANNELS` order, or one
    for all six.  ``rng``: the ``random.Random`` to draw from.  ``delay``:
    samples of measurement delay (int >= 0).  ``velocities``: ``'measured'``
    (the velocity channels measured like the others) or ``'derived'``
    (finite differences of the measured positions; then the velocity specs
    must be ideal, unless one spec was given for all six).

    :meth:`measure` is replaced per instance by a fast path when the
    configuration allows (ideal: the state itself; white noise only: one
    expression); the general path gives the same numbers for those.
    """

    def __init__(self, dt, channels, rng, delay=0, velocities='measured'):
        dt = float(dt)
        if not (math.isfinite(dt) and dt > 0.0):
            raise ValueError(f'dt must be a finite number > 0, got {dt!r}')
        if isinstance(channels, ChannelSpec):
            specs = (channels,) * len(CHANNELS)
            shared = True
        else:
            specs = tuple(channels)
            shared = False
            if len(specs) != len(CHANNELS):
                raise ValueError(f'channels must be one ChannelSpec or {len(CHANNELS)} '
                                 f'({", ".join(CHANNELS)}), got {len(specs)}')
            for name, spec in zip(CHANNELS, specs):
                if not isinstance(spec, ChannelSpec):
                    raise TypeError(f'channel {name}: expected a ChannelSpec, got {spec!r}')
        try:
            k = operator.index(delay)
        except TypeError:
            k = -1
        if isinstance(delay, bool) or not 0 <= k <= MAX_DELAY:
            raise ValueError(f'delay must be an integer number of samples in [0, {MAX_DELAY}], '
                             f'got {delay!r}')
        if velocities not in VELOCITY_MODES:
            raise ValueError(f'velocities must be one of {VELOCITY_MODES}, got {velocities!r}')
        derived = velocities == 'derived'
        if derived and shared:
            specs = specs[:3] + (_IDEAL,) * 3
        if derived:
            for i in VELOCITIES:
                if not specs[i].ideal:
                    raise ValueError(f'channel {CHANNELS[i]}: velocities are derived from the '
                                     f'positions, its ChannelSpec must be empty, got {specs[i]}')
        self.dt = dt
        self.channels = specs
        self.delay = k
        self.velocities = velocities
        self._rng = rng
        self._derived = derived
        root_dt = math.sqrt(dt)
        # Per active channel: (index, bias, drift step sigma, noise sigma,
        # quantum, dropout, stuck threshold or None), in draw order.
        self._plan = tuple(
            (i, s.bias, s.drift_std * root_dt, s.noise_std, s.quantum, s.dropout,
             None if s.stuck_from is None else s.stuck_from - _TIME_TOLERANCE)
            for i, s in enumerate(specs) if not s.ideal)
        self._drift = [0.0] * len(CHANNELS)
        self._prev = None
        self._line = deque(maxlen=self.delay + 1)
        plain = self.delay == 0 and not derived
        if plain and all(s.ideal for s in specs):
            self.measure = self._measure_ideal
        elif plain and all(s.noise_only for s in specs):
            self._sigmas = tuple(s.noise_std for s in specs)
            self.measure = self._measure_noise

    @classmethod
    def simple(cls, dt, noise_std, rng):
        """Return today's model: the same white noise sigma on all six channels."""
        return cls(dt, ChannelSpec(noise_std=noise_std), rng)

    @property
    def ideal(self):
        """Tell whether :meth:`measure` returns the state untouched."""
        return self.delay == 0 and not self._derived and not self._plan

    @property
    def drift(self):
        """Return the current drift offset of each channel (a 6-tuple)."""
        return tuple(self._drift)

    def reset(self):
        """Start a new episode: drift back to 0, held values and delay line emptied."""
        self._drift = [0.0] * len(CHANNELS)
        self._prev = None
        self._line.clear()

    def measure_recorded(self, state, t):
        """
        Measure like :meth:`measure`, keeping what :meth:`measure_again` needs.

        Real time computes a sample ahead and again when a control arrives in
        its period: the sample's draws and the model's memory (drift, held
        values, delay line) must advance once per sample, not once per
        computation.  Keeping this sample's draws is far cheaper than saving
        the generator's whole state.
        """
        self._memory = (tuple(self._drift), self._prev, tuple(self._line))
        rng, recorder = self._rng, _Recorder(self._rng)
        self._rng = recorder
        try:
            return self.measure(state, t)
        finally:
            self._rng = rng
            self._draws = recorder.values

    def measure_again(self, state, t):
        """Measure the sample of the last :meth:`measure_recorded` anew, for another state."""
        drift, prev, line = self._memory
        self._drift = list(drift)
        self._prev = prev
        self._line.clear()
        self._line.extend(line)
        rng = self._rng
        self._rng = _Replay(self._draws)
        try:
            return self.measure(state, t)
        finally:
            self._rng = rng

    def _measure_ideal(self, state, t):
        return state

    def _measure_noise(self, state, t):
        # Exactly ``tuple(s + gauss(0.0, std) for s in state)`` (same draws,
        # same order, same arithmetic), unrolled: about half the cost.
        rng = self._rng
        if type(rng) is random.Random and rng.gauss_next is None:
            # random.Random.gauss's own arithmetic, inline (its pairs: 3 pairs
            # for 6 draws, nothing left over): six calls fewer per sample.
            # test/test_sensors.py compares it with gauss itself.
            r = rng.random
            s0, s1, s2, s3, s4, s5 = state
            n0, n1, n2, n3, n4, n5 = self._sigmas
            x = r() * _TWOPI
            g = _sqrt(-2.0 * _log(1.0 - r()))
            z0, z1 = _cos(x) * g, _sin(x) * g
            x = r() * _TWOPI
            g = _sqrt(-2.0 * _log(1.0 - r()))
            z2, z3 = _cos(x) * g, _sin(x) * g
            x = r() * _TWOPI
            g = _sqrt(-2.0 * _log(1.0 - r()))
            z4, z5 = _cos(x) * g, _sin(x) * g
            return (s0 + (0.0 + z0 * n0), s1 + (0.0 + z1 * n1), s2 + (0.0 + z2 * n2),
                    s3 + (0.0 + z3 * n3), s4 + (0.0 + z4 * n4), s5 + (0.0 + z5 * n5))
        g = rng.gauss
        s0, s1, s2, s3, s4, s5 = state
        n0, n1, n2, n3, n4, n5 = self._sigmas
        return (s0 + g(0.0, n0), s1 + g(0.0, n1), s2 + g(0.0, n2),
                s3 + g(0.0, n3), s4 + g(0.0, n4), s5 + g(0.0, n5))

    def measure(self, state, t):
        """
        Return what the sensors read for the true ``state`` at episode time ``t``.

        ``state``: six floats in :data:`CHANNELS` order; ``t``: episode time
        [s] (only ``stuck_from`` looks at it).  Returns a 6-tuple.
        """
        prev = self._prev
        first = prev is None
        out = list(state)
        drift = self._drift
        rng = self._rng
        gauss = rng.gauss
        chance = rng.random
        for i, bias, step, sigma, quantum, dropout, stuck in self._plan:
            v = out[i]
            if bias:
                v += bias
            if step:
                d = drift[i] + gauss(0.0, step)
                drift[i] = d
                v += d
            if sigma:
                v += gauss(0.0, sigma)
            if quantum:
                v = round(v / quantum) * quantum
            if dropout and chance() < dropout and not first:
                v = prev[i]
            if stuck is not None and t >= stuck and not first:
                v = prev[i]
            out[i] = v
        if self._derived:
            if first:
                out[3] = out[4] = out[5] = 0.0
            else:
                dt = self.dt
                out[3] = (out[0] - prev[0]) / dt
                out[4] = (out[1] - prev[1]) / dt
                out[5] = (out[2] - prev[2]) / dt
        self._prev = out
        result = tuple(out)
        if not self.delay:
            return result
        line = self._line
        if first:
            line.extend((result,) * self.delay)
        line.append(result)
        return line[0]


class SensorLanes:
    """
    A SensorModel in N lanes: bias, drift, white noise and quantisation per channel, in its order.

    The stages that hold a sample (dropout, stuck, delay) and derived
    velocities have no lanes form yet: :meth:`refusal` names them, and the
    batch refuses a scenario that sets one.  The normals come from the
    batch's draws (``normals('sensor', k, lanes)``: one row per drift and
    noise draw, channel by channel, drift before noise, as the SensorModel
    draws them).
    """

    def __init__(self, model, n):
        problem = self.refusal(model)
        if problem:
            raise ValueError(problem)
        self.channels = model.channels
        root_dt = math.sqrt(model.dt)
        self._steps = tuple(s.drift_std * root_dt for s in model.channels)
        self._rows = sum(bool(s.drift_std) + bool(s.noise_std) for s in model.channels)
        self.ideal = not any(s.bias or s.noise_std or s.quantum or s.drift_std
                             for s in model.channels)
        self.drift = np.zeros((len(CHANNELS), n))

    @staticmethod
    def refusal(model):
        """Return why ``model`` has no lanes form ('' when it has one)."""
        if model.delay:
            return 'sensor.delay'
        if model.velocities != 'measured':
            return 'sensor.velocities: derived'
        for name, spec in zip(CHANNELS, model.channels):
            if spec.dropout:
                return f'sensor.dropout (channel {name})'
            if spec.stuck_from is not None:
                return f'sensor.stuck_from (channel {name})'
        return ''

    def reset(self, lanes):
        """Start a new episode in the mask ``lanes``: drift back to 0."""
        self.drift[:, lanes] = 0.0

    def measure(self, columns, lanes, draws):
        """Return the six measured ``(N,)`` columns (``lanes``: the lanes sampled now)."""
        if self.ideal:
            return columns
        z = draws.normals('sensor', self._rows, lanes) if self._rows else None
        out = list(columns)
        k = 0
        for i, spec in enumerate(self.channels):
            v = out[i]
            if spec.bias:
                v = v + spec.bias
            if spec.drift_std:
                d = self.drift[i] + z[k] * self._steps[i]
                k += 1
                self.drift[i] = np.where(lanes, d, self.drift[i])
                v = v + d
            if spec.noise_std:
                v = v + z[k] * spec.noise_std
                k += 1
            if spec.quantum:
                v = np.round(v / spec.quantum) * spec.quantum
            out[i] = v
        return out


_TWOPI = 2.0 * math.pi          # random.py's TWOPI


class _Recorder:
    """A generator that keeps what it drew."""

    def __init__(self, rng):
        self._rng = rng
        self.values = []

    def gauss(self, mu, sigma):
        value = self._rng.gauss(mu, sigma)
        self.values.append(value)
        return value

    def random(self):
        value = self._rng.random()
        self.values.append(value)
        return value


class _Replay:
    """Hand out the draws a :class:`_Recorder` kept, in order."""

    def __init__(self, values):
        self._next = iter(values).__next__

    def gauss(self, mu, sigma):
        return self._next()

    def random(self):
        return self._next()
