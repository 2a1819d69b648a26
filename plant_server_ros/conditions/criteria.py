"""
What a scenario's ``criteria:`` section may hold: each criterion's name and what it checks.

A scenario is checked when it is loaded, so a typo is refused before it is
run; the judging itself (metrics of the episode against these limits) is
:func:`~..analysis.metrics.check_criteria`'s.
"""

import math
from numbers import Real

# Each criterion a scenario's criteria: mapping may hold, and what it checks
# (docs/test_your_controller.md has them in one table).  The timing ones
# judge what the test runner measures (plant_server_ros.testing.timing);
# a record without them (dip_report) fails those checks.
CRITERIA = {
    'max_abs_theta': 'max(max_abs_th1, max_abs_th2) <= limit [rad]',
    'max_abs_x': 'max_abs_x <= limit [m]',
    'settling_time': 'settled (settling_time not None) and settling_time <= limit [s]',
    'max_overshoot_th1': 'overshoot_th1 <= limit [rad]',
    'max_overshoot_th2': 'overshoot_th2 <= limit [rad]',
    'max_ise_th1': 'ise_th1 <= limit [rad^2 s]',
    'max_ise_th2': 'ise_th2 <= limit [rad^2 s]',
    'max_itae_th1': 'itae_th1 <= limit [rad s^2]',
    'max_itae_th2': 'itae_th2 <= limit [rad s^2]',
    'rms_force': 'rms_force <= limit [N]',
    'peak_force': 'peak_force <= limit [N]',
    'max_time_in_saturation': 'time_in_saturation <= limit [s]',
    'max_saturation_fraction': 'saturation_fraction <= limit [-]',
    'max_mean_abs_du': 'mean_abs_du <= limit [N] (chattering, per period)',
    'max_sign_changes_per_s': 'sign_changes_per_s <= limit [1/s] (chattering)',
    'max_control_energy': 'control_energy <= limit [N^2 s]',
    'max_response_ms': 'response_max_ms <= limit [ms] (state sent -> control received)',
    'max_response_p99_ms': 'response_p99_ms <= limit [ms]',
    'max_deadline_misses': 'deadline_misses <= limit [-] (controls after the next sample '
                           'was due)',
    'max_compute_fraction': 'compute_fraction_max <= limit [-] (a controller on its own chip: '
                            'its worst cycles per step / its clock / dt; docs/serial.md)',
    'min_survived': 'duration >= limit [s] (survived until, from the start of the episode)',
    'balanced': 'balanced == limit (true or false)',
    'upright_by': 'upright_time <= limit [s] (both links within 0.1 rad of upright, angles '
                  'wrapped; never upright fails)',
    'stay_upright': 'upright_max_abs_theta <= limit [rad] (from upright_time to the end; '
                    'never upright fails)',
}


def _is_number(value):
    return isinstance(value, Real) and not isinstance(value, bool)


def validate_criteria(criteria):
    """
    Return ``criteria`` (a mapping, or None for none) as a dict, or raise ValueError.

    The error names an unknown criterion, or one whose limit is not a number
    (a bool for ``balanced``); scenarios call this when they are loaded.
    """
    if criteria is None:
        return {}
    if not isinstance(criteria, dict):
        raise ValueError(f'criteria must be a mapping, got {criteria!r}')
    criteria = dict(criteria)
    for name, limit in criteria.items():
        if name not in CRITERIA:
            raise ValueError(f'criteria.{name} is not a criterion (one of {sorted(CRITERIA)})')
        if name == 'balanced':
            if not isinstance(limit, bool):
                raise ValueError(f'criteria.balanced must be true or false, got {limit!r}')
        elif not _is_number(limit) or math.isnan(limit):
            raise ValueError(f'criteria.{name} must be a number, got {limit!r}')
    return criteria


# Criteria on a whole set of episodes (a campaign entry with ``episodes: N``),
# judged on the set's pass rate (plant_server_ros.testing.set_verdict), not on
# one episode's metrics: a set entry's ``criteria:`` holds these only.
SET_CRITERIA = {
    'pass_rate': 'the one-sided Clopper-Pearson lower bound of the pass rate at '
                 '`confidence` >= `min` ({min: 0.99, confidence: 0.95})',
}
PASS_RATE_KEYS = ('min', 'confidence')
DEFAULT_CONFIDENCE = 0.95


def validate_set_criteria(criteria):
    """
    Return a set's ``criteria`` (a mapping, or None) as a dict, or raise ValueError.

    ``pass_rate`` takes ``min`` in [0, 1] and ``confidence`` in (0, 1)
    (default :data:`DEFAULT_CONFIDENCE`); the error names the key.
    """
    if criteria is None:
        return {}
    if not isinstance(criteria, dict):
        raise ValueError(f'criteria must be a mapping, got {criteria!r}')
    out = {}
    for name, value in criteria.items():
        if name not in SET_CRITERIA:
            raise ValueError(f'criteria.{name} is not a criterion of a set of episodes (one '
                             f'of {sorted(SET_CRITERIA)}; the criteria of each episode go '
                             'in its scenario)')
        if not isinstance(value, dict) or 'min' not in value:
            raise ValueError(f'criteria.{name} must be a mapping with min (and confidence), '
                             f'got {value!r}')
        unknown = sorted(str(k) for k in value if k not in PASS_RATE_KEYS)
        if unknown:
            raise ValueError(f'criteria.{name}: {", ".join(unknown)} is not a key (one of '
                             f'{list(PASS_RATE_KEYS)})')
        low = value['min']
        if not _is_number(low) or not 0.0 <= low <= 1.0:
            raise ValueError(f'criteria.{name}.min must be a number in [0, 1], got {low!r}')
        confidence = value.get('confidence', DEFAULT_CONFIDENCE)
        if not _is_number(confidence) or not 0.0 < confidence < 1.0:
            raise ValueError(f'criteria.{name}.confidence must be a number in (0, 1), got '
                             f'{confidence!r}')
        out[name] = {'min': float(low), 'confidence': float(confidence)}
    return out
