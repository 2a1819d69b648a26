"""
One period is the exact solution to 1e-9 anywhere in the state space (issue 28).

The reference is this file's own: scipy's DOP853 (rtol = atol = 1e-12) on
the closed-form accelerations of :mod:`plant_server_ros.physics.equations`
(the model's equations, not its integrator), from random states with any
angles, |theta dot| <= 40 rad/s, |x dot| <= 5 m/s and forces within
+-max_force.  ``bench/bench_accuracy.py`` does the same over 10,000 states.
"""

import math

import numpy as np
from plant_server_ros.physics.batch import BatchDynamics, LaneParams
from plant_server_ros.physics.dynamics import DIPDynamics, DIPParams
from plant_server_ros.physics.equations import make_accel, model_constants
from plant_server_ros.physics.substeps import MAX_SUBSTEPS, SubstepRule
import pytest
from scipy.integrate import solve_ivp

DT = 0.01
MAX_FORCE = 20.0          # the settings table's default max_force
BOUND = 1e-9


def reference(params, state, u, dt, disturbance=(0.0, 0.0, 0.0)):
    """Integrate the model's equations with DOP853 over ``dt`` under held inputs."""
    f, tau1, tau2 = disturbance
    accel = make_accel(model_constants(params), math.sin, math.cos, torques=True)

    def rhs(_, y):
        return (y[3], y[4], y[5]) + accel(y[1], y[2], y[3], y[4], y[5], u + f,
                                          tau1 - tau2, tau2)
    return solve_ivp(rhs, (0.0, dt), state, method='DOP853', rtol=1e-12,
                     atol=1e-12).y[:, -1]


def random_cases(n, seed):
    """Return ``n`` (params, state, force) with any angles, fast links, any force."""
    rng = np.random.default_rng(seed)
    cases = []
    for k in range(n):
        mass = rng.uniform(0.9, 1.1, 3)
        params = DIPParams(cart_mass=1.5 * mass[0], link1_mass=0.2 * mass[1],
                           link2_mass=0.15 * mass[2])
        turns = 1.0 if k % 4 else 8.0           # a quarter many turns round
        rate = (2.0, 8.0, 20.0, 40.0)[k % 4]
        state = (rng.uniform(-1.0, 1.0), rng.uniform(-turns, turns) * math.pi,
                 rng.uniform(-turns, turns) * math.pi, rng.uniform(-5.0, 5.0),
                 rng.uniform(-rate, rate), rng.uniform(-rate, rate))
        cases.append((params, state, rng.uniform(-MAX_FORCE, MAX_FORCE)))
    return cases


def error(a, b):
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b))))


def test_one_period_of_the_plant_is_exact_to_1e9_anywhere():
    worst = 0.0
    for params, state, u in random_cases(120, seed=1):
        worst = max(worst, error(DIPDynamics(params).step(state, u, DT),
                                 reference(params, state, u, DT)))
    assert worst <= BOUND


def test_with_disturbance_forces_and_torques_too():
    rng = np.random.default_rng(2)
    worst = 0.0
    for params, state, u in random_cases(40, seed=3):
        disturbance = (rng.uniform(-5.0, 5.0), rng.uniform(-2.0, 2.0), rng.uniform(-2.0, 2.0))
        worst = max(worst, error(DIPDynamics(params).step(state, u, DT, disturbance),
                                 reference(params, state, u, DT, disturbance)))
    assert worst <= BOUND


def test_rk4_keeps_the_bound_too():
    worst = 0.0
    for params, state, u in random_cases(16, seed=4):
        model = DIPDynamics(params, integrator='rk4')
        worst = max(worst, error(model.step(state, u, DT), reference(params, state, u, DT)))
    assert worst <= BOUND


@pytest.mark.parametrize('kernel', ['numpy', 'numba'])
def test_batch_lanes_are_exact_and_equal_the_plant_per_lane(kernel):
    if kernel == 'numba':
        pytest.importorskip('numba', reason='the optional compiled kernel (pip install numba)')
    cases = random_cases(96, seed=5)
    params = [c[0] for c in cases]
    states = np.array([c[1] for c in cases])
    u = np.array([c[2] for c in cases])
    batch = BatchDynamics(LaneParams.from_list(params), kernel=kernel)
    out = np.array(batch.step(tuple(states.T.copy()), u, DT)).T
    for i, (p, state, force) in enumerate(cases):
        assert error(out[i], DIPDynamics(p).step(state, force, DT)) <= 1e-12
        if i % 3 == 0:                       # the reference is the slow part
            assert error(out[i], reference(p, state, force, DT)) <= BOUND


def test_lanes_of_a_cut_period_take_the_rule_per_lane_dt():
    cases = random_cases(24, seed=6)
    params = [c[0] for c in cases]
    states = np.array([c[1] for c in cases])
    u = np.array([c[2] for c in cases])
    dt = np.linspace(0.001, DT, len(cases))
    out = np.array(BatchDynamics(LaneParams.from_list(params)).step(
        tuple(states.T.copy()), u, dt)).T
    for i, (p, state, force) in enumerate(cases):
        assert error(out[i], DIPDynamics(p).step(state, force, float(dt[i]))) <= 1e-12


@pytest.mark.parametrize('dt', [0.02, 0.05])
def test_a_longer_period_is_cut_into_chunks_and_keeps_the_bound(dt):
    cases = random_cases(24, seed=10)
    batch = BatchDynamics(LaneParams.from_list([c[0] for c in cases]))
    out = np.array(batch.step(tuple(np.array([c[1] for c in cases]).T.copy()),
                              np.array([c[2] for c in cases]), dt)).T
    for i, (params, state, u) in enumerate(cases):
        single = DIPDynamics(params).step(state, u, dt)
        assert error(single, reference(params, state, u, dt)) <= BOUND
        assert error(out[i], single) <= 1e-12


def test_near_upright_a_period_is_one_step_as_before():
    rule = SubstepRule('rk6')
    assert rule.count(DT, 1.5, -2.0, MAX_FORCE) == 1
    assert rule.count(DT, 0.0, 0.0, 0.0) == 1
    assert SubstepRule('rk6', 3).count(DT, 1.0, 1.0, 5.0) == 3    # the configured floor


def test_the_count_grows_with_the_rate_and_is_bounded():
    rule = SubstepRule('rk6')
    counts = [rule.count(DT, w, -w, 5.0) for w in (2.0, 5.0, 10.0, 20.0, 40.0)]
    assert counts == sorted(counts) and counts[0] == 1 and counts[-1] > 10
    assert rule.count(DT, 1e9, 0.0, 0.0) == MAX_SUBSTEPS
    assert rule.count(DT, math.nan, 0.0, 0.0) == 1          # the step then halts the plant
    lanes = rule.counts(DT, np.array([0.0, 10.0, 40.0, math.inf]), np.zeros(4),
                        np.array([0.0, 5.0, 20.0, 0.0]))
    assert lanes.tolist() == [rule.count(DT, w, 0.0, f)
                              for w, f in ((0.0, 0.0), (10.0, 5.0), (40.0, 20.0))] + [1]
    assert np.all(rule.counts(DT, np.full(8, 1.5), np.full(8, -2.0), np.full(8, 20.0)) == 1)
    assert rule.counts(DT, np.full(8, 0.5), np.full(8, -1.0), np.full(8, 20.0)) == 1


# -- the compiled step (opt-in: compiled_step) -------------------------------------------
def test_the_compiled_step_is_the_python_step_to_the_bit():
    pytest.importorskip('numba', reason='the optional compiled step (pip install numba)')
    rng = np.random.default_rng(7)
    for params, state, u in random_cases(60, seed=8):
        disturbance = None if rng.random() < 0.5 else tuple(rng.uniform(-0.5, 0.5, 3))
        compiled = DIPDynamics(params, compiled=True)
        assert compiled.step(state, u, DT, disturbance) == \
            DIPDynamics(params).step(state, u, DT, disturbance)
        assert compiled.with_params(params).compiled


def test_a_plant_on_the_compiled_step_plays_the_reference_run():
    pytest.importorskip('numba', reason='the optional compiled step (pip install numba)')
    from plant_server_ros.runtime.lockstep import LockstepSchedule
    from plant_server_ros.runtime.plant import Plant
    runs = []
    for compiled in (False, True):
        schedule = LockstepSchedule(Plant(DIPDynamics(compiled=compiled), seed=7,
                                          sensor_noise_std=0.01))
        schedule.start()
        runs.append([schedule.control(8.0 * math.sin(k / 7.0)) for k in range(300)])
    assert runs[0] == runs[1]


def test_compiled_step_without_numba_is_refused_by_name(monkeypatch):
    from plant_server_ros.physics import batch_numba
    from plant_server_ros.runtime.host import PlantHost
    from plant_server_ros.runtime.settings import SettingError
    monkeypatch.setattr(batch_numba, 'numba', None)
    monkeypatch.setattr(batch_numba, '_SCALAR', {})
    with pytest.raises(SettingError, match='compiled_step.*numba'):
        PlantHost({'compiled_step': True})
