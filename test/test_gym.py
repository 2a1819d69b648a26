"""The Gymnasium environments: API checks, registration, autoreset, agreement with the batch."""

import ast
from pathlib import Path
import warnings

import numpy as np
import pytest

# Without gymnasium its tests skip, not the module: a module-level skip ends the
# collection of the whole folder under launch_testing's plugin (colcon test).
try:
    import gymnasium
except ImportError:
    gymnasium = None
else:
    from gymnasium.utils.env_checker import check_env
    from plant_server_ros.gym import ENV_ID, register
    from plant_server_ros.gym.env import DoubleInvertedPendulumEnv
    from plant_server_ros.gym.vector_env import DIPVectorEnv

pytestmark = pytest.mark.skipif(gymnasium is None,
                                reason='the gym extra (pip install gymnasium)')

SETUP = Path(__file__).resolve().parents[1] / 'setup.py'


@pytest.fixture(autouse=True)
def quiet_checker():
    with warnings.catch_warnings():
        # The checker's advice on the force Box (+/-max_force, not [-1, 1]) and
        # on the unbounded observation: deliberate, the plant's units.
        warnings.filterwarnings('ignore', message='.*(normalized|infinity).*')
        yield


def test_the_single_env_passes_gymnasiums_checker():
    register()
    env = gymnasium.make(ENV_ID, scenario='masses_10pct.yaml', render_mode='rgb_array')
    check_env(env.unwrapped)
    env.reset(seed=0)
    frame = env.render()
    assert frame.shape == (300, 600, 3) and frame.dtype == np.uint8
    assert len(np.unique(frame.reshape(-1, 3), axis=0)) >= 5    # rail, cart, links, tip


def test_registration_through_the_module_and_the_entry_point():
    register()
    register()                                   # idempotent
    assert ENV_ID in gymnasium.registry
    env = gymnasium.make(f'plant_server_ros.gym:{ENV_ID}')
    assert isinstance(env.unwrapped, DoubleInvertedPendulumEnv)
    tree = ast.parse(SETUP.read_text())
    groups = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values):
                if isinstance(key, ast.Constant) and key.value == 'gymnasium.envs':
                    groups = value
    assert isinstance(groups, ast.List) and len(groups.elts) == 1
    entry = ast.unparse(groups.elts[0])
    assert 'plant_server_ros.gym:register' in entry.replace('{PACKAGE}', 'plant_server_ros')
    extras = [n for n in ast.walk(tree) if isinstance(n, ast.Constant) and n.value == 'gym']
    assert extras, 'setup.py has no gym extra'


def test_termination_truncation_info_and_a_replaceable_reward():
    env = DoubleInvertedPendulumEnv(scenario={'name': 'short', 'duration': 0.05},
                                    reward_fn=lambda state, force, limit: 2.5)
    obs, info = env.reset(seed=4)
    assert info['events'][0][1] == 'episode'
    for k in range(5):
        obs, reward, terminated, truncated, info = env.step(np.array([1.0]))
    assert reward == 2.5 and truncated and not terminated
    assert 'complete' in info['reason'] and info['events'][-1][1] == 'scenario_done'
    assert info['state'].shape == (6,) and info['t'] == pytest.approx(0.05)
    env = DoubleInvertedPendulumEnv(scenario={'name': 'fall', 'safety': {'fall_angle': 0.1}})
    env.reset(seed=1)
    for _ in range(200):
        _, _, terminated, truncated, info = env.step(np.array([20.0]))
        if terminated:
            break
    assert terminated and not truncated and 'fell' in info['reason']
    with pytest.raises(ValueError, match='not finite'):
        env.reset(seed=1)
        env.step(np.array([np.nan]))


def make_vec(n=4, **kwargs):
    register()
    return gymnasium.make_vec(ENV_ID, num_envs=n, vectorization_mode='vector_entry_point',
                              **kwargs)


def test_make_vec_builds_the_batch_env_and_follows_the_vector_api():
    envs = make_vec(4, scenario='masses_10pct.yaml')
    assert isinstance(envs.unwrapped, DIPVectorEnv)
    assert envs.metadata['autoreset_mode'] == gymnasium.vector.AutoresetMode.NEXT_STEP
    obs, info = envs.reset(seed=7)
    assert obs in envs.observation_space and obs.shape == (4, 6)
    again, _ = envs.reset(seed=7)
    assert np.array_equal(obs, again)                       # reset seed determinism
    actions = envs.action_space.sample()
    assert actions in envs.action_space
    out1 = envs.step(actions)
    envs.reset(seed=7)
    out2 = envs.step(actions)
    for a, b in zip(out1[:4], out2[:4]):
        assert np.array_equal(a, b)                          # step determinism
    assert out1[0] is not out2[0] and out1[0] in envs.observation_space
    assert out1[1].dtype == np.float64 and out1[2].dtype == bool and out1[3].dtype == bool
    assert set(out1[4]) >= {'state', 'force', 't', 'episode_seed', 'reason'}


def test_a_lane_draws_the_plant_of_the_single_env_with_its_seed():
    envs = DIPVectorEnv(3, 'masses_10pct.yaml')
    envs.reset(seed=20)
    for i in range(3):
        single = DoubleInvertedPendulumEnv('masses_10pct.yaml')
        _, info = single.reset(seed=20 + i)
        assert envs.batch.params.lane(i) == info['parameters']


def test_next_step_autoreset():
    envs = DIPVectorEnv(3, {'name': 'short', 'duration': 0.03}, sensor_noise_std=0.0)
    envs.reset(seed=1)
    for _ in range(2):
        _, _, terminated, truncated, _ = envs.step(np.zeros((3, 1)))
        assert not truncated.any()
    _, _, terminated, truncated, info = envs.step(np.zeros((3, 1)))
    assert truncated.all() and not terminated.any() and 'complete' in info['reason'][0]
    obs, reward, terminated, truncated, info = envs.step(np.full((3, 1), 5.0))
    assert np.array_equal(reward, np.zeros(3)) and not (terminated | truncated).any()
    assert np.allclose(obs, [0.0, 0.05, -0.03, 0.0, 0.0, 0.0]) and (info['t'] == 0).all()
    assert (envs.batch.episode == 3).all()     # built, reset, autoreset
    _, reward, _, _, info = envs.step(np.full((3, 1), 5.0))
    assert (info['t'] > 0).all() and (reward != 0).all()


def test_a_nan_action_ends_only_its_lane():
    envs = DIPVectorEnv(3)
    envs.reset(seed=0)
    _, _, terminated, truncated, info = envs.step(np.array([[0.0], [np.nan], [1.0]]))
    assert terminated.tolist() == [False, True, False] and not truncated.any()
    assert 'not finite' in info['reason'][1]
    with pytest.raises(ValueError, match='shape'):
        envs.step(np.zeros((2, 1)))


def test_the_vector_env_renders_lane_zero():
    envs = DIPVectorEnv(2, render_mode='rgb_array')
    envs.reset(seed=0)
    assert envs.render().shape == (300, 600, 3)


@pytest.mark.parametrize('scenario', ['faults/fault_intermittent_motor.yaml',
                                      'faults/fault_rising_friction.yaml', 'push_recovery.yaml'])
def test_lane_i_of_the_vector_env_is_the_single_env_with_its_seed_and_draws(scenario):
    from _replay_draws import ReplayDraws
    from plant_server_ros.clients.controllers import lqr_gain
    gain = lqr_gain(0.01)
    lane, seed = 1, 40
    envs = DIPVectorEnv(3, scenario)
    envs.reset(seed=seed)
    # The single plant's draws for lane 1 (reset(seed) makes the batch's own).
    envs.batch.draws = ReplayDraws(3, seed + lane, lane)
    obs = envs.batch.reset(seeds=seed + np.arange(3))
    single = DoubleInvertedPendulumEnv(scenario)
    one, _ = single.reset(seed=seed + lane)
    assert np.array_equal(obs[lane], one)
    for k in range(400):
        u = float(np.clip(-gain @ one, -20.0, 20.0)) + np.sin(k / 7.0)
        one, r1, term1, trunc1, info1 = single.step([u])
        obs, r, term, trunc, info = envs.step(np.full((3, 1), u))
        assert np.max(np.abs(obs[lane] - one)) <= 1e-12, k
        assert np.max(np.abs(info['state'][lane] - info1['state'])) <= 1e-12, k
        assert abs(r[lane] - r1) <= 1e-12 and term[lane] == term1 and trunc[lane] == trunc1
        if term1 or trunc1:
            break


@pytest.mark.parametrize('action, match', [
    (np.zeros(3), r'shape \(1,\)'), (np.zeros(0), r'shape \(1,\)'),
    (np.array([1j]), 'real numbers'), (None, 'real numbers'),
])
def test_the_single_env_refuses_an_action_that_is_not_one_force(action, match):
    env = DoubleInvertedPendulumEnv()
    env.reset(seed=0)
    with pytest.raises(ValueError, match=match):
        env.step(action)


def test_the_env_on_the_compiled_step_plays_the_python_env_to_the_bit():
    pytest.importorskip('numba', reason='the optional compiled step (pip install numba)')
    runs = []
    for compiled in (False, True):
        env = DoubleInvertedPendulumEnv('masses_10pct.yaml', compiled_step=compiled)
        obs, _ = env.reset(seed=4)
        out = [obs]
        for k in range(200):             # falls and swings: substeps too
            out.append(env.step(np.array([5.0 * np.sin(k / 9.0)]))[0])
        runs.append(np.array(out))
    assert np.array_equal(runs[0], runs[1])
