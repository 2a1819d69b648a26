"""
A fault spec: the validated :class:`Fault`, and the forms it is written in.

A fault spec is a flat mapping (a scenario's ``faults:`` list, a live
injection's JSON, or a line of text, :func:`from_text`)::

    {kind: gain, target: motor, value: 0.5, start: 2.0, duration: 3.0,
     pattern: intermittent, on: 0.2, off: [0.1, 0.5]}

What a kind may target and take is the kind's own (:mod:`.kinds`); the
pattern's keys are :mod:`.patterns`'.
"""

from dataclasses import dataclass, fields

from .kinds import FaultError, KINDS, MAX_RATE, NONFINITE, number as _number
from .patterns import MAX_FREQUENCY, MIN_ON_OFF, PATTERN_KEYS, PATTERNS

COMMON_KEYS = ('kind', 'target', 'start', 'duration', 'pattern')
# Times a spec may give [s] (start, duration, over, hold, cooldown, on, off),
# and faults at once in one episode, scheduled and live (docs/limits.md).
MAX_TIME = 1e9
MAX_FAULTS = 100
_YAML_BOOL_KEYS = {True: 'on', False: 'off'}


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
        handler = KINDS[kind]
        targets, needs, may, patterns = handler.targets, handler.needs, handler.may, \
            handler.patterns
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
                  'start': _number('start', spec.get('start', 0.0), low=0.0, high=MAX_TIME)}
        if spec.get('duration') is not None:
            values['duration'] = _number('duration', spec['duration'], low=0.0, open_low=True,
                                         high=MAX_TIME)
        if 'value' in spec:
            values['value'] = handler.check_value(target, spec['value'])
        if 'limit' in spec:
            values['limit'] = _number('limit', spec['limit'], low=0.0, open_low=True)
        if 'rate' in spec:
            values['rate'] = _number('rate', spec['rate'], low=0.0, open_low=True,
                                     high=MAX_RATE)
        for key in ('hold', 'cooldown'):
            if key in may:
                values[key] = _number(key, spec.get(key, handler.DEFAULTS[key]), low=0.0,
                                      high=MAX_TIME)
        if 'std' in spec:
            values['std'] = _number('std', spec['std'], low=0.0)
        if 'size' in spec:
            values['size'] = _number('size', spec['size'])
        if 'over' in spec:
            values['over'] = _number('over', spec['over'], low=0.0, open_low=True,
                                     high=MAX_TIME)
        if 'frequency' in spec:
            values['frequency'] = _number('frequency', spec['frequency'], low=0.0,
                                          open_low=True, high=MAX_FREQUENCY)
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


def _duration(key, value):
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise FaultError(f'{key}: a duration [low, high] has two numbers, got {value!r}')
        low = _number(key, value[0], low=MIN_ON_OFF, high=MAX_TIME)
        high = _number(key, value[1], low=MIN_ON_OFF, high=MAX_TIME)
        if high < low:
            raise FaultError(f'{key}: [low, high] needs low <= high, got {value!r}')
        return (low, high)
    return _number(key, value, low=MIN_ON_OFF, high=MAX_TIME)


def parse_list(items):
    """Return the faults of a ``faults:`` list; FaultError names ``faults[i].key``."""
    if items is None:
        return ()
    if not isinstance(items, list):
        raise FaultError('faults: must be a list of fault mappings')
    if len(items) > MAX_FAULTS:
        raise FaultError(f'faults: at most {MAX_FAULTS} faults in an episode, got {len(items)}')
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
