"""The plant's per-period behaviour, without ROS."""

import math

import numpy as np
from plant_server_ros.physics.state import InvalidStateError
from plant_server_ros.runtime.plant import Plant
import pytest


def test_force_saturates_and_holds():
    plant = Plant(max_force=10.0, sensor_noise_std=0.0)
    assert plant.set_control(50.0) == 10.0
    assert plant.set_control(-50.0) == -10.0
    plant.step()
    plant.step()
    assert plant.last_applied_force == -10.0


@pytest.mark.parametrize('bad', [math.nan, math.inf, -math.inf])
def test_non_finite_control_refused_and_state_untouched(bad):
    plant = Plant(sensor_noise_std=0.0)
    plant.set_control(1.0)
    with pytest.raises(ValueError):
        plant.set_control(bad)
    assert plant.commanded_force == 1.0
    plant.step()
    assert all(math.isfinite(s) for s in plant.state)


def test_control_timeout_applies_zero_force_until_next_control():
    plant = Plant(dt=0.01, control_timeout=0.05, sensor_noise_std=0.0)
    plant.set_control(3.0)
    applied = []
    for _ in range(8):
        plant.step()
        applied.append(plant.last_applied_force)
    assert applied[:5] == [3.0] * 5 and applied[5:] == [0.0] * 3
    assert plant.control_timed_out
    plant.set_control(2.0)
    plant.step()
    assert plant.last_applied_force == 2.0 and not plant.control_timed_out


def test_reset_to_initial_and_to_given_state():
    plant = Plant(sensor_noise_std=0.0)
    plant.set_control(5.0)
    for _ in range(10):
        plant.step()
    plant.reset()
    assert plant.state == plant.initial_state and plant.time == 0.0
    assert plant.commanded_force == 0.0
    plant.reset([0.1, 0.2, -0.1, 0, 0, 0])
    assert plant.state == (0.1, 0.2, -0.1, 0.0, 0.0, 0.0)
    assert plant.total_steps == 10


@pytest.mark.parametrize('state', [[0.0] * 5, [3.0, 0, 0, 0, 0, 0], [0, math.nan, 0, 0, 0, 0],
                                   ['a'] * 6])
def test_reset_refuses_invalid_states(state):
    plant = Plant(track_limit=2.0)
    with pytest.raises(InvalidStateError):
        plant.reset(state)


def test_leaving_the_track_stops_integration_until_reset():
    plant = Plant(track_limit=0.05, sensor_noise_std=0.0, control_timeout=0.0)
    plant.set_control(20.0)
    while plant.fault is None:
        assert plant.step()
    frozen = plant.state
    assert 'track' in plant.fault
    assert not plant.step() and plant.state == frozen
    plant.reset()
    assert plant.fault is None and plant.step()


def test_noise_statistics_with_seed():
    plant = Plant(sensor_noise_std=0.05, seed=42)
    errors = np.array([np.subtract(plant.measure(), plant.state) for _ in range(20000)])
    assert np.all(np.abs(errors.mean(axis=0)) < 0.002)
    np.testing.assert_allclose(errors.std(axis=0), 0.05, rtol=0.03)


def test_noise_free_and_reproducible():
    assert Plant(sensor_noise_std=0.0).measure() == Plant().initial_state
    a, b = Plant(seed=7), Plant(seed=7)
    assert [a.measure() for _ in range(5)] == [b.measure() for _ in range(5)]


def test_force_switch_inside_a_period_acts_from_then_on():
    plant = Plant(dt=0.01, sensor_noise_std=0.0)
    start = plant.state
    plant.set_control(5.0, at=0.004)      # arrives 4 ms into the period
    plant.step()
    dyn = plant.dynamics
    expected = dyn.step(dyn.step(start, 0.0, 0.004), 5.0, 0.006)
    assert plant.state == pytest.approx(expected, rel=0, abs=1e-15)
    assert plant.last_applied_force == 5.0
    # Held afterwards, over whole periods.
    before = plant.state
    plant.step()
    assert plant.state == pytest.approx(dyn.step(before, 5.0, 0.01), rel=0, abs=1e-15)


def test_preview_is_what_step_commits_and_controls_refresh_it():
    plant = Plant(sensor_noise_std=0.0)
    plant.set_control(1.0)
    first = plant.preview()
    plant.set_control(-2.0, at=0.005)
    second = plant.preview()
    assert second != first and second[1] == -2.0
    plant.step()
    assert plant.state == second[0]


def test_control_arriving_in_a_fail_safe_period_leaves_its_start_unforced():
    plant = Plant(dt=0.01, control_timeout=0.02, sensor_noise_std=0.0)
    plant.set_control(8.0)
    plant.step()
    plant.step()                                 # 0.02 s without control: timeout due now
    start = plant.state
    plant.set_control(3.0, at=0.005)
    plant.step()
    dyn = plant.dynamics
    expected = dyn.step(dyn.step(start, 0.0, 0.005), 3.0, 0.005)
    assert plant.state == pytest.approx(expected, rel=0, abs=1e-15)


def test_a_scenarios_own_force_limit_saturates_the_plain_path_too():
    from plant_server_ros.conditions.scenario import Scenario, ScenarioPlayer
    scenario = Scenario.from_dict({'name': 'weak', 'actuator': {'max_force': 5.0}})
    plant = Plant(max_force=20.0, scenarios=ScenarioPlayer([scenario]))
    assert plant.set_control(12.0) == 5.0 and plant.set_control(-12.0) == -5.0
    plant.set_max_force(8.0)                     # a run-time change wins from then on
    assert plant.set_control(12.0) == 8.0
