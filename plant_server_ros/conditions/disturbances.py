"""
External generalised forces on the plant, as a function of episode time (no ROS).

Three channels: ``force``, a horizontal force F on the cart [N]; ``tau1``,
a torque at joint 1 between the cart and link 1 [N m]; ``tau2``, a torque at
joint 2 between the links [N m].  Each :class:`Disturbance` acts on one
channel over ``[start, end)`` (``end`` None: forever), with one of four
shapes:

- ``step``: ``amplitude`` over the whole window,
- ``pulse``: ``amplitude`` for ``duration`` seconds from ``start`` (an
  impulse of ``amplitude * duration``; ``end``, if given, cuts it short),
- ``sine``: ``amplitude * sin(2 pi frequency (t - start) + phase)``, sampled
  at the start of each period (or at ``start``, in the period where it
  begins) and held over it, like a zero-order hold,
- ``noise``: zero-mean gaussian with standard deviation ``std``, one draw
  per period held over it (white); with a ``bandwidth`` [Hz], the white
  sequence goes through a first-order low-pass discretised exactly per
  period, ``y = a y + sqrt(1 - a^2) std w`` with ``a = exp(-2 pi bandwidth
  dt)``, so its stationary standard deviation is ``std`` and its lag-1
  autocorrelation is ``a``.

Every window edge (``start``, ``end``, the end of a pulse) that falls inside
a period cuts it, so integrating the plant piecewise over
:meth:`DisturbanceSchedule.period` is exact for steps and pulses, whatever
their times.  Overlapping disturbances add up.

The single plant's path is plain floats and a stdlib ``random.Random`` (it
runs once per period on the hot path); each shape's ``lanes_value`` is the
same arithmetic over a batch's ``(N,)`` episode times (:class:`DisturbanceLanes`).
"""

from dataclasses import dataclass, fields
import math
from numbers import Real

import numpy as np

CHANNELS = ('force', 'tau1', 'tau2')
# The largest value of each field (docs/limits.md): far beyond any rig, and
# small enough that a period's sine stays a number (sin(inf) is not).
BOUNDS = {'amplitude': 1e6, 'std': 1e6, 'phase': 1e6, 'frequency': 1e4, 'bandwidth': 1e4,
          'start': 1e9, 'end': 1e9, 'duration': 1e9}
_SHAPE_FIELDS = ('amplitude', 'duration', 'frequency', 'phase', 'std', 'bandwidth')


def _number(name, value, optional=False):
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ValueError(f'{name} must be a number, got {value!r}')
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f'{name} must be finite, got {value!r}')
    return value


@dataclass(frozen=True)
class Disturbance:
    """One external force or torque, on one channel, over one time window."""

    kind: str
    channel: str
    amplitude: float = 0.0      # step, pulse, sine [N or N m]
    start: float = 0.0          # episode time [s] it begins
    end: float = None           # episode time [s] it stops; None: never
    duration: float = 0.0       # pulse [s]
    frequency: float = 0.0      # sine [Hz]
    phase: float = 0.0          # sine [rad]
    std: float = 0.0            # noise [N or N m]
    bandwidth: float = None     # noise [Hz]; None: white

    def __post_init__(self):
        if self.kind not in SHAPES:
            raise ValueError(f'kind must be one of {", ".join(SHAPES)}; got {self.kind!r}')
        if self.channel not in CHANNELS:
            raise ValueError(
                f'channel must be one of {", ".join(CHANNELS)}; got {self.channel!r}')
        for f in fields(self):
            if f.name not in ('kind', 'channel'):
                value = _number(f.name, getattr(self, f.name), optional=f.default is None)
                object.__setattr__(self, f.name, value)
        for name in ('start', 'duration', 'frequency', 'std'):
            if getattr(self, name) < 0.0:
                raise ValueError(f'{name} must be >= 0, got {getattr(self, name)!r}')
        for name, bound in BOUNDS.items():
            value = getattr(self, name)
            if value is not None and abs(value) > bound:
                raise ValueError(f'{name} must be within +/-{bound:g}, got {value!r}')
        if self.end is not None and self.end < self.start:
            raise ValueError(f'end ({self.end!r} s) must not be before start '
                             f'({self.start!r} s)')
        if self.kind == 'pulse' and not self.duration > 0.0:
            raise ValueError(f'duration must be > 0 for a pulse, got {self.duration!r}')
        if self.bandwidth is not None and not self.bandwidth > 0.0:
            raise ValueError(f'bandwidth must be > 0 (None: white), got {self.bandwidth!r}')
        defaults = {f.name: f.default for f in fields(self)}
        for name in _SHAPE_FIELDS:
            if name not in SHAPES[self.kind].uses and getattr(self, name) != defaults[name]:
                raise ValueError(f'{name} does not apply to a {self.kind} disturbance '
                                 f'(got {getattr(self, name)!r})')

    @classmethod
    def from_dict(cls, d):
        """
        Make a disturbance from a mapping, e.g. one entry of a YAML list.

        ``{'kind': 'pulse', 'channel': 'force', 'amplitude': 20, 'start': 2.0,
        'duration': 0.1}``.  Unknown or missing keys raise ValueError naming
        them, as do the values :class:`Disturbance` refuses.
        """
        if not hasattr(d, 'keys'):
            raise ValueError(f'a disturbance must be a mapping, got {d!r}')
        names = [f.name for f in fields(cls)]
        unknown = [k for k in d.keys() if k not in names]
        if unknown:
            raise ValueError(f'unknown disturbance field(s) {", ".join(map(repr, unknown))}; '
                             f'known: {", ".join(names)}')
        for name in ('kind', 'channel'):
            if name not in d:
                raise ValueError(f'{name} is required in a disturbance')
        return cls(**dict(d))

    def to_dict(self):
        """Return the mapping :meth:`from_dict` takes: kind, channel and non-default fields."""
        out = {'kind': self.kind, 'channel': self.channel}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name not in out and value != f.default:
                out[f.name] = value
        return out


class DisturbanceSchedule:
    """
    The disturbances of an episode, cut into the pieces one period holds.

    ``rng`` (a ``random.Random``) is used only by noise shapes, one draw per
    noise shape per period it is active in, in list order; it may be None
    when there is no noise.  ``disturbances`` may hold :class:`Disturbance`
    objects or mappings for :meth:`Disturbance.from_dict`.
    """

    def __init__(self, disturbances, dt, rng):
        dt = float(dt)
        if not (math.isfinite(dt) and dt > 0.0):
            raise ValueError(f'dt must be finite and > 0, got {dt!r}')
        self.dt = dt
        self.disturbances = tuple(
            d if isinstance(d, Disturbance) else Disturbance.from_dict(d)
            for d in disturbances)
        if rng is None and any(d.kind == 'noise' for d in self.disturbances):
            raise ValueError('rng is required for noise disturbances')
        self._rng = rng
        self._items = tuple(_items(self.disturbances, dt))
        self._gauss = None if rng is None else rng.gauss

    @property
    def empty(self):
        """Tell whether nothing ever acts (every period is unforced)."""
        return not self._items

    def reset(self):
        """Start a new episode: the noise filter states back to 0."""
        for _, _, _, shape in self._items:
            shape.reset()

    def period(self, t0):
        """
        Return the generalised forces over the period that starts at episode time ``t0``.

        A list of ``(offset, (F, tau1, tau2))``, offsets increasing in
        ``[0, dt)``, the first 0.0: each force triple is held from its
        offset until the next one or the end of the period.  Call it once
        per period, in order (``t0 = k * dt``): noise draws happen here, so
        a second call for the same period gives other noise.
        """
        dt = self.dt
        base = [0.0, 0.0, 0.0]
        partial = None
        gauss = self._gauss
        for slot, lo, hi, shape in self._items:
            lo_off = lo - t0
            if lo_off >= dt:
                continue                  # not yet
            hi_off = hi - t0
            if hi_off <= 0.0:
                continue                  # over
            value = shape.value(t0 - lo, gauss)
            if lo_off > 0.0 or hi_off < dt:
                if partial is None:
                    partial = []
                partial.append((slot, value, lo_off, hi_off))
            else:
                base[slot] += value
        if partial is None:
            return [(0.0, (base[0], base[1], base[2]))]
        return cut_period(base, partial, dt)


# -- the shapes: each a value per period, for one plant and for N lanes -----------------------
class Held:
    """``step`` and ``pulse``: the amplitude over the whole window."""

    uses = ('amplitude',)

    def __init__(self, d, dt):
        self.amplitude = d.amplitude

    @staticmethod
    def window(d):
        """Return ``(lo, hi)``: the episode times the disturbance acts over."""
        return d.start, math.inf if d.end is None else d.end

    def reset(self, lanes=None):
        """Start a new episode (one plant; or the lanes of a mask: nothing kept)."""

    def value(self, elapsed, gauss):
        """Return the value over a period starting ``elapsed`` s after the window's start."""
        return self.amplitude

    def lanes(self, n):
        """Return the shape's form for N lanes: itself, it keeps nothing."""
        return self

    def lanes_value(self, elapsed, active, normals):
        """Return the value over the lanes' periods (``elapsed``: an ``(N,)`` array)."""
        return self.amplitude


class Pulse(Held):
    """``pulse``: the amplitude for ``duration`` s from the start."""

    uses = ('amplitude', 'duration')

    @staticmethod
    def window(d):
        lo, hi = Held.window(d)
        return lo, min(hi, d.start + d.duration)


class Sine(Held):
    """``amplitude * sin(2 pi frequency (t - start) + phase)``, sampled at each period's start."""

    uses = ('amplitude', 'frequency', 'phase')

    def __init__(self, d, dt):
        self.amplitude = d.amplitude
        self.omega = 2.0 * math.pi * d.frequency
        self.phase = d.phase

    def value(self, elapsed, gauss):
        return self.amplitude * math.sin(self.omega * elapsed + self.phase if elapsed > 0.0
                                         else self.phase)

    def lanes_value(self, elapsed, active, normals):
        return self.amplitude * np.sin(np.where(elapsed > 0.0, self.omega * elapsed + self.phase,
                                                self.phase))


class Noise(Held):
    """Gaussian noise, one draw per period; with a bandwidth, through an exact low-pass."""

    uses = ('std', 'bandwidth')

    def __init__(self, d, dt):
        if d.bandwidth is None:
            self.a, self.b = None, d.std
        else:
            self.a = math.exp(-2.0 * math.pi * d.bandwidth * dt)
            self.b = d.std * math.sqrt(-math.expm1(-4.0 * math.pi * d.bandwidth * dt))
        self.filter = 0.0

    def reset(self):
        self.filter = 0.0

    def value(self, elapsed, gauss):
        if self.a is None:
            return self.b * gauss(0.0, 1.0)
        self.filter = self.a * self.filter + self.b * gauss(0.0, 1.0)
        return self.filter

    def lanes(self, n):
        return _NoiseLanes(self, n)


class _NoiseLanes:
    """A noise shape in ``n`` lanes: one draw per active lane and period, a filter per lane."""

    def __init__(self, shape, n):
        self.a, self.b = shape.a, shape.b
        self.filter = np.zeros(n)

    def reset(self, lanes):
        self.filter[lanes] = 0.0

    def lanes_value(self, elapsed, active, normals):
        z = normals('disturbance', 1, active)[0]
        if self.a is None:
            return self.b * z
        value = self.a * self.filter + self.b * z
        self.filter = np.where(active, value, self.filter)
        return value


SHAPES = {'step': Held, 'pulse': Pulse, 'sine': Sine, 'noise': Noise}
KINDS = tuple(SHAPES)


def _items(disturbances, dt):
    """Yield ``(slot, lo, hi, shape)`` of each disturbance that ever acts."""
    for d in disturbances:
        shape = SHAPES[d.kind]
        lo, hi = shape.window(d)
        if hi > lo:                       # an empty window never acts
            yield CHANNELS.index(d.channel), lo, hi, shape(d, dt)


class DisturbanceLanes:
    """
    A scenario's disturbances in ``n`` lanes, each at its own episode time.

    A period that a window edge cuts inside (rare: at most two periods per
    disturbance and episode) is reported per lane, with its pieces as
    :meth:`DisturbanceSchedule.period` gives them, for the batch to
    integrate piece by piece; every other period holds one ``(F, tau1, tau2)``.
    Noise draws come from the batch's ``draws`` (``normals('disturbance',
    1, active)``, one per noise disturbance and period, in list order).
    """

    def __init__(self, disturbances, dt, n):
        self.dt = float(dt)
        self._items = tuple((slot, lo, hi, shape.lanes(n))
                            for slot, lo, hi, shape in _items(disturbances, self.dt))
        self.empty = not self._items
        self.torques = any(slot > 0 for slot, _, _, _ in self._items)

    def reset(self, lanes):
        """Start a new episode in the mask ``lanes`` (noise filters back to 0)."""
        for _, _, _, shape in self._items:
            shape.reset(lanes)

    def period(self, t0, lanes, draws):
        """
        Return ``(F, tau1, tau2, cut)`` for the periods starting at ``t0`` (an ``(N,)`` array).

        ``cut``: None, or ``{lane: pieces}`` of the lanes whose period an edge
        cuts (pieces as DisturbanceSchedule.period returns them).
        """
        dt = self.dt
        base = [0.0, 0.0, 0.0]
        cut = None
        for slot, lo, hi, shape in self._items:
            lo_off = lo - t0
            hi_off = hi - t0
            active = (lo_off < dt) & (hi_off > 0.0) & lanes
            value = shape.lanes_value(t0 - lo, active, draws.normals)
            partial = active & ((lo_off > 0.0) | (hi_off < dt))
            full = active & ~partial
            base[slot] = base[slot] + np.where(full, value, 0.0)
            if partial.any():
                cut = cut if cut is not None else {}
                value = np.broadcast_to(value, t0.shape)
                for i in np.flatnonzero(partial):
                    cut.setdefault(int(i), []).append(
                        (slot, float(value[i]), float(lo_off[i]), float(hi_off[i])))
        if cut is not None:
            cut = {i: cut_period([float(b[i]) if np.ndim(b) else float(b) for b in base],
                                 items, dt) for i, items in cut.items()}
        return base[0], base[1], base[2], cut


def cut_period(base, partial, dt):
    """
    Return the pieces ``[(offset, (F, tau1, tau2)), ...]`` of a period with edges inside.

    ``base``: what holds over the whole period; ``partial``: ``(slot, value,
    lo_off, hi_off)`` of what holds over part of it.  Edges compare offsets
    with offsets (lo - t0), never t0 + offset with lo, so an edge and its
    cut always agree.  The batch of plants cuts its lanes with this too.
    """
    cuts = {0.0}
    for _, _, lo_off, hi_off in partial:
        if lo_off > 0.0:
            cuts.add(lo_off)
        if hi_off < dt:
            cuts.add(hi_off)
    out = []
    last = None
    for offset in sorted(cuts):
        values = list(base)
        for slot, value, lo_off, hi_off in partial:
            if lo_off <= offset < hi_off:
                values[slot] += value
        values = (values[0], values[1], values[2])
        if values != last:
            out.append((offset, values))
            last = values
    return out
