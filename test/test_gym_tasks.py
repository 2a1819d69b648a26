"""The learning tasks: Gymnasium's and SB3's checkers silent, termination, starts, reward."""

import math
import warnings

import numpy as np
from plant_server_ros.gym import tasks
import pytest


def _gymnasium():
    return pytest.importorskip('gymnasium', reason='the gym extra (pip install gymnasium)')


def _envs():
    _gymnasium()
    from plant_server_ros.gym import task_envs
    return task_envs


@pytest.mark.parametrize('env_id', ['plant_server_ros/DIPBalance-v0',
                                    'plant_server_ros/DIPSwingUp-v0'])
def test_gymnasiums_checker_passes_without_a_warning(env_id):
    gymnasium = _gymnasium()
    from gymnasium.utils.env_checker import check_env
    import plant_server_ros.gym  # noqa: F401  (registers the ids)
    env = gymnasium.make(env_id, render_mode='rgb_array')
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        check_env(env.unwrapped)
    assert env.action_space.dtype == np.float32 and env.observation_space.dtype == np.float32
    assert env.action_space.low[0] == -1.0 and env.action_space.high[0] == 1.0
    assert env.observation_space.shape == (8,)


@pytest.mark.parametrize('task', ['balance', 'swing_up'])
def test_sb3s_checker_passes_without_a_warning(task):
    task_envs = _envs()
    env_checker = pytest.importorskip('stable_baselines3.common.env_checker',
                                      reason='the rl extra (pip install stable-baselines3)')
    env = task_envs.TaskEnv(task)
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        env_checker.check_env(env, warn=True)


def test_the_raw_env_keeps_its_id_and_units():
    gymnasium = _gymnasium()
    from plant_server_ros.gym import ENV_ID
    env = gymnasium.make(ENV_ID)
    assert env.action_space.high[0] == 20.0 and env.observation_space.shape == (6,)


def test_a_fall_ends_a_balance_episode_and_the_track_a_swing_up():
    task_envs = _envs()
    env = task_envs.balance()
    env.reset(seed=3)
    for step in range(1000):
        _, _, terminated, truncated, info = env.step(np.zeros(1, np.float32))
        if terminated or truncated:
            break
    assert terminated and not truncated and step < 200
    assert 'pendulum fell' in info['reason'] and '0.5 rad' in info['reason']
    assert max(abs(info['state'][1]), abs(info['state'][2])) > 0.5
    swing = task_envs.swing_up()
    swing.reset(seed=3)
    for step in range(1000):
        _, _, terminated, truncated, info = swing.step(np.ones(1, np.float32))
        if terminated or truncated:
            break
    assert terminated and 'left the track' in info['reason']


def test_an_episode_truncates_at_the_scenarios_duration():
    task_envs = _envs()
    env = task_envs.TaskEnv('balance', 'nominal.yaml', sensor_noise_std=0.0, duration=0.05)
    env.reset(seed=1, options={'state': [0.0] * 6})
    flags = [env.step(np.zeros(1, np.float32))[2:4] for _ in range(10)]
    # nominal.yaml names its own 10 s: the scenario's duration wins over the keyword.
    assert not any(t or u for t, u in flags)
    short = task_envs.TaskEnv('balance', sensor_noise_std=0.0, duration=0.05)
    short.reset(seed=1, options={'state': [0.0] * 6})
    flags = [short.step(np.zeros(1, np.float32))[2:4] for _ in range(5)]
    assert flags[-1] == (False, True) and not any(any(f) for f in flags[:-1])


def test_starts_are_drawn_per_seed_from_the_documented_box():
    task_envs = _envs()
    env = task_envs.balance(sensor_noise_std=0.0)
    starts = np.array([env.reset(seed=s)[1]['state'] for s in range(200)])
    low = np.subtract(tasks.BALANCE.start, tasks.BALANCE.spread)
    high = np.add(tasks.BALANCE.start, tasks.BALANCE.spread)
    assert np.all(starts >= low) and np.all(starts <= high)
    # Spread over the box (uniform): each coordinate reaches its outer fifths.
    span = high - low
    assert np.all(starts.min(axis=0) < low + 0.2 * span)
    assert np.all(starts.max(axis=0) > high - 0.2 * span)
    assert len({tuple(s) for s in starts}) == 200
    again = env.reset(seed=7)[1]['state']
    np.testing.assert_array_equal(again, starts[7])
    np.testing.assert_array_equal(again, tasks.BALANCE.initial_state(7))
    swing = tasks.SWING_UP.initial_state(7)
    assert abs(swing[1] - math.pi) <= 0.05 and abs(swing[2] - math.pi) <= 0.05


def test_the_observation_is_sin_cos_of_the_measured_angles():
    task_envs = _envs()
    env = task_envs.balance(sensor_noise_std=0.0)
    obs, info = env.reset(seed=2)
    x, th1, th2, xd, w1, w2 = info['state']
    expected = [x, math.sin(th1), math.cos(th1), math.sin(th2), math.cos(th2), xd, w1, w2]
    np.testing.assert_allclose(obs, expected, rtol=1e-6, atol=1e-7)
    assert obs.dtype == np.float32


def test_an_action_is_scaled_to_max_force_and_clipped():
    task_envs = _envs()
    env = task_envs.balance(max_force=15.0)
    env.reset(seed=1)
    assert env.step(np.array([0.5], np.float32))[4]['force'] == pytest.approx(7.5)
    assert env.step(np.array([3.0], np.float32))[4]['force'] == pytest.approx(15.0)


def test_the_reward_pays_upright_and_still_most():
    up = tasks.balance_reward((0.0,) * 6, 0.0, 20.0)
    assert up == pytest.approx(1.0)
    tilted = tasks.balance_reward((0.0, 0.3, 0.3, 0.0, 0.0, 0.0), 0.0, 20.0)
    moving = tasks.balance_reward((0.0, 0.0, 0.0, 0.0, 2.0, 2.0), 0.0, 20.0)
    away = tasks.balance_reward((1.0, 0.0, 0.0, 0.0, 0.0, 0.0), 0.0, 20.0)
    assert tilted < up and moving == pytest.approx(1.0 - 4e-3 - 2e-2) and away == 0.9
    # The formula of docs/rl.md, on the nominal links: both ends' distances from upright.
    x_tip = 0.7 * math.sin(0.3)
    joint, end = 2 * 0.4 ** 2 * (1 - math.cos(0.3)), 2 * 0.7 ** 2 * (1 - math.cos(0.3))
    assert tilted == pytest.approx(1.0 - 0.1 * x_tip ** 2 - (joint + end) / 0.7 ** 2)
    # A bent pendulum, its tip above the cart, costs too (a tip's height barely sees it).
    bent = tasks.balance_reward((0.0, 0.3, -0.4, 0.0, 0.0, 0.0), 0.0, 20.0)
    assert bent < 0.98
    # One lane or N: the same numbers.
    states = np.array([(0.0,) * 6, (0.0, 0.3, 0.3, 0.0, 0.0, 0.0)])
    np.testing.assert_allclose(tasks.balance_reward(states, np.zeros(2), 20.0), [up, tilted])
    assert tasks.swing_up_reward((0.0, math.pi, math.pi, 0, 0, 0), 0.0, 20.0) == \
        pytest.approx(0.0)
    assert tasks.swing_up_reward((0.0,) * 6, 0.0, 20.0) == pytest.approx(1.0)


def test_the_env_pays_the_tasks_reward_or_a_given_one():
    task_envs = _envs()
    env = task_envs.balance()
    env.reset(seed=4)
    _, reward, _, _, info = env.step(np.zeros(1, np.float32))
    assert reward == pytest.approx(tasks.balance_reward(info['state'], info['force'], 20.0))
    mine = task_envs.balance(reward_fn=lambda state, force, max_force: -1.0)
    mine.reset(seed=4)
    assert mine.step(np.zeros(1, np.float32))[1] == -1.0


def test_a_lane_is_the_single_env_with_its_seed():
    """The plant the agent learns on is the one dip_test judges: lane i = reset(seed=s + i)."""
    task_envs = _envs()
    n, seed = 3, 40
    vec = task_envs.TaskVectorEnv(n, 'balance', 'masses_10pct.yaml', sensor_noise_std=0.0,
                                  kernel='numpy')
    obs, info = vec.reset(seed=seed)
    singles = [task_envs.TaskEnv('balance', 'masses_10pct.yaml', sensor_noise_std=0.0)
               for _ in range(n)]
    firsts = [env.reset(seed=seed + i) for i, env in enumerate(singles)]
    for i, (o, inf) in enumerate(firsts):
        np.testing.assert_allclose(obs[i], o, atol=1e-7)
        assert vec.batch.params.lane(i) == inf['parameters']
    rng = np.random.default_rng(0)
    running = np.ones(n, dtype=bool)
    for _ in range(300):
        actions = rng.uniform(-0.3, 0.3, (n, 1)).astype(np.float32)
        obs, reward, terminated, _, info = vec.step(actions)
        for i in np.flatnonzero(running):
            o, r, t, _, _ = singles[i].step(actions[i])
            np.testing.assert_allclose(obs[i], o, atol=1e-5)
            assert reward[i] == pytest.approx(r, abs=1e-6) and terminated[i] == t
            running[i] = not t
        if not running.any():
            break
    assert not running.any()      # every lane fell, at the single env's step


@pytest.mark.parametrize('mode', ['next_step', 'same_step'])
def test_the_vector_env_restarts_an_ended_lane_from_a_fresh_draw(mode):
    task_envs = _envs()
    vec = task_envs.TaskVectorEnv(2, 'balance', sensor_noise_std=0.0, kernel='numpy',
                                  autoreset_mode=mode)
    vec.reset(seed=5)
    for _ in range(300):
        obs, reward, terminated, truncated, info = vec.step(np.zeros((2, 1), np.float32))
        if terminated.any():
            break
    lane = int(np.flatnonzero(terminated)[0])
    if mode == 'same_step':
        last = info['final_obs'][lane]            # sin th1, sin th2: one beyond sin 0.5
        assert info['_final_obs'][lane] and max(abs(last[1]), abs(last[3])) > math.sin(0.5)
        assert info['final_info']['reason'][lane] == 'fall'
    else:
        obs, reward, terminated, truncated, info = vec.step(np.zeros((2, 1), np.float32))
        assert reward[lane] == 0.0
    seed = int(info['episode_seed'][lane])
    assert seed != 5 + lane
    np.testing.assert_allclose(info['state'][lane], tasks.BALANCE.initial_state(seed))
    np.testing.assert_allclose(obs[lane], tasks.observe(tasks.BALANCE.initial_state(seed)),
                               atol=1e-6)


def test_bad_arguments_are_refused_by_name():
    task_envs = _envs()
    with pytest.raises(ValueError, match='task must be one of'):
        task_envs.TaskEnv('juggle')
    with pytest.raises(ValueError, match='autoreset_mode'):
        task_envs.TaskVectorEnv(2, autoreset_mode='sometimes')
    env = task_envs.balance()
    env.reset(seed=1)
    with pytest.raises(ValueError, match='shape'):
        env.step(np.zeros(2, np.float32))
