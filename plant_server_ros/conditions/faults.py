"""
Faults: what breaks on a rig, on a timeline, exactly and reproducibly (no ROS).

The other conditions model healthy-but-imperfect hardware; a fault is the
hardware failing: a motor that loses torque or sticks, an encoder that
jumps, friction that grows as the rig warms, a failure that comes and goes.

A fault spec is a flat mapping (a scenario's ``faults:`` list, a live
injection's JSON, or a line of text, :func:`from_text`)::

    {kind: gain, target: motor, value: 0.5, start: 2.0, duration: 3.0,
     pattern: intermittent, on: 0.2, off: [0.1, 0.5]}

``target`` is ``motor`` (the force on the cart), a sensor channel (``x``,
``theta1``, ... ``theta2_dot``) or a physical parameter (``cart_friction``,
``link2_mass``, ... of :class:`~..physics.dynamics.DIPParams`).  The fault
is on over ``[start, start + duration)`` (episode time; no duration: to the
end of the episode) and its pattern gives its level ``a`` in [0, 1] at the
time ``tau = t - start`` into it:

- ``constant``: ``a = 1``,
- ``ramp``: ``a = min(tau / over, 1)`` (to the full value over ``over`` s),
- ``intermittent``: 1 for ``on`` s, 0 for ``off`` s, alternately, starting
  on; ``on``/``off`` a number, or ``[low, high]``: each duration drawn
  uniformly from the fault's own seeded stream,
- ``sine``: ``a = (1 - cos(2 pi frequency tau + phase)) / 2`` (it waxes and
  wanes between none and full).

A fault with a value acts with ``neutral + a * (value - neutral)`` (the
neutral value is no fault: bias 0, gain 1, the episode's parameter; a noise
burst scales its ``std`` by ``a``); a fault without one (stuck, loss, ...)
acts while ``a > 0`` and takes only ``constant`` and ``intermittent``.
docs/faults.md has the table of kinds and what each does, exactly.

When it acts: the motor's and the parameters' faults are evaluated at the
start of each control period and held over it (the dynamics take new
parameters at period boundaries only); the sensors' at each sample's time.
Several faults apply in the order listed.  Random draws (intermittent
durations, spike arrivals) come from a stream per fault, seeded from the
plant's fault stream, so a seed reproduces a run bit for bit and switching
faults on changes no other stream's numbers.
"""

import bisect
from dataclasses import dataclass, fields, replace
import math
from numbers import Real
import random

from .sensors import CHANNELS
from ..physics.dynamics import DIPParams

MOTOR = 'motor'
PARAMETERS = tuple(f.name for f in fields(DIPParams))
PATTERNS = ('constant', 'ramp', 'intermittent', 'sine')
_ON_OFF = ('constant', 'intermittent')
# kind -> (what it may target, keys it needs, keys it may take, patterns it takes)
KINDS = {
    'bias': ((MOTOR,), ('value',), (), PATTERNS),
    'gain': ((MOTOR,) + CHANNELS, ('value',), (), PATTERNS),
    'stuck': ((MOTOR,), (), (), _ON_OFF),
    'loss': ((MOTOR,), (), (), _ON_OFF),
    'reversed': ((MOTOR,), (), (), _ON_OFF),
    'overload': ((MOTOR,), ('limit',), ('hold', 'cooldown'), _ON_OFF),
    'jump': (CHANNELS, ('value',), (), _ON_OFF),
    'spikes': (CHANNELS, ('rate', 'size'), (), _ON_OFF),
    'noise': (CHANNELS, ('std',), (), PATTERNS),
    'nonfinite': (CHANNELS, (), ('value',), _ON_OFF),
    'freeze': (CHANNELS, (), (), _ON_OFF),
    'drift': (PARAMETERS, ('value',), (), PATTERNS),
}
PATTERN_KEYS = {'constant': ((), ()), 'ramp': (('over',), ()),
                'intermittent': (('on', 'off'), ()), 'sine': (('frequency',), ('phase',))}
COMMON_KEYS = ('kind', 'target', 'start', 'duration', 'pattern')
NONFINITE = {'nan': math.nan, 'inf': math.inf, '-inf': -math.inf}
OVERLOAD_DEFAULTS = {'hold': 1.0, 'cooldown': 2.0}
_YAML_BOOL_KEYS = {True: 'on', False: 'off'}
_EPSILON = 1e-9      # s; a time this close to an edge has reached it (the sample grid)


class FaultError(ValueError):
    """A fault spec that makes no sense (the message names the key)."""


@dataclass(frozen=True)
class Fault:
    """One validated fault (see the module notes); build it with :meth:`from_dict`."""

    kind: str
    target: str
    value: object = None
    start: float = 0.0
    duration: float = None
    pattern: str = 'constant'
    over: float = None
    on: object = None
    off: object = None
    frequency: float = None
    phase: float = 0.0
    limit: float = None
    hold: float = None
    cooldown: float = None
    rate: float = None
    size: float = None
    std: float = None
    live: bool = False

    @classmethod
    def from_dict(cls, spec):
        """Validate a spec mapping; FaultError names the key that makes no sense."""
        if isinstance(spec, Fault):
            return spec
        if not isinstance(spec, dict):
            raise FaultError(f'a fault is a mapping such as {{kind: gain, target: motor, '
                             f'value: 0.5}}, got {spec!r}')
        if True in spec or False in spec:      # YAML 1.1 reads the keys on: and off: so
            spec = {_YAML_BOOL_KEYS.get(k, k) if isinstance(k, bool) else k: v
                    for k, v in spec.items()}
        kind = spec.get('kind')
        if kind not in KINDS:
            raise FaultError(f'kind: unknown fault kind {kind!r} (one of {list(KINDS)})')
        targets, needs, may, patterns = KINDS[kind]
        target = spec.get('target')
        if target not in targets:
            raise FaultError(f'target: {kind} cannot target {target!r} '
                             f'(one of {list(targets)})')
        pattern = spec.get('pattern', 'constant')
        if pattern not in PATTERNS:
            raise FaultError(f'pattern: unknown pattern {pattern!r} (one of {list(PATTERNS)})')
        if pattern not in patterns:
            raise FaultError(f'pattern: {kind} is on or off, it takes {list(patterns)}, '
                             f'not {pattern!r}')
        p_needs, p_may = PATTERN_KEYS[pattern]
        allowed = set(COMMON_KEYS) | set(needs) | set(may) | set(p_needs) | set(p_may)
        for key in spec:
            if key not in allowed:
                raise FaultError(f'{key}: not a key of a {kind} fault with pattern {pattern} '
                                 f'(keys: {sorted(allowed)})')
        for key in needs + p_needs:
            if spec.get(key) is None:
                raise FaultError(f'{key}: a {kind} fault with pattern {pattern} needs it')
        values = {'kind': kind, 'target': target, 'pattern': pattern,
                  'start': _number('start', spec.get('start', 0.0), low=0.0)}
        if spec.get('duration') is not None:
            values['duration'] = _number('duration', spec['duration'], low=0.0, open_low=True)
        if 'value' in spec:
            values['value'] = _value(kind, target, spec['value'])
        for key in ('limit', 'rate'):
            if key in spec:
                values[key] = _number(key, spec[key], low=0.0, open_low=True)
        for key in ('hold', 'cooldown'):
            if kind == 'overload':
                values[key] = _number(key, spec.get(key, OVERLOAD_DEFAULTS[key]), low=0.0)
        if 'std' in spec:
            values['std'] = _number('std', spec['std'], low=0.0)
        if 'size' in spec:
            values['size'] = _number('size', spec['size'])
        if 'over' in spec:
            values['over'] = _number('over', spec['over'], low=0.0, open_low=True)
        if 'frequency' in spec:
            values['frequency'] = _number('frequency', spec['frequency'], low=0.0,
                                          open_low=True)
        if 'phase' in spec:
            values['phase'] = _number('phase', spec['phase'])
        for key in ('on', 'off'):
            if key in spec:
                values[key] = _duration(key, spec[key])
        return cls(**values)

    def to_dict(self):
        """Return the spec as a mapping (what was given, defaults left out)."""
        out = {'kind': self.kind, 'target': self.target}
        for f in fields(self)[2:]:
            value = getattr(self, f.name)
            if value != f.default:
                out[f.name] = value
        return out

    def describe(self):
        """Return one line on the fault: ``motor gain 0.5 constant from 2 s for 3 s``."""
        text = f'{self.target} {self.kind}'
        for key in ('value', 'limit', 'hold', 'cooldown', 'rate', 'size', 'std'):
            value = getattr(self, key)
            if value is not None:
                text += f' {value:g}' if key == 'value' and isinstance(value, float) else \
                    f' {key}={value:g}' if isinstance(value, float) else f' {value}'
        text += f' {self.pattern}'
        for key in ('over', 'on', 'off', 'frequency'):
            value = getattr(self, key)
            if value is not None:
                text += f' {key}={_show(value)}'
        text += f' from {self.start:g} s'
        if self.duration is not None:
            text += f' for {self.duration:g} s'
        return ('live: ' if self.live else '') + text


def _show(value):
    return '[%g, %g]' % tuple(value) if isinstance(value, tuple) else f'{value:g}'


def _number(key, value, low=-math.inf, open_low=False):
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
        raise FaultError(f'{key}: must be a finite number, got {value!r}')
    value = float(value)
    if value < low or (open_low and value == low):
        raise FaultError(f'{key}: must be {">" if open_low else ">="} {low:g}, got {value!r}')
    return value


def _duration(key, value):
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise FaultError(f'{key}: a duration [low, high] has two numbers, got {value!r}')
        low = _number(key, value[0], low=0.0, open_low=True)
        high = _number(key, value[1], low=0.0, open_low=True)
        if high < low:
            raise FaultError(f'{key}: [low, high] needs low <= high, got {value!r}')
        return (low, high)
    return _number(key, value, low=0.0, open_low=True)


def _value(kind, target, value):
    if kind == 'nonfinite':
        if value not in NONFINITE:
            raise FaultError(f'value: a nonfinite channel reads one of {list(NONFINITE)}, '
                             f'got {value!r}')
        return value
    value = _number('value', value)
    if kind == 'gain' and target == MOTOR and not 0.0 <= value <= 1.0:
        raise FaultError(f'value: a motor gain is the fraction of the commanded force that '
                         f'reaches the cart, in [0, 1], got {value!r}')
    if kind == 'drift':
        try:
            DIPParams(**{target: value})
        except ValueError as exc:
            raise FaultError(f'value: {exc}') from None
    return value


def parse_list(items):
    """Return the faults of a ``faults:`` list; FaultError names ``faults[i].key``."""
    if items is None:
        return ()
    if not isinstance(items, list):
        raise FaultError('faults: must be a list of fault mappings')
    out = []
    for i, item in enumerate(items):
        try:
            out.append(Fault.from_dict(item))
        except FaultError as exc:
            raise FaultError(f'faults[{i}].{exc}') from None
    return tuple(out)


def from_text(text):
    """
    Return the spec mapping of a line such as ``motor gain 0.5 for 2s``.

    ``<target> <kind> [<value>] [key=value ...] [for <s>] [at <s>]``: ``for``
    is the duration, ``at`` (or ``in``) the start (episode time in a
    scenario, seconds from now live); times may end in ``s``; a
    ``[low, high]`` duration is written ``on=0.1..0.5``.
    """
    words = str(text).split()
    if len(words) < 2:
        raise FaultError(f'a fault line is "<target> <kind> [value] [key=value ...] '
                         f'[for <s>] [at <s>]", got {text!r}')
    spec = {'target': words[0], 'kind': words[1]}
    rest = words[2:]
    i = 0
    while i < len(rest):
        word = rest[i]
        if word in ('for', 'at', 'in') and i + 1 < len(rest):
            key = 'duration' if word == 'for' else 'start'
            spec[key] = _word_value(key, rest[i + 1])
            i += 2
            continue
        if '=' in word:
            key, _, raw = word.partition('=')
            spec[key] = _word_value(key, raw)
        elif 'value' not in spec:
            spec['value'] = _word_value('value', word)
        else:
            raise FaultError(f'{word!r}: not understood (a value was already given)')
        i += 1
    return spec


def parse_live(text):
    """
    Return what a live message asks for: ``'clear'``, or a spec mapping.

    A message is ``clear``, a JSON or YAML mapping (``{"kind": "gain", ...}``)
    or a line (:func:`from_text`).  FaultError for anything else.
    """
    text = str(text).strip()
    if text == 'clear':
        return 'clear'
    if text.startswith('{'):
        try:
            import json
            return json.loads(text)
        except ValueError:
            pass
        try:
            import yaml
            return yaml.safe_load(text)
        except ImportError:
            raise FaultError('a fault in YAML needs PyYAML; send JSON or a line') from None
        except yaml.YAMLError as exc:
            raise FaultError(f'not a JSON or YAML mapping: {exc}') from None
    return from_text(text)


def _word_value(key, raw):
    if key == 'pattern' or raw in NONFINITE:
        return raw
    if '..' in raw:
        return [_word_value(key, part) for part in raw.split('..', 1)]
    number = raw[:-1] if raw.endswith('s') and key != 'value' else raw
    try:
        return float(number)
    except ValueError:
        raise FaultError(f'{key}: must be a number, got {raw!r}') from None


def fault_stream(root):
    """Return the plant's fault stream for seed ``root`` (the per-fault streams' source)."""
    return random.Random(f'{root}:faults')


class _Running:
    """One fault in an episode: its own stream and what it remembers."""

    def __init__(self, fault, seed):
        self.fault = fault
        self.text = fault.describe()
        self._seed = seed
        self._rng = None
        self.toggles = [0.0]     # intermittent: times (into the fault) it switches, from on
        self.arrivals = []       # spikes: (time into the fault, signed size)
        self.opened = False
        self.closed = False
        self.on = False
        self.stuck = None        # stuck: the force it froze at
        self.over = 0.0          # overload: time above the limit
        self.cut_since = None    # overload: when the motor cut out
        self.drawn = None        # noise: (sample, draw) of the last sample measured

    @property
    def rng(self):
        """Return the fault's own stream (made when first drawn from: most never are)."""
        if self._rng is None:
            self._rng = random.Random(self._seed)
        return self._rng

    def window(self, t):
        f = self.fault
        if t < f.start - _EPSILON:
            return False
        return f.duration is None or t < f.start + f.duration - _EPSILON

    def level(self, t):
        """Return the fault's level in [0, 1] at episode time ``t`` (0 outside its window)."""
        if not self.window(t):
            return 0.0
        f = self.fault
        tau = max(t - f.start, 0.0)
        pattern = f.pattern
        if pattern == 'constant':
            return 1.0
        if pattern == 'ramp':
            return min(tau / f.over, 1.0)
        if pattern == 'sine':
            return (1.0 - math.cos(2.0 * math.pi * f.frequency * tau + f.phase)) / 2.0
        toggles = self.toggles
        while toggles[-1] <= tau + _EPSILON:
            key = f.on if len(toggles) % 2 else f.off
            toggles.append(toggles[-1] + (self.rng.uniform(*key) if isinstance(key, tuple)
                                          else key))
        return 1.0 if bisect.bisect_right(toggles, tau + _EPSILON) % 2 else 0.0

    def spikes(self, t, dt):
        """Return the summed spikes that arrived in ``(t - dt, t]`` (spikes faults)."""
        f = self.fault
        tau = t - f.start
        arrivals = self.arrivals
        while not arrivals or arrivals[-1][0] <= tau + _EPSILON:
            last = arrivals[-1][0] if arrivals else 0.0
            gap = self.rng.expovariate(f.rate)
            sign = 1.0 if self.rng.random() < 0.5 else -1.0
            arrivals.append((last + gap, sign * f.size))
        low = bisect.bisect_right(arrivals, (tau - dt + _EPSILON, math.inf))
        total = 0.0
        for at, size in arrivals[low:]:
            if at > tau + _EPSILON:
                break
            total += size
        return total


class FaultSet:
    """
    The faults of one episode, applied by the plant (see the module notes).

    ``faults``: :class:`Fault` values; ``rng``: the plant's fault stream
    (each fault takes a stream of its own from it, in order); ``dynamics``:
    the episode's model, whose parameters a drift changes.  The plant calls
    :meth:`period` once per control period, :meth:`commit` when it ends,
    :meth:`measure` on every sample, :meth:`advance` for the events.
    """

    def __init__(self, faults, dt, rng, dynamics):
        self.dt = float(dt)
        self._rng = rng
        self.base_dynamics = dynamics
        self._base = getattr(dynamics, 'params', None) or DIPParams()
        self._dynamics = {(): dynamics}
        self.running = [_Running(f, self._stream()) for f in faults]
        self._input = 0.0             # the last force that entered an overload
        self._prev = self._cur = None  # sensor memory: (key, output) of two samples

    def _stream(self):
        # One seed per fault, in order, whether it draws or not: a fault's
        # numbers do not depend on the kinds of the faults before it.
        return self._rng.getrandbits(64)

    def add(self, fault, now):
        """Add ``fault`` with its start taken from ``now`` on (a live injection)."""
        # A copy without dataclasses.replace, which validates again: this runs
        # under the plant's lock, and the spec was checked when it was made.
        live = object.__new__(Fault)
        live.__dict__.update(fault.__dict__, start=now + fault.start, live=True)
        self.running.append(_Running(live, self._stream()))
        return live

    def clear(self, t):
        """Remove every fault; the events of those that were on."""
        events = [(t, 'fault_end', r.text + ' (cleared)')
                  for r in self.running if r.opened and not r.closed]
        self.running = []
        return events

    # -- a control period ----------------------------------------------------
    def period(self, t0, last_force):
        """
        Return ``(force map or None, dynamics)`` for the period starting at ``t0``.

        The map takes the motor's force and returns what reaches the cart;
        ``last_force`` (the force of the period before) is what a stuck
        motor freezes at.
        """
        ops = []
        drift = {}
        for r in self.running:
            f = r.fault
            a = r.level(t0)
            if f.target == MOTOR:
                if a <= 0.0:
                    r.stuck = None
                    if f.kind == 'overload':
                        r.over, r.cut_since = 0.0, None
                    continue
                if f.kind == 'stuck' and r.stuck is None:
                    r.stuck = last_force
                ops.append((f.kind, a, f, r))
            elif f.kind == 'drift':
                base = drift.get(f.target, getattr(self._base, f.target))
                if a > 0.0:
                    drift[f.target] = base + a * (f.value - base)
        return (self._map(ops) if ops else None), self._drifted(drift)

    def _drifted(self, drift):
        key = tuple(sorted(drift.items()))
        dynamics = self._dynamics.get(key)
        if dynamics is None:
            dynamics = self.base_dynamics.with_params(replace(self._base, **drift))
            if len(self._dynamics) > 64:          # a ramp makes new values every period
                self._dynamics = {(): self.base_dynamics}
            self._dynamics[key] = dynamics
        return dynamics

    def _map(self, ops):
        def force(u):
            for kind, a, f, r in ops:
                if kind == 'bias':
                    u = u + a * f.value
                elif kind == 'gain':
                    u = u * (1.0 + a * (f.value - 1.0))
                elif kind == 'stuck':
                    u = r.stuck
                elif kind == 'loss':
                    u = 0.0
                elif kind == 'reversed':
                    u = -u
                else:                       # overload: watches what enters it
                    self._input = u
                    if r.cut_since is not None:
                        u = 0.0
            return u
        return force

    def commit(self, t):
        """End the period at ``t``: advance the overloads' clocks; return the events."""
        events = []
        for r in self.running:
            f = r.fault
            if f.kind != 'overload' or r.level(t - self.dt) <= 0.0:
                continue
            if r.cut_since is not None:
                if t - r.cut_since >= f.cooldown - _EPSILON:
                    r.cut_since, r.over = None, 0.0
                    events.append((t, 'overload_recover', f'{f.describe()}: the motor is '
                                   f'back after {f.cooldown:g} s'))
                continue
            r.over = r.over + self.dt if abs(self._input) > f.limit else 0.0
            if r.over >= f.hold - _EPSILON and abs(self._input) > f.limit:
                r.cut_since = t
                events.append((t, 'overload_trip', f'{f.describe()}: |F| > {f.limit:g} N '
                               f'for {r.over:g} s, the motor cuts out'))
        return events + self.advance(t)

    def advance(self, t):
        """Return the events of the faults' edges reached at ``t`` (start, end, on/off)."""
        events = []
        done = False
        for r in self.running:
            if r.closed:
                continue
            f = r.fault
            inside = r.window(t)
            if not r.opened and inside:
                r.opened = r.on = True
                events.append((t, 'fault_start', r.text))
            elif r.opened and not inside:
                r.closed = True
                events.append((t, 'fault_end', r.text))
                done = True
            elif inside and f.pattern == 'intermittent':
                on = r.level(t) > 0.0
                if on != r.on:
                    r.on = on
                    events.append((t, 'fault_on' if on else 'fault_off', r.text))
        if done:         # an ended fault never acts again: a storm of them costs nothing later
            self.running = [r for r in self.running if not r.closed]
        return events

    # -- a sample --------------------------------------------------------------
    def measure(self, measured, t, key):
        """
        Return the sample ``measured`` at ``t`` with the sensor faults on it.

        ``key`` names the sample: measuring the same sample again (real time
        computes it ahead and again) gives the same result, and a frozen
        channel holds the output of the sample before.
        """
        if self._cur is not None and self._cur[0] != key:
            self._prev = self._cur
        prev = self._prev[1] if self._prev is not None else None
        out = None
        for r in self.running:
            f = r.fault
            if f.target == MOTOR or f.kind == 'drift':
                continue
            a = r.level(t)
            if a <= 0.0:
                continue
            if out is None:
                out = list(measured)
            i = CHANNELS.index(f.target)
            kind = f.kind
            if kind == 'jump':
                out[i] += f.value
            elif kind == 'spikes':
                out[i] += r.spikes(t, self.dt)
            elif kind == 'noise':            # one draw per sample, the same when measured again
                if r.drawn is None or r.drawn[0] != key:
                    r.drawn = (key, r.rng.gauss(0.0, 1.0))
                out[i] += a * f.std * r.drawn[1]
            elif kind == 'gain':
                out[i] *= 1.0 + a * (f.value - 1.0)
            elif kind == 'nonfinite':
                out[i] = NONFINITE[f.value or 'nan']
            elif prev is not None:           # freeze: the channel's output before
                out[i] = prev[i]
        result = measured if out is None else tuple(out)
        self._cur = (key, result)
        return result
