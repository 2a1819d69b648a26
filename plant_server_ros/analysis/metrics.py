"""
Metrics of a finished episode, its pass criteria, and a campaign's table (no ROS).

This runs once an episode is over, on its record, never per period.  An
episode record is:

- ``t``: the N+1 sample times [s], increasing strictly (episode time,
  ``t[0] = 0``; every time below is counted from ``t[0]``),
- ``x``: the N+1 states ``[x, th1, th2, xdot, th1dot, th2dot]`` (m, rad;
  absolute angles from upright, 0 = upright), true or measured: the caller
  chooses,
- ``u``: the N forces [N]; ``u[k]`` is held over ``[t[k], t[k+1]]``, whose
  length is ``dt[k] = t[k+1] - t[k]``,
- ``max_force``: the actuator's limit [N], or None (no saturation metrics),
- ``ended``: why the episode ended, e.g. ``'halt: cart left the track ...'``,
  ``'scenario_done'``, ``'reset'``, ``'finished'``, ``'stopped'``.

Every angle is judged wrapped to (-pi, pi] (:func:`~..physics.state.wrap_angle`):
a link swung round once is upright again, not 6.3 rad away.  Every value must
be finite (``max_force`` may be ``inf``: no limit).  An
episode of one sample (N = 0) is allowed: its sums and means are 0.

:func:`episode_metrics` returns a flat dict of floats, ints, bools, strings
and None, so ``json.dumps(metrics, allow_nan=False)`` works; ``None`` (JSON
``null``) stands for a value that does not exist (a settling time of an
episode that never settled).  Its keys:

``duration`` [s]
    ``t[N] - t[0]``.
``steps`` [-]
    N, the number of periods (forces).
``settling_time`` [s] or None
    The first sample time from which every later sample has
    ``|th1| <= band``, ``|th2| <= band`` and ``|x| <= x_band`` up to the end
    of the record (a :class:`SettlingSpec`), provided that stretch lasts at
    least ``hold`` s; None if there is no such time (the last sample is
    outside the band, or the final stretch inside it is shorter than
    ``hold``).  A sampled time: the true entry into the band lies within
    the sample period before it.
``overshoot_th1``, ``overshoot_th2`` [rad]
    The initial deviation's side is the sign of the angle's first non-zero
    sample.  The overshoot is the largest excursion to the opposite side
    (``max(-sign * th)``, >= 0) over every sample from the angle's first
    zero crossing (its first sample strictly on the opposite side) to the
    end; 0 if it never crosses (touching 0 is not a crossing).  For a
    damped oscillation it is the first opposite peak (up to sampling).
``iae_th1``, ``ise_th1``, ``itae_th1`` (and ``_th2``)
    The integrals of ``|th|`` [rad s], ``th^2`` [rad^2 s] and
    ``t * |th|`` [rad s^2] over the record, by the trapezoidal rule on the
    samples ``t`` (sample values only: no interpolation of zero crossings).
``rms_force`` [N]
    ``sqrt(control_energy / duration)``: the root mean square of the
    held force over time (weighted by ``dt[k]``); 0 if ``duration`` is 0.
``peak_force`` [N]
    ``max |u[k]|``; 0 without forces.
``time_in_saturation`` [s]
    The summed ``dt[k]`` of the periods with
    ``|u[k]| >= max_force * (1 - 1e-9)``; 0 when ``max_force`` is None.
``saturation_fraction`` [-]
    ``time_in_saturation / duration`` (a fraction of time, in [0, 1]); 0
    if ``duration`` is 0.
``mean_abs_du`` [N]
    The mean of ``|u[k+1] - u[k]|`` over the N - 1 consecutive pairs
    (chattering, per period, not per second); 0 with fewer than 2 forces.
``sign_changes_per_s`` [1/s]
    The number of sign changes of ``u`` (exact zeros are skipped: 1, 0, -1
    is one change, 1, 0, 1 none) divided by ``duration``; 0 if ``duration``
    is 0.  A square wave of frequency f gives about 2 f.
``control_energy`` [N^2 s]
    ``sum u[k]^2 * dt[k]``, the integral of ``u^2`` over time: a measure of
    control effort, not mechanical work (nor energy in joules).
``control_work`` [J]
    ``sum u[k] * (x[k+1, 0] - x[k, 0])``: approximately the work the force
    did on the cart (its force times the cart's displacement over each
    period); negative when the force brakes the cart.
``max_abs_x`` [m], ``max_abs_th1``, ``max_abs_th2`` [rad]
    The largest ``|x|``, ``|th1|``, ``|th2|`` over every sample.
``upright_time`` [s] or None
    The first sample time at which both links are within ``upright_band``
    (0.1 rad by default) of upright; None if they never are.
``upright_max_abs_theta`` [rad] or None
    The largest ``|th1|``, ``|th2|`` from ``upright_time`` to the end; None
    if never upright.
``halted`` [bool]
    ``ended`` reports a halt of the plant: it starts with ``'halt'`` or
    ``'estop'``, or holds one of the plant's halt wordings (``'pendulum
    fell'``, ``'left the track'``, ``'too fast'``, ``'too high'``,
    ``'non-finite'``, ``'emergency stop'``), case-insensitive.
``fell`` [bool]
    ``max(max_abs_th1, max_abs_th2) > fall_angle`` (for a swing-up, a record
    whose first sample has a link beyond ``fall_angle``: ``upright_max_abs_theta
    > fall_angle``, the fall after it was up), or ``ended`` reports a
    halt for a fall or the track: it holds ``'pendulum fell'`` or
    ``'left the track'``, or it is a halt (above) naming the words
    ``fell``, ``fall``, ``fallen`` or ``track``.
``balanced`` [bool]
    Not ``fell``, not ``halted`` (a halt for speed, an emergency stop or a
    diverged state cut the episode short), and ``duration > 0`` (and, for a
    swing-up, ``upright_time`` not None).  An
    episode a client ended (``'reset'``, ``'stopped'``) may be balanced.
``ended`` [str]
    ``ended`` as given.

:func:`check_criteria` judges the metrics against a scenario's
``criteria:`` mapping (see :data:`CRITERIA`); :func:`campaign_table` makes
one flat row per episode of a campaign (see :data:`TABLE_COLUMNS`).
"""

from dataclasses import dataclass, fields
import math
from numbers import Real
import re

import numpy as np

from ..conditions.criteria import CRITERIA, validate_criteria  # noqa: F401 - the vocabulary
from ..physics.state import wrap_angle

# A force within this fraction of max_force counts as saturated.
SATURATION_TOLERANCE = 1e-9
# Both links within this of upright [rad] count as upright (upright_time).
UPRIGHT_BAND = 0.1
# Slack on the settling hold, for sums of sample periods such as 100 * 0.01.
_HOLD_SLACK = 1e-9

_HALT_WORDINGS = ('pendulum fell', 'left the track', 'too fast', 'too high', 'non-finite',
                  'emergency stop')
_FALL_WORDINGS = ('pendulum fell', 'left the track')
_FALL_WORDS = re.compile(r'\b(fell|fall|fallen|track)\b')

# The metric each criterion reads, where its name is not the metric's own.
_CRITERION_METRIC = {
    'max_overshoot_th1': 'overshoot_th1', 'max_overshoot_th2': 'overshoot_th2',
    'max_ise_th1': 'ise_th1', 'max_ise_th2': 'ise_th2', 'max_itae_th1': 'itae_th1',
    'max_itae_th2': 'itae_th2', 'max_time_in_saturation': 'time_in_saturation',
    'max_saturation_fraction': 'saturation_fraction', 'max_mean_abs_du': 'mean_abs_du',
    'max_sign_changes_per_s': 'sign_changes_per_s', 'max_control_energy': 'control_energy',
    'max_response_ms': 'response_max_ms', 'max_response_p99_ms': 'response_p99_ms',
    'max_deadline_misses': 'deadline_misses', 'min_survived': 'duration',
    'max_compute_fraction': 'compute_fraction_max',
    'upright_by': 'upright_time', 'stay_upright': 'upright_max_abs_theta',
}
# Criteria whose limit is a lower bound (value >= limit); every other is an upper one.
LOWER_BOUNDS = frozenset({'min_survived'})

TABLE_COLUMNS = ('episode', 'scenario', 'ended', 'duration', 'balanced', 'fell',
                 'settling_time', 'max_abs_th1', 'max_abs_th2', 'max_abs_x', 'iae_th1',
                 'iae_th2', 'rms_force', 'peak_force', 'saturation_fraction',
                 'sign_changes_per_s', 'passed', 'failed')


@dataclass(frozen=True)
class SettlingSpec:
    """The band the state must settle into, and for how long (see ``settling_time``)."""

    band: float = 0.02    # on |th1| and |th2| [rad]
    x_band: float = 0.05  # on |x| [m]
    hold: float = 1.0     # the final stretch inside the band must last this long [s]

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            if not _is_number(value) or math.isnan(value) or value < 0.0 or \
                    (f.name != 'hold' and value == 0.0):
                kind = '>= 0' if f.name == 'hold' else '> 0'
                raise ValueError(f'SettlingSpec.{f.name} must be a number {kind}, '
                                 f'got {value!r}')


def _is_number(value):
    return isinstance(value, Real) and not isinstance(value, bool)


def _trapezoid(values, t):
    return float(np.sum(0.5 * (values[1:] + values[:-1]) * np.diff(t)))


def _settling_time(t, x, spec):
    inside = (np.abs(x[:, 1]) <= spec.band) & (np.abs(x[:, 2]) <= spec.band) & \
        (np.abs(x[:, 0]) <= spec.x_band)
    outside = np.flatnonzero(~inside)
    first = 0 if outside.size == 0 else int(outside[-1]) + 1
    if first >= len(t) or t[-1] - t[first] < spec.hold - _HOLD_SLACK:
        return None
    return float(t[first] - t[0])


def _overshoot(angle):
    nonzero = np.flatnonzero(angle)
    if nonzero.size == 0:
        return 0.0
    opposite = -np.sign(angle[nonzero[0]]) * angle
    crossed = np.flatnonzero(opposite > 0.0)
    if crossed.size == 0:
        return 0.0
    return float(np.max(opposite[crossed[0]:]))


def _sign_changes(u):
    signs = np.sign(u[u != 0.0])
    return int(np.count_nonzero(signs[1:] != signs[:-1]))


def _halted(text):
    return text.startswith(('halt', 'estop')) or any(w in text for w in _HALT_WORDINGS)


def _fell_by_halt(text):
    return any(w in text for w in _FALL_WORDINGS) or \
        (_halted(text) and _FALL_WORDS.search(text) is not None)


def _record(t, x, u):
    t = np.asarray(t, dtype=float)
    x = np.asarray(x, dtype=float)
    u = np.asarray(u, dtype=float)
    if t.ndim != 1 or t.size < 1:
        raise ValueError(f't must be a 1-D sequence of at least one time, got shape {t.shape}')
    n = t.size - 1
    if x.shape != (n + 1, 6):
        raise ValueError(f'x must be {n + 1} x 6 (one state per time of t), got shape '
                         f'{x.shape}')
    if u.shape != (n,):
        raise ValueError(f'u must hold {n} forces (one per period of t), got shape {u.shape}')
    for name, values in (('t', t), ('x', x), ('u', u)):
        if not np.all(np.isfinite(values)):
            raise ValueError(f'{name} must be finite')
    if np.any(np.diff(t) <= 0.0):
        raise ValueError('t must increase strictly')
    return t, x, u


def episode_metrics(t, x, u, max_force=None, ended='', settling=SettlingSpec(),
                    fall_angle=0.6, upright_band=UPRIGHT_BAND):
    """
    Return the metrics of one episode record (keys in the module docstring).

    ``t``, ``x``, ``u`` are array-likes of N+1 times, N+1 x 6 states and N
    forces; ``max_force`` [N] is the actuator's limit or None; ``ended`` is
    why the episode ended; ``settling`` a :class:`SettlingSpec`;
    ``fall_angle`` [rad] the angle beyond which the pendulum fell;
    ``upright_band`` [rad] how near upright counts as up.  Raises
    ValueError on a record of the wrong shape, non-finite values, times
    that do not increase, or a limit that is not a number > 0.
    """
    t, x, u = _record(t, x, u)
    if max_force is not None and (not _is_number(max_force) or math.isnan(max_force) or
                                  max_force < 0.0):
        raise ValueError(f'max_force must be None or a number >= 0, got {max_force!r}')
    if not _is_number(fall_angle) or math.isnan(fall_angle) or fall_angle <= 0.0:
        raise ValueError(f'fall_angle must be a number > 0, got {fall_angle!r}')
    if not _is_number(upright_band) or math.isnan(upright_band) or upright_band <= 0.0:
        raise ValueError(f'upright_band must be a number > 0, got {upright_band!r}')
    if not isinstance(settling, SettlingSpec):
        raise ValueError(f'settling must be a SettlingSpec, got {settling!r}')
    ended = '' if ended is None else str(ended)
    x = x.copy()
    x[:, 1:3] = wrap_angle(x[:, 1:3])     # unchanged to the bit within (-pi, pi]

    n = u.size
    dt = np.diff(t)
    since = t - t[0]
    duration = float(since[-1])

    out = {'duration': duration, 'steps': int(n),
           'settling_time': _settling_time(t, x, settling)}
    for i, name in ((1, 'th1'), (2, 'th2')):
        out[f'overshoot_{name}'] = _overshoot(x[:, i])
    for i, name in ((1, 'th1'), (2, 'th2')):
        magnitude = np.abs(x[:, i])
        out[f'iae_{name}'] = _trapezoid(magnitude, t)
        out[f'ise_{name}'] = _trapezoid(magnitude ** 2, t)
        out[f'itae_{name}'] = _trapezoid(since * magnitude, t)

    energy = float(np.sum(u ** 2 * dt))
    out['rms_force'] = math.sqrt(energy / duration) if duration > 0.0 else 0.0
    out['peak_force'] = float(np.max(np.abs(u))) if n else 0.0
    if max_force is None:
        saturated = 0.0
    else:
        saturated = float(np.sum(dt[np.abs(u) >= max_force * (1.0 - SATURATION_TOLERANCE)]))
    out['time_in_saturation'] = saturated
    out['saturation_fraction'] = saturated / duration if duration > 0.0 else 0.0
    out['mean_abs_du'] = float(np.mean(np.abs(np.diff(u)))) if n >= 2 else 0.0
    out['sign_changes_per_s'] = _sign_changes(u) / duration if duration > 0.0 else 0.0
    out['control_energy'] = energy
    out['control_work'] = float(np.sum(u * np.diff(x[:, 0])))

    for i, name in ((0, 'x'), (1, 'th1'), (2, 'th2')):
        out[f'max_abs_{name}'] = float(np.max(np.abs(x[:, i])))
    worst = np.maximum(np.abs(x[:, 1]), np.abs(x[:, 2]))
    up = np.flatnonzero(worst <= upright_band)
    out['upright_time'] = float(since[up[0]]) if up.size else None
    out['upright_max_abs_theta'] = float(np.max(worst[up[0]:])) if up.size else None
    text = ended.lower()
    halted = _halted(text)
    swing_up = worst[0] > fall_angle
    if swing_up:
        fell = (up.size > 0 and out['upright_max_abs_theta'] > fall_angle) or \
            _fell_by_halt(text)
    else:
        fell = max(out['max_abs_th1'], out['max_abs_th2']) > fall_angle or _fell_by_halt(text)
    out['halted'] = halted
    out['fell'] = fell
    out['balanced'] = not fell and not halted and duration > 0.0 and \
        not (swing_up and up.size == 0)
    out['ended'] = ended
    return out


def _criterion_value(metrics, name):
    if name == 'max_abs_theta':
        return max(metrics['max_abs_th1'], metrics['max_abs_th2'])
    return metrics.get(_CRITERION_METRIC.get(name, name))


def check_criteria(metrics, criteria):
    """
    Judge ``metrics`` (of :func:`episode_metrics`) against a ``criteria`` mapping.

    Return ``{'passed': bool, 'checks': [{'criterion', 'limit', 'value',
    'passed'}, ...]}``, one check per criterion in the mapping's order
    (:data:`CRITERIA` says what each one checks); ``passed`` is True when
    every check passed (so also for no criteria: an empty mapping or None).
    Raises ValueError naming an unknown criterion, or one whose limit is not
    a number (a bool for ``balanced``), before checking anything.
    """
    criteria = validate_criteria(criteria)
    checks = []
    for name, limit in criteria.items():
        value = _criterion_value(metrics, name)
        if name == 'balanced':
            passed = bool(value) == limit
        elif value is None:
            passed = False
        elif name in LOWER_BOUNDS:
            passed = bool(value >= limit)
        else:
            passed = bool(value <= limit)
        checks.append({'criterion': name, 'limit': limit, 'value': value, 'passed': passed})
    return {'passed': all(c['passed'] for c in checks), 'checks': checks}


def campaign_table(rows):
    """
    Return one flat dict per episode of a campaign, its columns :data:`TABLE_COLUMNS`.

    ``rows`` holds ``(episode_index, scenario_name, metrics, criteria)``
    tuples (``criteria`` a scenario's mapping, or None).  Each row has the
    episode's index and scenario, its main metrics, ``passed`` (of
    :func:`check_criteria`) and ``failed``: the failed criteria's names,
    joined by ``', '`` (``''`` if none failed).
    """
    table = []
    for episode, scenario, metrics, criteria in rows:
        verdict = check_criteria(metrics, criteria)
        row = {'episode': episode, 'scenario': scenario}
        for column in TABLE_COLUMNS[2:-2]:
            row[column] = metrics[column]
        row['passed'] = verdict['passed']
        row['failed'] = ', '.join(c['criterion'] for c in verdict['checks'] if not c['passed'])
        table.append(row)
    return table
