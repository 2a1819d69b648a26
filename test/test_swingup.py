"""Swing-up: wrapped angles, the upright criteria and metrics, the plan and its controller."""

import math

import numpy as np
from plant_server_ros.analysis.metrics import check_criteria, episode_metrics
from plant_server_ros.conditions.criteria import validate_criteria
from plant_server_ros.conditions.safety import SafetyLanes, SafetyLimits
from plant_server_ros.physics.state import wrap_angle
import pytest

HANGING = (0.0, math.pi, math.pi, 0.0, 0.0, 0.0)


@pytest.mark.parametrize('angle, wrapped', [
    (0.0, 0.0), (0.3, 0.3), (-0.3, -0.3), (math.pi, math.pi), (-math.pi, math.pi),
    (2 * math.pi, 0.0), (3 * math.pi, math.pi), (-3 * math.pi, math.pi),
    (2 * math.pi + 0.25, 0.25), (-2 * math.pi - 0.25, -0.25)])
def test_wrap_angle_maps_to_minus_pi_exclusive_pi_inclusive(angle, wrapped):
    assert wrap_angle(angle) == pytest.approx(wrapped, abs=1e-12)
    assert wrap_angle(np.array([angle]))[0] == pytest.approx(wrapped, abs=1e-12)


def test_wrap_angle_leaves_an_angle_within_range_unchanged_to_the_bit():
    angles = np.linspace(-math.pi + 1e-9, math.pi, 1001)
    assert np.array_equal(wrap_angle(angles), angles)
    assert all(wrap_angle(float(a)) == a for a in angles[::50])


def _swing_record(upright_at=2.0, duration=5.0, dt=0.01, fall_at=None, turns=1):
    """Links from pi to a full turn past upright (2 pi * turns), reached at ``upright_at``."""
    t = np.arange(0.0, duration + dt / 2, dt)
    angle = np.where(t < upright_at, math.pi + (2 * math.pi * turns - math.pi) *
                     t / upright_at, 2 * math.pi * turns)
    if fall_at is not None:
        angle = np.where(t >= fall_at, 2 * math.pi * turns + 1.0, angle)
    x = np.zeros((t.size, 6))
    x[:, 1] = angle
    x[:, 2] = angle
    return t, x, np.zeros(t.size - 1)


def test_a_link_swung_round_once_is_upright_in_every_metric():
    m = episode_metrics(*_swing_record(), ended='scenario_done')
    assert m['max_abs_th1'] == pytest.approx(math.pi)
    assert 1.9 < m['upright_time'] <= 2.0         # within 0.1 rad: 0.064 s before
    assert m['upright_max_abs_theta'] <= 0.1      # its first sample inside the band
    assert not m['fell'] and m['balanced']
    verdict = check_criteria(m, {'upright_by': 3.0, 'stay_upright': 0.3})
    assert verdict['passed']
    late = check_criteria(m, {'upright_by': 1.5})
    assert not late['passed'] and late['checks'][0]['value'] == m['upright_time']


def test_a_fall_after_the_swing_up_fails_stay_upright_and_is_a_fall():
    m = episode_metrics(*_swing_record(fall_at=4.0), ended='scenario_done')
    assert m['upright_max_abs_theta'] == pytest.approx(1.0)
    assert m['fell'] and not m['balanced']
    assert not check_criteria(m, {'upright_by': 3.0, 'stay_upright': 0.3})['passed']


def test_never_upright_fails_both_criteria_and_is_not_balanced():
    t = np.arange(0.0, 2.0, 0.01)
    x = np.tile(HANGING, (t.size, 1))
    m = episode_metrics(t, x, np.zeros(t.size - 1), ended='scenario_done')
    assert m['upright_time'] is None and m['upright_max_abs_theta'] is None
    assert not m['fell'] and not m['balanced']
    verdict = check_criteria(m, {'upright_by': 10.0, 'stay_upright': 0.3})
    assert [c['passed'] for c in verdict['checks']] == [False, False]


def test_a_balancing_episode_keeps_its_old_fall_rule():
    t = np.arange(0.0, 1.0, 0.01)
    x = np.zeros((t.size, 6))
    x[:, 1] = 0.05
    x[50:, 1] = 0.7                          # tilted past the fall angle, never wrapped
    m = episode_metrics(t, x, np.zeros(t.size - 1), ended='scenario_done')
    assert m['upright_time'] == 0.0 and m['fell'] and not m['balanced']


@pytest.mark.parametrize('criteria', [{'upright_by': 'soon'}, {'stay_upright': True},
                                      {'upright_by': float('nan')}])
def test_bad_upright_limits_are_refused(criteria):
    with pytest.raises(ValueError, match='must be a number'):
        validate_criteria(criteria)


def test_the_fall_limit_judges_the_wrapped_angle():
    limits = SafetyLimits(fall_angle=0.6)
    assert limits.check((0.0, 2 * math.pi + 0.1, 0.0, 0.0, 0.0, 0.0), 1.0) is None
    assert 'pendulum fell' in limits.check((0.0, 2 * math.pi + 0.7, 0.0, 0.0, 0.0, 0.0), 1.0)
    lanes = SafetyLanes(limits, np.array([1.0, 1.0]))
    columns = np.array([[0.0, 0.0], [2 * math.pi + 0.1, 2 * math.pi + 0.7],
                        [0.0, 0.0], [0.0, 0.0], [0.0, 0.0], [0.0, 0.0]])
    assert list(lanes.check(columns)) == [0, 2]


# -- the plan and the reference controller -----------------------------------------

def test_the_shipped_plan_starts_hanging_ends_upright_within_its_limits():
    from plant_server_ros.clients.swingup_plan import load_plan, rk4_period, _accel
    from plant_server_ros.physics.dynamics import DIPParams
    plan = load_plan()
    x, u = plan['x'], plan['u']
    np.testing.assert_allclose(x[0], HANGING, atol=1e-9)
    np.testing.assert_allclose(x[-1], np.zeros(6), atol=1e-9)
    assert np.max(np.abs(u)) <= plan['force_margin'] * plan['max_force'] + 1e-9
    assert np.max(np.abs(x[:, 0])) <= plan['track_margin'] * plan['track_limit'] + 1e-6
    # Consistent with the model: each period is the RK4 step of the one before.
    accel = _accel(DIPParams())
    stepped = rk4_period(accel, x[:-1].T, u, plan['dt']).T
    assert np.max(np.abs(stepped - x[1:])) < 1e-5


def test_a_plan_file_that_is_not_one_is_refused(tmp_path):
    from plant_server_ros.clients.swingup_plan import load_plan
    bad = tmp_path / 'plan.json'
    bad.write_text('{"version": 1, "x": [[0, 0, 0, 0, 0, 0]], "u": [1.0]}')
    with pytest.raises(ValueError, match='N\\+1 finite states'):
        load_plan(bad)


def test_the_reference_controller_swings_the_nominal_plant_up_and_holds_it():
    from plant_server_ros.clients.swingup import SwingUp
    from plant_server_ros.testing.runner import run_campaign
    result = run_campaign('swingup_nominal.yaml', controller=SwingUp(max_force=30.0))
    episode = result.episodes[0]
    assert episode.passed, episode.failures
    assert episode.metrics['upright_time'] < 4.0
    assert episode.metrics['upright_max_abs_theta'] < 0.3


def test_the_controller_starts_over_when_the_episode_time_goes_back():
    from plant_server_ros.clients.swingup import SwingUp
    controller = SwingUp(max_force=30.0)
    first = controller(HANGING, 0.0)
    for k in range(1, 50):
        controller(HANGING, k * 0.01)
    assert controller(HANGING, 0.0) == first


def test_dip_client_swings_up_through_dip_test_over_tcp(tmp_path):
    import sys
    from plant_server_ros.testing.runner import run_campaign
    command = [sys.executable, '-m', 'plant_server_ros.clients.cli', '--port', '{port}',
               '--controller', 'swingup', '--seconds', '{duration}', '--max-force', '30']
    result = run_campaign('swingup_nominal.yaml', command, per_episode=True, out=tmp_path,
                          figures=True)
    episode = result.episodes[0]
    assert episode.passed, episode.failures
    assert episode.metrics['upright_time'] < 4.0


@pytest.mark.slow
def test_dip_controller_swings_up_through_dip_test_under_the_ros_door(tmp_path):
    """Its --ros-args stay its own: dip_test's rclpy context does not parse them."""
    pytest.importorskip('rclpy')
    import sys
    from plant_server_ros.testing.runner import run_campaign
    command = [sys.executable, '-m', 'plant_server_ros.ros.controller_node', '--ros-args',
               '-r', '__ns:={namespace}', '-p', 'law:=swingup', '-p', 'estimator:=none',
               '-p', 'max_force:=30.0']
    argv = sys.argv
    sys.argv = [argv[0], '--', *command]       # as the dip_test command line holds them
    try:
        result = run_campaign('swingup_nominal.yaml', command, door='ros', out=tmp_path)
    finally:
        sys.argv = argv
    episode = result.episodes[0]
    assert episode.passed, episode.failures
