"""
The tasks in Ray RLlib (``pip install -r requirements/rl.txt``): registered, a PPO config.

RLlib makes its envs by name in every env runner, on this machine or on the
cluster's, so :func:`register` names them with ``ray.tune.registry.register_env``
(the ids of :mod:`plant_server_ros.gym`, each taking the
:class:`~.task_envs.TaskEnv` keywords as its ``env_config``)::

    from plant_server_ros.gym.rllib import ppo_config
    algo = ppo_config('plant_server_ros/DIPBalance-v0',
                      {'scenario': 'masses_10pct.yaml'}, num_env_runners=4).build_algo()
    for _ in range(100):
        print(algo.train()['env_runners']['episode_return_mean'])

Only RLlib's interface: ray is imported here, never by the core.
"""

from ray.rllib.algorithms.ppo import PPOConfig
from ray.tune.registry import register_env

from . import BALANCE_ID, SWING_UP_ID
from .task_envs import TaskEnv

TASK_IDS = {BALANCE_ID: 'balance', SWING_UP_ID: 'swing_up'}


def _maker(task):
    def make(env_config):
        return TaskEnv(task, **dict(env_config or {}))
    return make


def register():
    """Register the task ids with RLlib (again is harmless: the same makers)."""
    for env_id, task in TASK_IDS.items():
        register_env(env_id, _maker(task))


def ppo_config(env_id=BALANCE_ID, env_config=None, *, num_env_runners=0, envs_per_runner=1,
               train_batch_size=4000, minibatch_size=128, num_epochs=10, lr=3e-4, gamma=0.99,
               seed=None):
    """Return an RLlib ``PPOConfig`` on a task (registered first); ``.build_algo()`` to train."""
    if env_id not in TASK_IDS:
        raise ValueError(f'env_id must be one of {sorted(TASK_IDS)}, got {env_id!r}')
    register()
    config = (PPOConfig()
              .environment(env_id, env_config=dict(env_config or {}))
              .env_runners(num_env_runners=num_env_runners,
                           num_envs_per_env_runner=envs_per_runner)
              .training(train_batch_size_per_learner=train_batch_size,
                        minibatch_size=minibatch_size, num_epochs=num_epochs, lr=lr,
                        gamma=gamma))
    if seed is not None:
        config = config.debugging(seed=seed)
    return config
