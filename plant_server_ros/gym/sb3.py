"""
The batch as a Stable-Baselines3 ``VecEnv`` (``pip install plant_server_ros[rl]``).

SB3 takes its own ``VecEnv`` interface, not Gymnasium's vector API, so it
refuses a ``gymnasium.vector.VectorEnv``.  :class:`SB3VecEnv` adapts a
:class:`~.task_envs.TaskVectorEnv` (its lanes are the plant ``dip_test``
judges) without a copy of it per lane: one numpy step for all lanes, SB3's
conventions on top (an ended lane restarts in the same step, its last
observation in ``info['terminal_observation']``, ``TimeLimit.truncated``
set where the scenario's duration, not a fall, ended it)::

    from stable_baselines3 import PPO
    from plant_server_ros.gym.sb3 import SB3VecEnv
    env = SB3VecEnv(16, 'balance', seed=1)      # TaskVectorEnv's keywords
    PPO('MlpPolicy', env).learn(100_000)

Only the SB3 interface: stable-baselines3 is imported here, never by the core.
"""

import numpy as np
from stable_baselines3.common.vec_env.base_vec_env import VecEnv

from .task_envs import TaskVectorEnv


class SB3VecEnv(VecEnv):
    """``num_envs`` lanes of a task, for Stable-Baselines3 (see the module notes)."""

    def __init__(self, num_envs=1, task='balance', scenario=None, **kwargs):
        if kwargs.get('autoreset_mode', 'same_step') != 'same_step':
            raise ValueError('SB3VecEnv restarts an ended lane in the same step: '
                             "autoreset_mode must be 'same_step'")
        kwargs['autoreset_mode'] = 'same_step'
        self.env = TaskVectorEnv(num_envs, task, scenario, **kwargs)
        self.render_mode = self.env.render_mode
        super().__init__(self.env.num_envs, self.env.single_observation_space,
                         self.env.single_action_space)
        self._actions = None

    def reset(self):
        """Reset every lane; a seed given to :meth:`seed` seeds lane ``i`` with ``seed + i``."""
        seed = self._seeds[0]
        obs, _ = self.env.reset(seed=seed)
        self._reset_seeds()
        self.reset_infos = [{} for _ in range(self.num_envs)]
        return obs

    def seed(self, seed=None):
        """Seed the next reset: lane ``i`` gets ``seed + i`` (the batch's convention)."""
        if seed is None:
            return [None] * self.num_envs
        self._seeds = [int(seed) + i for i in range(self.num_envs)]
        return self._seeds

    def step_async(self, actions):
        """Keep the actions for :meth:`step_wait` (one numpy step, no workers)."""
        self._actions = actions

    def step_wait(self):
        """Step every lane; return ``(obs, rewards, dones, infos)`` as SB3 expects."""
        obs, reward, terminated, truncated, info = self.env.step(self._actions)
        dones = terminated | truncated
        infos = [{} for _ in range(self.num_envs)]
        if dones.any():
            final, ended = info['final_obs'], info['final_info']
            for i in np.flatnonzero(dones):
                infos[i] = {'terminal_observation': final[i],
                            'TimeLimit.truncated': bool(truncated[i] and not terminated[i]),
                            'reason': ended['reason'][i],
                            'episode_seed': int(ended['episode_seed'][i])}
        return obs, reward.astype(np.float32), dones, infos

    def close(self):
        """Nothing to close: the lanes live in this process."""

    def get_attr(self, attr_name, indices=None):
        """Return the task env's attribute, once per chosen lane."""
        value = getattr(self.env, attr_name)
        return [value for _ in self._get_indices(indices)]

    def set_attr(self, attr_name, value, indices=None):
        """Set an attribute of the task env (the lanes share it)."""
        setattr(self.env, attr_name, value)

    def env_method(self, method_name, *method_args, indices=None, **method_kwargs):
        """Call a method of the task env once (the lanes share it); one result per lane."""
        result = getattr(self.env, method_name)(*method_args, **method_kwargs)
        return [result for _ in self._get_indices(indices)]

    def env_is_wrapped(self, wrapper_class, indices=None):
        """Return False per lane: the lanes are not Gymnasium envs, nothing wraps them."""
        return [False for _ in self._get_indices(indices)]

    def get_images(self):
        """Return lane 0's picture, and None for the others."""
        return [self.env.render()] + [None] * (self.num_envs - 1)
