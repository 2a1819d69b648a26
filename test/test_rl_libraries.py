"""The tasks in the RL libraries: SB3's VecEnv adapter, Gymnasium's vector wrappers, RLlib."""

import numpy as np
import pytest


def _sb3():
    pytest.importorskip('gymnasium', reason='the gym extra (pip install gymnasium)')
    return pytest.importorskip('stable_baselines3',
                               reason='the rl extra (pip install -r requirements/rl.txt)')


def test_the_sb3_adapter_restarts_in_the_same_step_with_the_terminal_observation():
    _sb3()
    from plant_server_ros.gym import tasks
    from plant_server_ros.gym.sb3 import SB3VecEnv
    env = SB3VecEnv(3, 'balance', sensor_noise_std=0.0, kernel='numpy')
    env.seed(10)
    obs = env.reset()
    assert obs.shape == (3, 8) and obs.dtype == np.float32
    np.testing.assert_allclose(obs[1], tasks.observe(tasks.BALANCE.initial_state(11)),
                               atol=1e-6)
    for _ in range(300):
        obs, rewards, dones, infos = env.step(np.zeros((3, 1), np.float32))
        if dones.any():
            break
    lane = int(np.flatnonzero(dones)[0])
    info = infos[lane]
    assert info['reason'] == 'fall' and info['TimeLimit.truncated'] is False
    last = info['terminal_observation']
    assert max(abs(last[1]), abs(last[3])) > np.sin(0.5)        # the fallen state
    fresh = tasks.observe(tasks.BALANCE.initial_state(int(env.env.batch.episode_seeds[lane])))
    np.testing.assert_allclose(obs[lane], fresh, atol=1e-6)     # already the next episode
    assert rewards.dtype == np.float32 and dones.dtype == bool


def test_the_sb3_adapter_marks_a_timeout_as_truncated():
    _sb3()
    from plant_server_ros.gym.sb3 import SB3VecEnv
    env = SB3VecEnv(2, 'balance', duration=0.05, kernel='numpy')
    env.seed(1)
    env.reset()
    for _ in range(5):
        _, _, dones, infos = env.step(np.zeros((2, 1), np.float32))
    assert dones.all() and all(i['TimeLimit.truncated'] for i in infos)


def test_sb3_ppo_trains_on_the_adapter_under_vecnormalize(tmp_path):
    _sb3()
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import VecMonitor, VecNormalize
    from plant_server_ros.gym.sb3 import SB3VecEnv
    with pytest.raises(ValueError, match='same_step'):
        SB3VecEnv(2, autoreset_mode='next_step')
    venv = VecNormalize(VecMonitor(SB3VecEnv(8, 'balance', kernel='numpy')))
    venv.seed(3)
    model = PPO('MlpPolicy', venv, n_steps=32, batch_size=128, n_epochs=1, device='cpu',
                seed=3)
    model.learn(512)
    assert model.num_timesteps == 512 and len(model.ep_info_buffer) > 0
    assert venv.get_attr('max_force') == [20.0] * 8


def test_gymnasiums_vector_wrappers_work_on_the_task_vector_env():
    gymnasium = pytest.importorskip('gymnasium', reason='the gym extra (pip install gymnasium)')
    from gymnasium.wrappers import vector as wrappers
    import plant_server_ros.gym  # noqa: F401  (registers the ids)
    env = gymnasium.make_vec('plant_server_ros/DIPBalance-v0', num_envs=4,
                             vectorization_mode='vector_entry_point', kernel='numpy')
    env = wrappers.RecordEpisodeStatistics(wrappers.NormalizeObservation(
        wrappers.ClipAction(env)))
    obs, _ = env.reset(seed=0)
    assert obs.shape == (4, 8)
    ended = None
    for _ in range(300):
        obs, _, terminated, truncated, info = env.step(np.full((4, 1), 5.0, np.float32))
        if 'episode' in info:
            ended = info
            break
    assert ended is not None and ended['episode']['l'][ended['_episode']].min() > 0
    assert np.all(np.isfinite(obs))


def test_rllib_ppo_on_a_local_ray_completes_and_improves_the_return():
    """
    A few PPO iterations on a local Ray instance, on the swing-up task's plant.

    The reward is replaced by one a few iterations can learn (push right:
    ``u / max_force``, on 0.2 s episodes): the smoke test is of the
    plumbing (register_env, env runner, learner), not of a balance.
    """
    pytest.importorskip('gymnasium', reason='the gym extra (pip install gymnasium)')
    pytest.importorskip('ray.rllib', reason="RLlib is not installed (pip install 'ray[rllib]')")
    pytest.importorskip('torch', reason='RLlib needs torch (requirements/rl.txt)')
    import ray
    from plant_server_ros.gym.rllib import ppo_config
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False,
             configure_logging=False)
    try:
        config = ppo_config('plant_server_ros/DIPSwingUp-v0',
                            {'duration': 0.2, 'reward_fn': _push_right},
                            train_batch_size=400, minibatch_size=100, num_epochs=6,
                            lr=5e-3, seed=1)
        algo = config.build_algo()
        try:
            returns = [algo.train()['env_runners']['episode_return_mean']
                       for _ in range(4)]
        finally:
            algo.stop()
    finally:
        ray.shutdown()
    assert np.all(np.isfinite(returns))
    assert returns[-1] > returns[0] + 2.0, returns


def _push_right(state, force, max_force):
    return np.asarray(force) / max_force
