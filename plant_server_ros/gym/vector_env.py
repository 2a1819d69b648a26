"""
N plants as one Gymnasium vector environment, on a :class:`~..batch.PlantBatch`.

The same observation, action, reward, termination and truncation as
:class:`~.env.DoubleInvertedPendulumEnv`, per lane, with Gymnasium's
next-step autoreset (the default of Gymnasium >= 1.0): the step after a
lane ended resets that lane, ignores its action and returns its first
observation with reward 0 and neither flag.

``reset(seed=s)`` gives lane ``i`` the episode seed ``s + i`` (its plant
parameters are then those of the single env after ``reset(seed=s + i)``);
later episodes of a lane take the batch's own per-lane seeds
(:func:`~..batch.draws.episode_seed`).  Sensor noise comes from the
batch's numpy generator, so noisy observations differ from the single
env's while the plant, the dynamics and the conditions agree
(``test/test_batch.py`` checks them given the same draws).

``info``: ``state`` (the true states), ``force``, ``t``, ``episode_seed``
and ``reason`` (why a lane ended this step, '' otherwise), each with one
entry per lane.  ``kernel``: as PlantBatch (``'auto'``: the compiled one
where numba is installed).
"""

import gymnasium
from gymnasium import spaces
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import batch_space
import numpy as np

from . import render
from .env import DEFAULT_DURATION, scenario_of
from .reward import upright_reward
from ..batch import PlantBatch
from ..batch.draws import NumpyDraws
from ..batch.plant_batch import DONE, real_array
from ..runtime.settings import defaults

_TABLE = defaults()          # the settings table's defaults: declared there, once


class DIPVectorEnv(gymnasium.vector.VectorEnv):
    """``num_envs`` double inverted pendulums stepped together (see the module notes)."""

    metadata = {'render_modes': ['rgb_array'], 'autoreset_mode': AutoresetMode.NEXT_STEP,
                'render_fps': 100}

    def __init__(self, num_envs=1, scenario=None, *, dt=_TABLE['dt'],
                 max_force=_TABLE['max_force'], track_limit=_TABLE['track_limit'],
                 sensor_noise_std=_TABLE['sensor_noise_std'], duration=DEFAULT_DURATION,
                 integrator=_TABLE['integrator'], reward_fn=None, render_mode=None, seed=None,
                 kernel='numpy'):
        if render_mode not in (None, 'rgb_array'):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self.num_envs = int(num_envs)
        self.scenario = scenario_of(scenario, dt, duration)
        self.max_force = float(max_force)
        self.render_mode = render_mode
        self.reward_fn = reward_fn if reward_fn is not None else upright_reward
        self.metadata = dict(self.metadata, render_fps=int(round(1.0 / dt)))
        self.batch = PlantBatch(self.num_envs, self.scenario, dt=dt, max_force=max_force,
                                track_limit=track_limit, sensor_noise_std=sensor_noise_std,
                                integrator=integrator, seed=seed, kernel=kernel)
        self.single_observation_space = spaces.Box(-np.inf, np.inf, (6,), np.float64)
        self.single_action_space = spaces.Box(-self.max_force, self.max_force, (1,),
                                              np.float64)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self._ended = np.zeros(self.num_envs, dtype=bool)

    def _info(self, ended=None):
        batch = self.batch
        reasons = np.full(self.num_envs, '', dtype=object)
        if ended is not None:
            for i in np.flatnonzero(ended):
                reasons[i] = batch.reason(i)
        return {'state': batch.state, 'force': batch.last_force.copy(), 't': batch.time,
                'episode_seed': batch.episode_seeds.copy(), 'reason': reasons}

    def reset(self, *, seed=None, options=None):
        """Reset every lane (``options={'state': ...}``: a 6-vector or ``(N, 6)``)."""
        super().reset(seed=seed)
        if seed is not None:
            seeds = int(seed) + np.arange(self.num_envs)
            self.batch.seed = int(seed)
            self.batch.draws = NumpyDraws(self.num_envs, int(seed))
        else:
            seeds = None
        obs = self.batch.reset(state=(options or {}).get('state'), seeds=seeds)
        self._ended[:] = False
        return obs, self._info()

    def step(self, actions):
        """Step every running lane with its force; reset the lanes that ended last step."""
        actions = real_array(actions, 'actions')
        if actions.shape not in ((self.num_envs, 1), (self.num_envs,)):
            raise ValueError(f'actions must have shape ({self.num_envs}, 1), '
                             f'got {actions.shape}')
        batch = self.batch
        restart = self._ended
        if restart.any():
            batch.reset(restart)
        was_halted = batch.halted
        u = np.where(restart, 0.0, actions.reshape(self.num_envs))
        # Lanes just restarted keep their first sample this step.
        obs = batch.step(u, ~restart if restart.any() else None)
        code = batch.reason_code
        ended = (code != 0) & ~was_halted & ~restart
        terminated = ended & (code != DONE)
        truncated = ended & (code == DONE)
        reward = np.asarray(self.reward_fn(batch.state, batch.last_force, self.max_force),
                            dtype=float)
        reward = np.where(restart, 0.0, reward)
        self._ended = ended.copy()
        return obs, reward, terminated, truncated, self._info(ended)

    def render(self):
        """Return an RGB picture of lane 0 (render_mode 'rgb_array')."""
        if self.render_mode != 'rgb_array':
            return None
        batch = self.batch
        return render.draw(batch.lane_state(0), batch.params.lane(0),
                           float(batch.safety.track_limit[0]))
