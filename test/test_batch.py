"""PlantBatch: lanes agree with the single plant per condition, halts, resets, bad input."""

from dataclasses import replace
import math
from pathlib import Path

from _replay_draws import ReplayDraws
import numpy as np
from plant_server_ros.batch import PlantBatch, REASONS
from plant_server_ros.batch.draws import episode_seed
from plant_server_ros.clients.controllers import lqr_gain
from plant_server_ros.conditions.scenario import load, Scenario, ScenarioPlayer
from plant_server_ros.physics.batch import BatchDynamics, LaneParams
from plant_server_ros.physics.dynamics import DIPDynamics, DIPParams
from plant_server_ros.runtime.lockstep import LockstepSchedule
from plant_server_ros.runtime.plant import Plant
from plant_server_ros.runtime.schedule import PlantHalted
import pytest

SEED = 11
SCENARIOS = Path(__file__).resolve().parents[1] / 'config' / 'scenarios'
N = 3
LANE = 1


GAIN = lqr_gain(0.01)


def forces(k, measured, closed_loop):
    """Excitation, with LQR feedback on the measurement so that 1,000 periods stay up."""
    u = 1.0 * math.sin(k / 9.0) + 0.5 * math.cos(k / 2.3)
    if closed_loop:      # a non-finite reading (a nonfinite fault) is read as 0
        u -= float(GAIN @ np.nan_to_num(np.asarray(measured), nan=0.0, posinf=0.0,
                                        neginf=0.0))
    else:
        u *= 12.0
    return u


def gap(a, b):
    """Return the largest difference of two readings (the same non-finite value: 0)."""
    return max(0.0 if (x == y or (math.isnan(x) and math.isnan(y))) else abs(x - y)
               for x, y in zip(a, b))


def run_both(values, steps=1000, noise=0.0, closed_loop=True, **batch_args):
    """Drive lane LANE of a batch and the single plant of that episode; worst differences."""
    scene = Scenario.from_dict({'name': 'equivalence', **values})
    es = episode_seed(SEED, LANE, 1)
    batch = PlantBatch(N, scene, seed=SEED, sensor_noise_std=noise,
                       draws=ReplayDraws(N, es, LANE), **batch_args)
    plant = Plant(sensor_noise_std=noise, scenarios=ScenarioPlayer([replace(scene, seed=es)]),
                  **batch_args)
    schedule = LockstepSchedule(plant)
    schedule.start()
    assert batch.params.lane(LANE) == plant.dynamics.params
    worst_true = worst_measured = 0.0
    first = schedule.last_sample
    worst_measured = gap(first.measured, batch.measured[LANE])
    measured = first.measured
    for k in range(steps):
        u = forces(k, measured, closed_loop)
        try:
            sample = schedule.control(u)
        except PlantHalted:
            assert batch.halted[LANE]
            break
        measured = batch.step(np.full(N, u))[LANE]
        worst_true = max(worst_true, max(abs(a - b) for a, b in
                                         zip(sample.true, batch.lane_state(LANE))))
        worst_measured = max(worst_measured, gap(sample.measured, measured))
        assert abs(sample.force - batch.last_force[LANE]) <= 1e-12
        assert bool(batch.halted[LANE]) == (plant.fault is not None), k
    assert k == steps - 1 or batch.halted[LANE]
    return worst_true, worst_measured, batch, plant


CONDITIONS = {
    'nothing': {},
    'sensor_noise': {'sensor': {'noise_std': [0.001, 0.01, 0.01, 0.02, 0.05, 0.05]}},
    'sensor_bias_quantum': {'sensor': {'noise_std': 0.002, 'bias': [0.01, 0, 0.002, 0, 0, 0],
                                       'quantum': [0.0005, 0.001, 0.001, 0, 0, 0]}},
    'sensor_drift': {'sensor': {'noise_std': [0.001, 0, 0.002, 0, 0.01, 0],
                                'drift_std': [0.001, 0.0005, 0, 0, 0, 0.01]}},
    'uncertainty': {'uncertainty': {'masses': 0.1, 'lengths': 0.05, 'coms': 0.05,
                                    'inertias': 0.05, 'frictions': 0.1}},
    'deadband': {'actuator': {'max_force': 15.0, 'deadband': 0.5}},
    'actuator_dynamics': {'actuator': {'time_constant': 0.01, 'slew_rate': 1000.0,
                                       'delay': 1}},
    'disturbance_steps_pulses': {'disturbances': [
        {'kind': 'pulse', 'channel': 'force', 'amplitude': 5.0, 'start': 2.0,
         'duration': 0.1},
        {'kind': 'pulse', 'channel': 'force', 'amplitude': -3.0, 'start': 3.003,
         'duration': 0.0125},
        {'kind': 'step', 'channel': 'tau1', 'amplitude': 0.01, 'start': 1.0, 'end': 4.5}]},
    'disturbance_sine_noise': {'disturbances': [
        {'kind': 'sine', 'channel': 'tau2', 'amplitude': 0.01, 'frequency': 1.5,
         'start': 0.5},
        {'kind': 'noise', 'channel': 'force', 'std': 0.3},
        {'kind': 'noise', 'channel': 'tau1', 'std': 0.005, 'bandwidth': 5.0,
         'start': 1.0}]},
    'safety': {'safety': {'fall_angle': 0.5, 'track_limit': 1.5}},
    'duration': {'duration': 3.0},
}


@pytest.mark.parametrize('name', sorted(CONDITIONS))
def test_a_lane_agrees_with_the_single_plant_of_its_episode(name):
    noise = 0.01 if name == 'nothing' else 0.0
    worst_true, worst_measured, batch, _ = run_both(CONDITIONS[name], noise=noise)
    assert batch.steps[LANE] == (300 if name == 'duration' else 1000), batch.reason(LANE)
    assert worst_true <= 1e-12, name
    assert worst_measured <= 1e-12, name


def test_saturation_agrees_with_the_plant():
    # The plant's own limit (Plant(max_force=...)): a scenario's actuator.max_force
    # alone does not reach the plant's inline saturation (runtime/plant.py).
    worst_true, worst_measured, batch, _ = run_both({}, max_force=6.0)
    assert worst_true <= 1e-12 and worst_measured <= 1e-12
    assert batch.steps[LANE] > 100


def test_a_period_cut_by_a_pulse_edge_is_integrated_piece_by_piece(monkeypatch):
    cut = []
    original = PlantBatch._integrate_cut

    def spy(self, new, force, pieces, live):
        cut.append(dict(pieces))
        return original(self, new, force, pieces, live)

    monkeypatch.setattr(PlantBatch, '_integrate_cut', spy)
    worst_true, _, _, _ = run_both(CONDITIONS['disturbance_steps_pulses'])
    assert worst_true <= 1e-12
    assert len(cut) >= 2                         # the 3.003 s pulse: its start and its end
    assert all(len(p) == 2 for pieces in cut for p in pieces.values())


def test_all_conditions_at_once_agree_too():
    values = {}
    for name in ('sensor_bias_quantum', 'uncertainty', 'actuator_dynamics',
                 'disturbance_steps_pulses', 'disturbance_sine_noise', 'duration'):
        values.update(CONDITIONS[name])
    worst_true, worst_measured, batch, plant = run_both(values)
    assert worst_true <= 1e-12 and worst_measured <= 1e-12
    assert batch.reason_code[LANE] == REASONS.index('scenario_done')
    assert batch.reason(LANE) == plant.fault


def motor(kind, **keys):
    return {'kind': kind, 'target': 'motor', **keys}


# Every fault kind of docs/faults.md, each pattern at least once, and the
# patterns' own draws (an intermittent [low, high]) beside a kind's (spikes, noise).
FAULTS = {
    'motor_bias_ramp': [motor('bias', value=2.0, start=1.0, duration=2.0, pattern='ramp',
                              over=0.5)],
    'motor_gain_sine': [motor('gain', value=0.5, pattern='sine', frequency=0.7, phase=0.3)],
    'motor_stuck_intermittent': [motor('stuck', start=0.5, duration=6.0,
                                       pattern='intermittent', on=[0.02, 0.08],
                                       off=[0.1, 0.4])],
    'motor_loss_intermittent': [motor('loss', start=1.0, pattern='intermittent', on=0.03,
                                      off=0.3)],
    'motor_reversed': [motor('reversed', start=2.0, duration=0.03)],
    'motor_overload': [motor('overload', limit=2.5, hold=0.03, cooldown=0.02)],
    'motor_gain_then_bias': [motor('gain', value=0.5, start=1.0),
                             motor('bias', value=0.3, start=1.5, duration=1.0)],
    'sensor_gain_ramp': [{'kind': 'gain', 'target': 'theta1', 'value': 1.1, 'pattern': 'ramp',
                          'over': 2.0}],
    'sensor_jump': [{'kind': 'jump', 'target': 'x', 'value': 0.01, 'start': 1.0},
                    {'kind': 'jump', 'target': 'theta2', 'value': -0.002, 'start': 2.0}],
    'sensor_spikes': [{'kind': 'spikes', 'target': 'theta2', 'rate': 30.0, 'size': 0.01,
                       'start': 0.5, 'pattern': 'intermittent', 'on': [0.2, 0.5],
                       'off': [0.1, 0.3]}],
    'sensor_noise': [{'kind': 'noise', 'target': 'theta1_dot', 'std': 0.05,
                      'pattern': 'intermittent', 'on': [0.1, 0.3], 'off': [0.05, 0.2]},
                     {'kind': 'noise', 'target': 'x', 'std': 0.002, 'pattern': 'sine',
                      'frequency': 0.5}],
    'sensor_nonfinite': [{'kind': 'nonfinite', 'target': 'x_dot', 'start': 2.0,
                          'duration': 0.05},
                         {'kind': 'nonfinite', 'target': 'theta2', 'value': 'inf',
                          'start': 3.0, 'duration': 0.02}],
    'sensor_freeze': [{'kind': 'freeze', 'target': 'theta1', 'pattern': 'intermittent',
                       'on': 0.03, 'off': 0.05, 'start': 0.2}],
    'parameter_drift': [{'kind': 'drift', 'target': 'cart_friction', 'value': 1.0,
                         'pattern': 'ramp', 'over': 5.0},
                        {'kind': 'drift', 'target': 'cart_friction', 'value': 0.5,
                         'start': 2.0, 'duration': 1.0},
                        {'kind': 'drift', 'target': 'link2_mass', 'value': 0.2,
                         'pattern': 'sine', 'frequency': 0.3}],
}


def test_every_fault_kind_is_tested_in_lanes():
    from plant_server_ros.conditions.faults import KINDS
    kinds = {f['kind'] for faults in FAULTS.values() for f in faults}
    assert kinds == set(KINDS)


@pytest.mark.parametrize('name', sorted(FAULTS))
def test_a_lane_with_faults_agrees_with_the_single_plant(name):
    values = {'faults': FAULTS[name], 'sensor': {'noise_std': 0.001}}
    if name == 'motor_stuck_intermittent':
        values['disturbances'] = CONDITIONS['disturbance_steps_pulses']['disturbances']
    worst_true, worst_measured, batch, plant = run_both(values)
    assert batch.steps[LANE] == 1000, batch.reason(LANE)
    assert worst_true <= 1e-12, name
    assert worst_measured <= 1e-12, name


def test_faults_change_the_lanes_as_they_change_the_plant():
    # The case: a motor at half torque is not the healthy motor.
    healthy = Scenario.from_dict({'name': 'healthy'})
    weak = Scenario.from_dict({'name': 'weak', 'faults': [motor('gain', value=0.5)]})
    ends = []
    for scene in (healthy, weak):
        batch = PlantBatch(2, scene, seed=1, sensor_noise_std=0.0)
        for _ in range(20):
            batch.step(np.full(2, 4.0))
        ends.append(batch.state)
    assert not np.array_equal(ends[0], ends[1])
    assert ends[1][0, 3] == pytest.approx(ends[0][0, 3] / 2, rel=0.05)


SHIPPED = sorted(str(p.relative_to(SCENARIOS)) for p in SCENARIOS.rglob('*.yaml')
                 if p.name not in ('campaign.yaml', 'faults.yaml'))


def test_the_shipped_scenarios_are_all_checked():
    assert {'nominal.yaml', 'jittery_network.yaml', 'faults/fault_half_torque.yaml'} <= \
        set(SHIPPED)
    assert len(SHIPPED) >= 10


@pytest.mark.parametrize('path', SHIPPED)
def test_a_shipped_scenario_plays_the_same_in_a_lane_or_is_refused_by_name(path):
    scene = load(SCENARIOS / path)[0]
    refused = PlantBatch.refusal(scene)
    if refused:
        with pytest.raises(ValueError, match=r'PlantBatch does not model network .* refused'):
            PlantBatch(N, scene, seed=SEED)
        assert path == 'jittery_network.yaml'
        return
    values = {k: v for k, v in scene.describe().items()
              if k not in ('name', 'seed', 'criteria')}
    worst_true, worst_measured, batch, plant = run_both(values, steps=600, noise=0.01)
    assert worst_true <= 1e-12, path
    assert worst_measured <= 1e-12, path


def test_a_halt_is_flagged_with_the_plants_reason_and_the_lane_frozen():
    _, _, batch, plant = run_both(CONDITIONS['safety'], closed_loop=False)
    assert batch.halted.all()
    assert batch.reason(LANE) == plant.fault
    frozen = batch.state
    batch.step(np.ones(N))
    assert np.array_equal(batch.state, frozen)


def test_the_physics_is_the_scalar_plants_to_rounding():
    rng = np.random.default_rng(0)
    n = 64
    states = rng.normal(0.0, 0.5, (n, 6))
    u = rng.normal(0.0, 10.0, n)
    params = [DIPParams(cart_mass=1.0 + 0.01 * i) for i in range(n)]
    batch = BatchDynamics(LaneParams.from_list(params))
    out = batch.step(tuple(states.T), u, 0.01)
    for i in range(n):
        single = DIPDynamics(params[i]).step(states[i], u[i], 0.01)
        assert max(abs(out[c][i] - single[c]) for c in range(6)) <= 1e-13


def test_lanes_are_reproducible_from_the_seed_and_go_their_own_way():
    scene = {'name': 'r', 'uncertainty': {'masses': 0.1}, 'sensor': {'noise_std': 0.01}}
    runs = []
    for _ in range(2):
        batch = PlantBatch(8, scene, seed=5)
        out = [batch.step(np.linspace(-5, 5, 8)) for _ in range(50)]
        runs.append((np.array(out), batch.params.cart_mass.copy()))
    assert np.array_equal(runs[0][0], runs[1][0])
    assert np.array_equal(runs[0][1], runs[1][1])
    assert len(set(runs[0][1].tolist())) == 8            # each lane its own plant
    other = PlantBatch(8, scene, seed=6)
    assert not np.array_equal(other.params.cart_mass, runs[0][1])


def test_resetting_chosen_lanes_leaves_the_others_untouched():
    batch = PlantBatch(4, {'name': 'r', 'uncertainty': {'masses': 0.1}}, seed=2,
                       sensor_noise_std=0.0)
    for _ in range(20):
        batch.step(np.full(4, 3.0))
    before = batch.state
    masses = batch.params.cart_mass.copy()
    batch.reset([1, 3], state=[0.0, 0.1, 0.0, 0.0, 0.0, 0.0])
    after = batch.state
    assert np.array_equal(after[[0, 2]], before[[0, 2]])
    assert np.array_equal(after[[1, 3]], np.tile([0.0, 0.1, 0.0, 0.0, 0.0, 0.0], (2, 1)))
    assert batch.steps.tolist() == [20, 0, 20, 0]
    assert batch.episode.tolist() == [1, 2, 1, 2]
    assert masses[0] == batch.params.cart_mass[0] and masses[1] != batch.params.cart_mass[1]


def test_given_per_lane_parameters_and_limits_are_used():
    params = LaneParams(3, cart_mass=[1.0, 1.5, 2.0])
    batch = PlantBatch(3, params=params, max_force=[1.0, 5.0, 50.0], sensor_noise_std=0.0)
    batch.step(np.full(3, 30.0))
    assert batch.last_force.tolist() == [1.0, 5.0, 30.0]
    assert batch.params.cart_mass.tolist() == [1.0, 1.5, 2.0]


def test_a_nan_force_halts_only_its_lane():
    batch = PlantBatch(3, sensor_noise_std=0.0)
    batch.step(np.array([1.0, np.nan, -1.0]))
    assert batch.halted.tolist() == [False, True, False]
    assert REASONS[batch.reason_code[1]] == 'nonfinite_force'
    assert 'not finite' in batch.reason(1)
    assert batch.lane_state(1) == (0.0, 0.05, -0.03, 0.0, 0.0, 0.0)
    assert batch.steps.tolist() == [1, 0, 1]
    reference = PlantBatch(1, sensor_noise_std=0.0)
    reference.step(np.array([1.0]))
    assert batch.lane_state(0) == reference.lane_state(0)


def test_a_diverging_lane_halts_as_the_plant_does():
    batch = PlantBatch(2, sensor_noise_std=0.0, max_force=1e300, track_limit=1e308)
    batch.reset([1], state=[0.0, 0.0, 0.0, 0.0, 1e200, 0.0])
    batch.step(np.zeros(2))
    assert batch.halted.tolist() == [False, True]
    assert REASONS[batch.reason_code[1]] == 'nonfinite_state'
    assert batch.lane_state(1) == (0.0, 0.0, 0.0, 0.0, 1e200, 0.0)


@pytest.mark.parametrize('bad, match', [
    ({'n': 0}, 'n'), ({'n': -3}, 'n'), ({'n': 2.5}, 'n'),
    ({'n': 2, 'max_force': [1.0, 2.0, 3.0]}, 'max_force'),
    ({'n': 2, 'params': LaneParams(3)}, 'params'),
    ({'n': 2, 'scenario': {'name': 'd', 'sensor': {'dropout': 0.1}}}, 'sensor.dropout'),
    ({'n': 2, 'scenario': {'name': 'd', 'sensor': {'delay': 1}}}, 'sensor.delay'),
    ({'n': 2, 'scenario': {'name': 'd', 'sensor': {'stuck_from': 1.0}}}, 'sensor.stuck_from'),
    ({'n': 2, 'scenario': {'name': 'd', 'sensor': {'velocities': 'derived'}}},
     'sensor.velocities'),
    ({'n': 2, 'scenario': {'name': 'd', 'network': {'loss': 0.1}}}, 'network'),
])
def test_bad_construction_is_refused_clearly(bad, match):
    with pytest.raises(ValueError, match=match):
        PlantBatch(**bad)


def test_bad_step_and_reset_input_is_refused_and_changes_nothing():
    batch = PlantBatch(3, sensor_noise_std=0.0)
    state = batch.state
    for u in (np.zeros(2), np.zeros((3, 1)), 1.0):
        with pytest.raises(ValueError, match='shape'):
            batch.step(u)
    with pytest.raises(ValueError, match='shape'):
        batch.reset([0, 1], state=np.zeros((3, 6)))
    with pytest.raises(ValueError, match='track'):
        batch.reset([0], state=[5.0, 0, 0, 0, 0, 0])
    with pytest.raises(ValueError, match='range'):
        batch.reset([7])
    assert np.array_equal(batch.state, state) and batch.episode.tolist() == [1, 1, 1]


@pytest.mark.parametrize('kernel', ['numba', 'numba-parallel'])
def test_the_compiled_kernel_agrees_with_the_numpy_reference(kernel):
    pytest.importorskip('numba', reason='the optional compiled kernel (pip install numba)')
    scene = {'name': 'k', 'uncertainty': {'masses': 0.1}, 'sensor': {'noise_std': 0.01},
             'disturbances': [{'kind': 'step', 'channel': 'tau1', 'amplitude': 0.01,
                               'start': 0.1}]}
    runs = []
    for which in ('numpy', kernel):
        batch = PlantBatch(64, scene, seed=3, kernel=which)
        for k in range(300):
            batch.step(-batch.measured @ GAIN + math.sin(k / 7.0))
        runs.append(batch.state)
    assert np.abs(runs[0] - runs[1]).max() <= 1e-12


def test_a_batch_beyond_the_machines_memory_is_refused_before_anything_is_made():
    with pytest.raises(ValueError, match=r'lanes need about .* GiB; this machine has'):
        PlantBatch(10 ** 12)


@pytest.mark.parametrize('call, match', [
    (lambda b: b.reset([-1]), r'out of range \[0, 3\)'),
    (lambda b: b.reset([0], seeds=[-5]), 'seeds must be integers'),
    (lambda b: b.reset([0], seeds=[1.5]), 'seeds must be integers'),
    (lambda b: b.reason(99), r'lane must be an index in \[0, 3\)'),
    (lambda b: b.reason(-1), r'lane must be an index in \[0, 3\)'),
    (lambda b: b.step(np.array([1j, 0, 0])), 'u must be real numbers'),
    (lambda b: b.step([None, None, None]), 'u must be real numbers'),
])
def test_bad_lanes_seeds_and_forces_are_refused_by_name(call, match):
    batch = PlantBatch(N, seed=1)
    before = batch.state
    with pytest.raises(ValueError, match=match):
        call(batch)
    assert np.array_equal(batch.state, before)


@pytest.mark.parametrize('kwargs, match', [
    ({'seed': -1}, 'seed must be an integer'), ({'seed': 1.5}, 'seed must be an integer'),
    ({'scenario': 42}, 'scenario must be a file name, a mapping or a Scenario'),
    ({'scenario': {'uncertainty': {'masses': 0.999}}}, r'in \[0, 0.99\]'),
])
def test_bad_seeds_and_scenarios_are_refused_by_name(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PlantBatch(2, **kwargs)
