"""
Tests precise enough to catch a wrong constant in the condition models.

Each model is checked on its whole documented distribution and on every
channel, so a draw that only scales up, a jitter at half its spread, a limit
that checks one joint or a finiteness check that skips a field fails here.
"""

import math
import random
import statistics

from plant_server_ros.conditions.network import NetworkModel
from plant_server_ros.conditions.safety import SafetyLimits
from plant_server_ros.conditions.uncertainty import GROUPS, PARAMETERS, ParameterUncertainty
from plant_server_ros.physics.dynamics import DIPParams
import pytest

N = 4000


@pytest.mark.parametrize('fraction', [0.05, 0.3])
def test_parameter_draws_cover_minus_f_to_plus_f_for_every_parameter(fraction):
    nominal = DIPParams()
    uncertainty = ParameterUncertainty({group: fraction for group in GROUPS})
    rng = random.Random(5)
    scales = {name: [] for name in PARAMETERS}
    for _ in range(N):
        drawn = uncertainty.draw(nominal, rng)
        for name in PARAMETERS:
            scales[name].append(getattr(drawn, name) / getattr(nominal, name) - 1.0)
    for name, s in scales.items():
        # U(-f, f): mean 0, std f / sqrt(3), both ends reached (U(0, f) fails each).
        assert abs(statistics.fmean(s)) < 0.05 * fraction, name
        assert statistics.pstdev(s) == pytest.approx(fraction / math.sqrt(3), rel=0.05), name
        assert min(s) < -0.95 * fraction and max(s) > 0.95 * fraction, name
        assert -fraction <= min(s) and max(s) <= fraction, name
        assert sum(v < 0 for v in s) == pytest.approx(N / 2, rel=0.1), name


def test_uniform_jitter_spans_0_to_twice_its_setting():
    model = NetworkModel(latency_ms=2.0, jitter_ms=4.0, jitter='uniform', seed=1)
    delays = [model.delay() - 0.002 for _ in range(N)]
    # Uniform on [0, 2 jitter]: mean jitter, std 2 jitter / sqrt(12).
    assert statistics.fmean(delays) == pytest.approx(0.004, rel=0.03)
    assert statistics.pstdev(delays) == pytest.approx(0.008 / math.sqrt(12), rel=0.05)
    assert min(delays) >= 0.0 and max(delays) <= 0.008
    assert max(delays) > 0.0078 and min(delays) < 0.0002


def test_normal_jitter_has_its_std_truncated_at_zero_delay():
    model = NetworkModel(latency_ms=100.0, jitter_ms=5.0, jitter='normal', seed=2)
    delays = [model.delay() - 0.1 for _ in range(N)]
    assert abs(statistics.fmean(delays)) < 0.0005
    assert statistics.pstdev(delays) == pytest.approx(0.005, rel=0.05)
    low = NetworkModel(latency_ms=0.0, jitter_ms=5.0, jitter='normal', seed=2)
    assert min(low.delay() for _ in range(N)) == 0.0        # truncated, never negative


@pytest.mark.parametrize('channel, name', [(4, 'theta1dot'), (5, 'theta2dot')])
@pytest.mark.parametrize('sign', [1.0, -1.0])
def test_joint_rate_limit_checks_each_joint_both_ways(channel, name, sign):
    limits = SafetyLimits(max_joint_rate=3.0)
    state = [0.0] * 6
    state[channel] = sign * 3.01
    assert 'joint rate too high' in limits.check(state, 0.0)
    state[channel] = sign * 2.99
    assert limits.check(state, 0.0) is None


@pytest.mark.parametrize('channel, limit, words', [
    (0, 'track_limit', 'left the track'), (1, 'fall_angle', 'fell'),
    (2, 'fall_angle', 'fell'), (3, 'max_cart_speed', 'too fast')])
@pytest.mark.parametrize('sign', [1.0, -1.0])
def test_every_other_safety_limit_checks_its_channel_both_ways(channel, limit, words, sign):
    limits = SafetyLimits(**{limit: 1.0})
    state = [0.0] * 6
    state[channel] = sign * 1.001
    assert words in limits.check(state, 0.0)
    state[channel] = sign * 0.999
    assert limits.check(state, 0.0) is None
