"""
The tasks of :mod:`.tasks` as Gymnasium environments: one plant, and N lanes.

``plant_server_ros/DIPBalance-v0`` and ``plant_server_ros/DIPSwingUp-v0``
(:func:`balance`, :func:`swing_up`; ``gymnasium.make_vec(...,
vectorization_mode='vector_entry_point')``: :func:`balance_vector`,
:func:`swing_up_vector`).  :class:`TaskEnv` is the raw
:class:`~.env.DoubleInvertedPendulumEnv` with the task's observation,
action, start and reward; :class:`TaskVectorEnv` is the same over a
:class:`~..batch.PlantBatch`, so lane ``i`` after ``reset(seed=s)`` is the
single env after ``reset(seed=s + i)``: the same plant parameters, the same
start, the same conditions, the same reward (``test/test_gym_tasks.py``).

Later episodes of a lane take seeds hashed from the batch's seed, the lane
and the episode (:func:`~.tasks.lane_seeds`; ``info['episode_seed']``), its
plant and start drawn from that seed as the single env draws them: any
lane's episode is replayed by the single env's ``reset(seed=...)``.
Autoreset: Gymnasium's next-step (the default) or
same-step (``autoreset_mode='same_step'``: an ended lane returns its next
episode's first observation, the ended one's last observation and info in
``info['final_obs']``, ``info['final_info']``; the SB3 adapter of
:mod:`.sb3` uses it).

``info`` (one entry per lane): ``state`` (true), ``force``, ``t``,
``episode_seed`` and ``reason``: why a lane ended this step, as the halt's
name (``'fall'``, ``'track'``, ``'cart_speed'``, ``'joint_rate'``,
``'nonfinite_state'``, ``'nonfinite_force'``, ``'scenario_done'``; ''
otherwise): a name per lane costs nothing, a sentence per lane costs more
than the step (the single env's ``info['reason']`` is the sentence).
"""

import gymnasium
from gymnasium import spaces
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import batch_space
import numpy as np

from . import render
from .env import DEFAULT_DURATION, DoubleInvertedPendulumEnv, scenario_of
from .tasks import (BALANCE, force_of, lane_seeds, OBS_HIGH, OBS_SIZE, observe, SWING_UP,
                    TASKS)
from ..batch import PlantBatch
from ..batch.draws import NumpyDraws
from ..batch.plant_batch import DONE, real_array, REASONS
from ..runtime.settings import defaults

_TABLE = defaults()          # the settings table's defaults: declared there, once
_REASONS = np.array(REASONS, dtype=object)     # a halt's code -> its name ('fall', 'track', ...)


def _task(task):
    if isinstance(task, str):
        if task not in TASKS:
            raise ValueError(f'task must be one of {sorted(TASKS)}, got {task!r}')
        return TASKS[task]
    return task


def observation_space():
    """Return the tasks' observation space: float32 (8,) within ``+/-OBS_HIGH``."""
    return spaces.Box(-OBS_HIGH, OBS_HIGH, (OBS_SIZE,), np.float32)


def action_space():
    """Return the tasks' action space: float32 (1,) in [-1, 1] (times max_force inside)."""
    return spaces.Box(-1.0, 1.0, (1,), np.float32)


class TaskEnv(gymnasium.Env):
    """One plant under a task (see the module notes); keywords as the raw env's."""

    metadata = {'render_modes': ['rgb_array'], 'render_fps': 100}

    def __init__(self, task=BALANCE, scenario=None, *, reward_fn=None, render_mode=None,
                 duration=None, **raw):
        self.task = _task(task)
        dt = raw.get('dt', _TABLE['dt'])
        duration = self.task.duration if duration is None else duration
        self.scenario = self.task.scenario(scenario_of(scenario, dt, duration))
        self.reward_fn = reward_fn if reward_fn is not None else self.task.reward
        self.raw = DoubleInvertedPendulumEnv(self.scenario, reward_fn=self.reward_fn,
                                             render_mode=render_mode, **raw)
        self.render_mode = render_mode
        self.max_force = self.raw.max_force
        self.metadata = self.raw.metadata
        self.observation_space = observation_space()
        self.action_space = action_space()

    def reset(self, *, seed=None, options=None):
        """Start an episode at the task's start for its seed (or ``options={'state': ...}``)."""
        super().reset(seed=seed)
        seed = int(seed) if seed is not None else int(self.np_random.integers(0, 2 ** 62))
        options = dict(options or {})
        if options.get('state') is None:
            options['state'] = self.task.initial_state(seed)
        measured, info = self.raw.reset(seed=seed, options=options)
        return observe(measured), info

    def step(self, action):
        """Apply the normalised ``action`` (times max_force) over one period."""
        action = real_array(action, 'action')
        if action.size != 1:
            raise ValueError(f'action must have shape (1,), got {action.shape}')
        force = force_of(action.reshape(1), self.max_force)
        measured, reward, terminated, truncated, info = self.raw.step(force)
        return observe(measured), reward, terminated, truncated, info

    def render(self):
        """Return the raw env's picture of the true state."""
        return self.raw.render()


class TaskVectorEnv(gymnasium.vector.VectorEnv):
    """``num_envs`` plants under a task, stepped together (see the module notes)."""

    metadata = {'render_modes': ['rgb_array'], 'autoreset_mode': AutoresetMode.NEXT_STEP,
                'render_fps': 100}

    def __init__(self, num_envs=1, task=BALANCE, scenario=None, *, dt=_TABLE['dt'],
                 max_force=_TABLE['max_force'], track_limit=_TABLE['track_limit'],
                 sensor_noise_std=_TABLE['sensor_noise_std'], duration=None,
                 integrator=_TABLE['integrator'], reward_fn=None, render_mode=None, seed=None,
                 kernel='auto', autoreset_mode='next_step'):
        if render_mode not in (None, 'rgb_array'):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        modes = {'next_step': AutoresetMode.NEXT_STEP, 'same_step': AutoresetMode.SAME_STEP}
        mode = autoreset_mode.value if isinstance(autoreset_mode, AutoresetMode) \
            else autoreset_mode
        if mode not in modes:
            raise ValueError(f"autoreset_mode must be 'next_step' or 'same_step', "
                             f'got {autoreset_mode!r}')
        self.task = _task(task)
        self.num_envs = int(num_envs)
        duration = self.task.duration if duration is None else duration
        self.scenario = self.task.scenario(scenario_of(scenario, dt, duration or
                                                       DEFAULT_DURATION))
        self.max_force = float(max_force)
        self.render_mode = render_mode
        self.reward_fn = reward_fn if reward_fn is not None else self.task.reward
        self.metadata = dict(self.metadata, render_fps=int(round(1.0 / dt)),
                             autoreset_mode=modes[mode])
        self._same_step = mode == 'same_step'
        self.batch = PlantBatch(self.num_envs, self.scenario, dt=dt, max_force=max_force,
                                track_limit=track_limit, sensor_noise_std=sensor_noise_std,
                                integrator=integrator, seed=seed, kernel=kernel)
        self.single_observation_space = observation_space()
        self.single_action_space = action_space()
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self._ended = np.zeros(self.num_envs, dtype=bool)

    def _info(self, state=None, ended=None):
        batch = self.batch
        if ended is None or not ended.any():
            reasons = np.full(self.num_envs, '', dtype=object)
        else:
            reasons = np.where(ended, _REASONS[batch.reason_code], '')
        return {'state': batch.state if state is None else state,
                'force': batch.last_force.copy(), 't': batch.time,
                'episode_seed': batch.episode_seeds.copy(), 'reason': reasons}

    def _restart(self, lanes, seeds=None):
        """Start the next episode of ``lanes`` (a mask) from the task's starts for their seeds."""
        batch = self.batch
        index = np.flatnonzero(lanes)
        if seeds is None:
            seeds = lane_seeds(batch.seed, index, batch.episode[index] + 1)
        return batch.reset(lanes, state=self.task.initial_states(seeds), seeds=seeds)

    def reset(self, *, seed=None, options=None):
        """Reset every lane (``options={'state': ...}``: a 6-vector or ``(N, 6)`` instead)."""
        super().reset(seed=seed)
        every = np.ones(self.num_envs, dtype=bool)
        state = (options or {}).get('state')
        if seed is not None:
            self.batch.seed = int(seed)
            self.batch.draws = NumpyDraws(self.num_envs, int(seed))
            seeds = int(seed) + np.arange(self.num_envs, dtype=np.int64)
        else:
            seeds = None
        if state is not None:
            measured = self.batch.reset(state=state, seeds=seeds)
        else:
            measured = self._restart(every, seeds)
        self._ended[:] = False
        return observe(measured), self._info()

    def step(self, actions):
        """Step every running lane; restart the ended ones (next step, or this one)."""
        actions = real_array(actions, 'actions')
        if actions.shape not in ((self.num_envs, 1), (self.num_envs,)):
            raise ValueError(f'actions must have shape ({self.num_envs}, 1), '
                             f'got {actions.shape}')
        batch = self.batch
        restart = self._ended
        if restart.any():
            self._restart(restart)
        u = np.where(restart, 0.0, force_of(actions.reshape(self.num_envs), self.max_force))
        # Lanes just restarted keep their first sample this step.
        measured = batch.step(u, ~restart if restart.any() else None)
        code = batch.reason_code
        ended = (code != 0) & ~restart
        terminated = ended & (code != DONE)
        truncated = ended & (code == DONE)
        state = batch.state
        reward = np.asarray(self.reward_fn(state, batch.last_force, self.max_force),
                            dtype=float)
        reward = np.where(restart, 0.0, reward)
        info = self._info(state, ended)
        obs = observe(measured)
        if self._same_step:
            if ended.any():
                final_obs = np.where(ended[:, None], obs, 0.0).astype(np.float32)
                obs = np.where(ended[:, None], observe(self._restart(ended)), obs)
                info = dict(self._info(), final_obs=final_obs, _final_obs=ended.copy(),
                            final_info=info, _final_info=ended.copy())
            self._ended[:] = False
        else:
            self._ended = ended.copy()
        return obs, reward, terminated, truncated, info

    def render(self):
        """Return an RGB picture of lane 0 (render_mode 'rgb_array')."""
        if self.render_mode != 'rgb_array':
            return None
        batch = self.batch
        return render.draw(batch.lane_state(0), batch.params.lane(0),
                           float(batch.safety.track_limit[0]))


def balance(**kwargs):
    """Return ``DIPBalance-v0``: a :class:`TaskEnv` of the balance task."""
    return TaskEnv(BALANCE, **kwargs)


def swing_up(**kwargs):
    """Return ``DIPSwingUp-v0``: a :class:`TaskEnv` of the swing-up task."""
    return TaskEnv(SWING_UP, **kwargs)


def balance_vector(num_envs=1, **kwargs):
    """Return ``num_envs`` lanes of the balance task (:class:`TaskVectorEnv`)."""
    return TaskVectorEnv(num_envs, BALANCE, **kwargs)


def swing_up_vector(num_envs=1, **kwargs):
    """Return ``num_envs`` lanes of the swing-up task (:class:`TaskVectorEnv`)."""
    return TaskVectorEnv(num_envs, SWING_UP, **kwargs)
