"""The actuator model: saturation, deadband, lag, slew limit, delay."""

import math
import random

from plant_server_ros.conditions.actuator import ActuatorModel
import pytest

DT = 0.01


def test_saturation_then_deadband():
    act = ActuatorModel(DT, max_force=10.0, deadband=0.5)
    assert act.shape(50.0) == 10.0
    assert act.shape(-50.0) == -10.0
    assert act.shape(3.25) == 3.25
    assert act.shape(-3.25) == -3.25
    assert act.shape(0.49) == 0.0
    assert act.shape(-0.49) == 0.0
    assert act.shape(0.5) == 0.5          # |u| < deadband only
    assert act.shape(-0.5) == -0.5
    assert act.shape(0.0) == 0.0


def test_ideal_actuator_is_its_shape():
    act = ActuatorModel(DT, max_force=10.0, deadband=0.2)
    assert not act.dynamic
    rng = random.Random(1)
    for _ in range(200):
        u = rng.uniform(-15.0, 15.0)
        assert act.step(u) == act.shape(u)
        assert act.output == act.shape(u)


@pytest.mark.parametrize('kwargs', [{'slew_rate': 100.0}, {'time_constant': 0.02},
                                    {'delay': 1}])
def test_dynamic_when_any_memory(kwargs):
    assert ActuatorModel(DT, **kwargs).dynamic


@pytest.mark.parametrize('tau', [0.005, 0.02, 0.37])
def test_lag_step_response_is_the_closed_form_at_every_sample(tau):
    act = ActuatorModel(DT, time_constant=tau)
    for k in range(1, 301):
        force = act.step(1.0)             # held over period k-1, reached at t = k dt
        assert abs(force - (1.0 - math.exp(-k * DT / tau))) < 1e-12


def test_lag_scales_with_the_target_and_saturates_first():
    act = ActuatorModel(DT, max_force=5.0, time_constant=0.05)
    for k in range(1, 50):
        assert act.step(-8.0) == pytest.approx(-5.0 * (1.0 - math.exp(-k * DT / 0.05)),
                                               abs=1e-12)


@pytest.mark.parametrize('target', [7.3, -4.1])
def test_slew_rate_ramps_exactly_then_holds(target):
    rate = 120.0                          # N/s: 1.2 N per period
    act = ActuatorModel(DT, slew_rate=rate)
    outputs = [act.step(target) for _ in range(12)]
    ramp = int(abs(target) // (rate * DT))
    previous = 0.0
    for k, force in enumerate(outputs):
        if k < ramp:
            assert abs(force - previous) == pytest.approx(rate * DT, abs=1e-12)
            assert force == pytest.approx(math.copysign((k + 1) * rate * DT, target),
                                          abs=1e-12)
        else:
            assert force == target        # reached exactly, then held
        previous = force
    # Back to zero at the same rate.
    down = [act.step(0.0) for _ in range(12)]
    assert abs(down[0] - target) == pytest.approx(rate * DT, abs=1e-12)
    assert down[-1] == 0.0


def test_slew_never_exceeds_its_rate_with_a_lag():
    rate = 50.0
    act = ActuatorModel(DT, slew_rate=rate, time_constant=0.01)
    rng = random.Random(3)
    previous = 0.0
    for _ in range(500):
        force = act.step(rng.uniform(-20.0, 20.0))
        assert abs(force - previous) <= rate * DT + 1e-12
        previous = force


@pytest.mark.parametrize('delay', [1, 3, 7])
def test_delay_by_exactly_k_periods(delay):
    act = ActuatorModel(DT, max_force=10.0, deadband=0.1, delay=delay)
    rng = random.Random(delay)
    commands = [rng.uniform(-12.0, 12.0) for _ in range(100)]
    outputs = [act.step(u) for u in commands]
    assert outputs[:delay] == [0.0] * delay
    assert outputs[delay:] == [act.shape(u) for u in commands[:-delay]]


def test_reset_clears_output_and_delay_line():
    act = ActuatorModel(DT, delay=2, time_constant=0.03, slew_rate=400.0)
    for _ in range(20):
        act.step(9.0)
    assert act.output != 0.0
    act.reset()
    assert act.output == 0.0
    fresh = ActuatorModel(DT, delay=2, time_constant=0.03, slew_rate=400.0)
    assert [act.step(u) for u in (1.0, 2.0, 3.0, 4.0)] == \
        [fresh.step(u) for u in (1.0, 2.0, 3.0, 4.0)]


def test_max_force_may_change_between_periods():
    act = ActuatorModel(DT, max_force=10.0)
    assert act.step(15.0) == 10.0
    act.max_force = 4.0
    assert act.step(15.0) == 4.0


@pytest.mark.parametrize('bad', [math.nan, math.inf, -math.inf])
def test_non_finite_command_refused(bad):
    act = ActuatorModel(DT, time_constant=0.02, delay=1)
    act.step(1.0)
    with pytest.raises(ValueError):
        act.step(bad)
    assert math.isfinite(act.step(0.0))


@pytest.mark.parametrize('kwargs, name', [
    ({'dt': 0.0}, 'dt'),
    ({'dt': -0.01}, 'dt'),
    ({'dt': math.inf}, 'dt'),
    ({'dt': math.nan}, 'dt'),
    ({'max_force': -1.0}, 'max_force'),
    ({'max_force': math.nan}, 'max_force'),
    ({'deadband': -0.1}, 'deadband'),
    ({'deadband': math.inf}, 'deadband'),
    ({'max_force': 20.0, 'deadband': 25.0}, 'deadband'),
    ({'slew_rate': 0.0}, 'slew_rate'),
    ({'slew_rate': -5.0}, 'slew_rate'),
    ({'slew_rate': math.nan}, 'slew_rate'),
    ({'time_constant': -0.1}, 'time_constant'),
    ({'time_constant': math.inf}, 'time_constant'),
    ({'delay': -1}, 'delay'),
    ({'delay': 1.5}, 'delay'),
    ({'delay': 2.0}, 'delay'),
    ({'delay': True}, 'delay'),
])
def test_nonsense_refused_naming_the_argument(kwargs, name):
    kwargs = {'dt': DT, **kwargs}
    with pytest.raises(ValueError, match=name):
        ActuatorModel(**kwargs)
