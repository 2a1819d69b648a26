"""
An episode's verdict: its scenario's criteria, its failures, and the regression gate.

Criteria names and limits are checked when the campaign is loaded (an
unknown criterion is refused by name before anything runs), with the
vocabulary of :data:`~..conditions.criteria.CRITERIA`.  A baseline file
(``--save-baseline``) holds each episode's metrics and a decimated trace;
``--baseline`` compares a run against it with the tolerances of the
scenario's ``regression:`` section (or :data:`DEFAULT_REGRESSION`)::

    regression:
      relative: {ise_th1: 0.05, ise_th2: 0.05}   # may worsen by at most 5 %
      absolute: {max_abs_th1: 0.01}              # by at most 0.01 (its unit)
      trace: 0.02                                # |x|, |th1|, |th2| may deviate by <= 0.02

Every metric compared is one where less is better; a regression is a value
above the old one plus its tolerance, named with metric, old and new.
"""

import json
import math
import os
from pathlib import Path
import stat

import numpy as np

from ..analysis.metrics import check_criteria, CRITERIA

BASELINE_VERSION = 1
TRACE_POINTS = 200          # samples of the decimated trace kept per episode
DEFAULT_REGRESSION = {'relative': {'ise_th1': 0.05, 'ise_th2': 0.05, 'rms_force': 0.05},
                      'absolute': {'max_abs_th1': 0.01, 'max_abs_th2': 0.01, 'max_abs_x': 0.01}}
_REGRESSION_KEYS = ('relative', 'absolute', 'trace')
_SLACK = 1e-12
MAX_BASELINE_BYTES = 256 * 1024 * 1024   # 256 MiB: ~20 kB an episode, ~12 000 episodes
MAX_BASELINE_EPISODES = 10_000           # ~17 kB each: well within MAX_BASELINE_BYTES
BASELINE_DEPTH = 5                       # {episodes: {key: {trace: {t: [...]}}}}


class CriteriaError(ValueError):
    """A scenario's criteria or regression section the runner cannot judge with."""


def validate(scenario):
    """Raise CriteriaError naming the scenario and the key of a bad criterion or tolerance."""
    where = f'scenario {scenario.source or scenario.name}'
    try:
        check_criteria(_PROBE, scenario.criteria)
    except ValueError as exc:
        raise CriteriaError(f'{where}: {exc}') from None
    section = scenario.regression or {}
    for key, value in section.items():
        if key not in _REGRESSION_KEYS:
            raise CriteriaError(f'{where}: regression.{key} is not a regression key (one of '
                                f'{list(_REGRESSION_KEYS)})')
        if key == 'trace':
            _limit(where, 'regression.trace', value)
            continue
        if not isinstance(value, dict):
            raise CriteriaError(f'{where}: regression.{key} must be a mapping metric: tolerance')
        for metric, tolerance in value.items():
            if metric not in _PROBE:
                raise CriteriaError(f'{where}: regression.{key}.{metric} is not a metric')
            _limit(where, f'regression.{key}.{metric}', tolerance)


def _limit(where, key, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            not math.isfinite(value) or value < 0:
        raise CriteriaError(f'{where}: {key} must be a number >= 0, got {value!r}')


# Metrics of every key, for validating names without an episode.
_PROBE = dict.fromkeys(
    ('duration', 'steps', 'settling_time', 'overshoot_th1', 'overshoot_th2', 'iae_th1',
     'ise_th1', 'itae_th1', 'iae_th2', 'ise_th2', 'itae_th2', 'rms_force', 'peak_force',
     'time_in_saturation', 'saturation_fraction', 'mean_abs_du', 'sign_changes_per_s',
     'control_energy', 'control_work', 'max_abs_x', 'max_abs_th1', 'max_abs_th2',
     'response_p50_ms', 'response_p99_ms', 'response_max_ms', 'deadline_misses',
     'compute_fraction_max', 'upright_time', 'upright_max_abs_theta'), 0.0)
_PROBE.update(halted=False, fell=False, balanced=True)


def judge(metrics, criteria, failures=()):
    """Return ``(passed, checks, messages)``: the criteria checks and every failure in words."""
    verdict = check_criteria(metrics, criteria)
    messages = list(failures)
    for check in verdict['checks']:
        if not check['passed']:
            messages.append(describe_check(check))
    return verdict['passed'] and not failures, verdict['checks'], messages


def describe_check(check):
    """Return a failed check as ``name: measured 0.45 > limit 0.3``."""
    name, value, limit = check['criterion'], check['value'], check['limit']
    if value is None:
        return f'{name}: not measured (limit {limit})'
    if name == 'balanced':
        return f'{name}: measured {value}, required {limit}'
    sign = '<' if name in ('min_survived',) else '>'
    return f'{name}: measured {_fmt(value)} {sign} limit {_fmt(limit)}'


def _fmt(value):
    return f'{value:.6g}' if isinstance(value, float) else str(value)


# -- baselines --------------------------------------------------------------

def decimate(t, x, points=TRACE_POINTS):
    """Return ``{t, x, th1, th2}`` lists at about ``points`` evenly spaced samples."""
    t = np.asarray(t, dtype=float)
    x = np.asarray(x, dtype=float).reshape(-1, 6)
    if t.size == 0:
        return {'t': [], 'x': [], 'th1': [], 'th2': []}
    step = max(1, int(math.ceil(t.size / points)))
    pick = np.arange(0, t.size, step)
    return {'t': t[pick].tolist(), 'x': x[pick, 0].tolist(), 'th1': x[pick, 1].tolist(),
            'th2': x[pick, 2].tolist()}


def save_baseline(path, episodes, source):
    """Write each episode's metrics and trace (``episodes``: EpisodeResult) to ``path``."""
    data = {'version': BASELINE_VERSION, 'campaign': str(source),
            'episodes': {e.key: {'metrics': e.metrics, 'trace': e.trace} for e in episodes}}
    text = json.dumps(data, indent=1, allow_nan=False, default=_plain)
    if len(text) > MAX_BASELINE_BYTES:
        raise ValueError(f'the baseline would be {len(text)} bytes, more than the '
                         f'{MAX_BASELINE_BYTES} a baseline may hold')
    Path(path).write_text(text, encoding='utf-8')


def load_baseline(path):
    """
    Return the ``{episode key: {metrics, trace}}`` of a baseline file; ValueError if bad.

    Read within bounds: a regular file of at most :data:`MAX_BASELINE_BYTES`,
    UTF-8 JSON (nested deeper than the parser's recursion bound: refused), no
    NaN or infinity, the shape :func:`save_baseline` writes (metrics: numbers,
    booleans, strings or null; a trace: lists of numbers).  Every error
    names the file.
    """
    name = str(path)
    try:
        with open(path, 'rb') as f:
            info = os.fstat(f.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise ValueError(f'baseline {name} is not a regular file')
            if info.st_size > MAX_BASELINE_BYTES:
                raise ValueError(f'baseline {name} is larger than {MAX_BASELINE_BYTES} bytes')
            data = f.read(MAX_BASELINE_BYTES + 1)
    except OSError as exc:
        raise ValueError(f'cannot read baseline {name}: {exc.strerror}') from None
    if len(data) > MAX_BASELINE_BYTES:
        raise ValueError(f'baseline {name} is larger than {MAX_BASELINE_BYTES} bytes')
    try:
        text = data.decode('utf-8-sig')
    except UnicodeDecodeError as exc:
        raise ValueError(f'baseline {name} is not UTF-8 text (byte {exc.start})') from None

    def constant(word):
        raise ValueError(f'baseline {name} holds {word}: a baseline holds finite numbers')
    try:
        data = json.loads(text, parse_constant=constant)
    except json.JSONDecodeError as exc:
        raise ValueError(f'baseline {name} is not JSON: {exc}') from None
    except RecursionError:          # the parser's depth bound: Python's recursion limit
        raise ValueError(f'baseline {name} is nested too deeply (a baseline nests '
                         f'{BASELINE_DEPTH} levels)') from None
    if not isinstance(data, dict) or data.get('version') != BASELINE_VERSION or \
            not isinstance(data.get('episodes'), dict):
        raise ValueError(f'baseline {name} is not a dip_test baseline (version '
                         f'{BASELINE_VERSION})')
    for key, entry in data['episodes'].items():
        why = _bad_entry(entry)
        if why:
            raise ValueError(f'baseline {name}: episode {key!r}: {why}')
    return data['episodes']


def _number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and \
        math.isfinite(value)


def _bad_entry(entry):
    """Return why a baseline episode entry is not what save_baseline writes, or None."""
    if not isinstance(entry, dict):
        return 'not a mapping'
    metrics = entry.get('metrics', {})
    if not isinstance(metrics, dict):
        return 'metrics is not a mapping'
    for metric, value in metrics.items():
        if isinstance(value, str) and metric == 'ended':
            continue
        if not (value is None or isinstance(value, bool) or _number(value)):
            return f'metrics.{metric} is not a finite number: {value!r:.40}'
    trace = entry.get('trace', {})
    if not isinstance(trace, dict):
        return 'trace is not a mapping'
    if trace:
        lengths = set()
        for key in ('t', 'x', 'th1', 'th2'):
            values = trace.get(key)
            if not isinstance(values, list) or not all(_number(v) for v in values):
                return f'trace.{key} is not a list of finite numbers'
            lengths.add(len(values))
        if len(lengths) != 1:
            return 'trace: t, x, th1, th2 differ in length'
    return None


def _plain(value):
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    raise TypeError(f'{type(value).__name__} is not JSON')


def regressions(old, metrics, trace, section=None):
    """
    Return the regressions of an episode against its baseline entry ``old``, in words.

    ``section``: the scenario's ``regression:`` mapping (empty: the defaults).
    """
    section = section or DEFAULT_REGRESSION
    found = []
    before = old.get('metrics', {})
    for kind in ('relative', 'absolute'):
        for metric, tolerance in (section.get(kind) or {}).items():
            a, b = before.get(metric), metrics.get(metric)
            if a is None or b is None:
                if a is not None and b is None:
                    found.append(f'regression {metric}: old {_fmt(a)}, new not measured')
                continue
            allowed = a * (1.0 + tolerance) if kind == 'relative' else a + tolerance
            if b > allowed + _SLACK:
                what = f'+{tolerance:.0%}' if kind == 'relative' else f'+{tolerance:g}'
                found.append(f'regression {metric}: old {_fmt(a)}, new {_fmt(b)} '
                             f'(allowed {what})')
    limit = section.get('trace')
    if limit is not None and old.get('trace'):
        deviation = trace_deviation(old['trace'], trace)
        if deviation is None:
            found.append('regression trace: the traces do not overlap')
        elif deviation > limit + _SLACK:
            found.append(f'regression trace: deviates by {deviation:.6g} > {limit:g}')
    return found


def trace_deviation(old, new):
    """Return max |new - old| over x, th1, th2 at the old trace's times (None: no overlap)."""
    t_old, t_new = np.asarray(old['t'], float), np.asarray(new['t'], float)
    if t_old.size == 0 or t_new.size == 0:
        return None
    inside = t_old <= t_new[-1] + 1e-9
    if not np.any(inside):
        return None
    worst = 0.0
    for key in ('x', 'th1', 'th2'):
        resampled = np.interp(t_old[inside], t_new, np.asarray(new[key], float))
        worst = max(worst, float(np.max(np.abs(resampled - np.asarray(old[key], float)[inside]))))
    if t_new[-1] + 1e-9 < t_old[-1]:
        return math.inf            # the new run ended before the old one: it did not survive
    return worst


__all__ = ['CRITERIA', 'CriteriaError', 'DEFAULT_REGRESSION', 'decimate', 'judge',
           'load_baseline', 'regressions', 'save_baseline', 'validate']
