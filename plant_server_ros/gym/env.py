"""
One plant as a Gymnasium environment, stepped lock-step (one action per period).

Observation: the *measured* state ``[x, th1, th2, xdot, th1dot, th2dot]``
(the scenario's sensor model; by default white noise of
``sensor_noise_std``).  Action: the force on the cart, a ``(1,)`` Box
within ``+/-max_force`` (the plant saturates anything beyond it).  Reward:
:func:`~.reward.upright_reward` unless ``reward_fn`` is given.
``terminated``: the safety supervisor halted the plant (track, a limit of
the scenario, a diverged state); ``truncated``: the scenario's duration is
over (``duration`` s when the scenario names none).  ``info``: the true
state, the applied force, the episode time and seed, the halt reason and
the plant's events of the period.

``reset(seed=s)`` plays the scenario with seed ``s`` (every random stream
of the episode: parameters, sensors, disturbances, as a campaign entry with
that seed); a reset without a seed takes the next seed from the env's
``np_random``.  So ``reset(seed=s + i)`` draws the same plant parameters as
lane ``i`` of the vector env after ``reset(seed=s)``.

The plant is a lock-step plant host (:mod:`..runtime.host`) behind
:class:`LockstepPlant`, the one class that knows how it is stepped.
"""

from dataclasses import replace

import gymnasium
from gymnasium import spaces
import numpy as np

from . import render
from .reward import upright_reward
from ..batch.plant_batch import real_array
from ..conditions.scenario import load, Scenario, ScenarioPlayer
from ..runtime.host import PlantHost
from ..runtime.schedule import PlantHalted, PlantListener
from ..runtime.settings import defaults, SETTINGS

DEFAULT_DURATION = 10.0      # s, where the scenario names no duration
_TABLE = defaults()          # the settings table's defaults: declared there, once


def scenario_of(scenario, dt, duration):
    """Return the one Scenario of ``scenario`` (None, a Scenario, a file/name or mapping)."""
    if scenario is None:
        scenario = Scenario(name='default')
    elif not isinstance(scenario, Scenario):
        scenarios = load(scenario, dt)
        if len(scenarios) != 1:
            raise ValueError(f'an environment plays one scenario, not a campaign of '
                             f'{len(scenarios)}')
        scenario = scenarios[0]
    if scenario.duration is None:
        scenario = replace(scenario, duration=float(duration))
    return scenario


class _Events(PlantListener):
    """Keep the plant's events until the env hands them out."""

    def __init__(self):
        self.events = []

    def on_event(self, event):
        self.events.append(event)

    def take(self):
        events, self.events = self.events, []
        return events


class LockstepPlant:
    """A lock-step plant host: reset to an episode seed, step with a force."""

    def __init__(self, scenario, dt, max_force, track_limit, sensor_noise_std, integrator,
                 compiled_step=_TABLE['compiled_step']):
        self.scenario = scenario
        given = {'mode': 'lockstep', 'dt': dt, 'max_force': max_force,
                 'track_limit': track_limit, 'sensor_noise_std': sensor_noise_std,
                 'integrator': integrator, 'compiled_step': compiled_step}
        # Refused as every door refuses: the settings table's check, by name.
        self._values = {name: SETTINGS[name].check(value, name)
                        for name, value in given.items()}
        self.host = self.plant = None

    def reset(self, seed, state=None):
        """Start an episode of the scenario seeded ``seed``; return its first Sample."""
        player = ScenarioPlayer([replace(self.scenario, seed=int(seed))])
        self._events = _Events()
        self.host = PlantHost(self._values, scenario=player, listener=self._events)
        self.plant = self.host.plant
        self.host.start()
        if state is not None:
            return self.host.reset(state).result()
        return self.host.schedule.last_sample

    def step(self, force):
        """Apply ``force`` over one period; return ``(sample, fault_kind or None, events)``."""
        try:
            sample = self.host.control(force)       # lock-step: the sample it made
        except PlantHalted:
            sample = self.host.schedule.last_sample      # halted before: nothing moved
        return sample, self.plant.fault_kind, self.take_events()

    def take_events(self):
        """Return the plant's events since the last call."""
        return self._events.take() + self.plant.take_events()

    @property
    def fault(self):
        """Return why the plant halted, or None."""
        return self.plant.fault


class DoubleInvertedPendulumEnv(gymnasium.Env):
    """The double inverted pendulum on a cart (see the module notes)."""

    metadata = {'render_modes': ['rgb_array'], 'render_fps': 100}

    def __init__(self, scenario=None, *, dt=_TABLE['dt'], max_force=_TABLE['max_force'],
                 track_limit=_TABLE['track_limit'], sensor_noise_std=_TABLE['sensor_noise_std'],
                 duration=DEFAULT_DURATION, integrator=_TABLE['integrator'], reward_fn=None,
                 render_mode=None, compiled_step=_TABLE['compiled_step']):
        if render_mode not in (None, 'rgb_array'):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self.scenario = scenario_of(scenario, dt, duration)
        self.dt = float(dt)
        self.max_force = float(max_force)
        self.track_limit = float(track_limit)
        self.render_mode = render_mode
        self.reward_fn = reward_fn if reward_fn is not None else upright_reward
        self.metadata = dict(self.metadata, render_fps=int(round(1.0 / self.dt)))
        self.observation_space = spaces.Box(-np.inf, np.inf, (6,), np.float64)
        self.action_space = spaces.Box(-self.max_force, self.max_force, (1,), np.float64)
        # compiled_step: the plant's compiled period (numba; the same numbers to the bit).
        self._plant = LockstepPlant(self.scenario, self.dt, self.max_force, self.track_limit,
                                    sensor_noise_std, integrator, compiled_step)
        self._sample = None

    def _info(self, sample, events=(), reason=None):
        return {'state': np.array(sample.true), 'force': float(sample.force),
                't': float(sample.t), 'episode_seed': self.episode_seed,
                'reason': reason or '', 'events': [tuple(e) for e in events],
                'parameters': self._plant.host.view.episode.params}

    def reset(self, *, seed=None, options=None):
        """Start an episode (``options={'state': [...]}`` to start elsewhere)."""
        super().reset(seed=seed)
        self.episode_seed = int(seed) if seed is not None else \
            int(self.np_random.integers(0, 2 ** 62))
        state = (options or {}).get('state')
        self._sample = self._plant.reset(self.episode_seed, state)
        events = self._plant.take_events()
        return np.array(self._sample.measured), self._info(self._sample, events)

    def step(self, action):
        """Apply the force ``action[0]`` over one period."""
        if self._sample is None:
            raise RuntimeError('call reset() before step()')
        action = real_array(action, 'action')
        if action.shape not in ((1,), ()):
            raise ValueError(f'action must have shape (1,) (the force), got {action.shape}')
        force = float(action.reshape(-1)[0])
        if not np.isfinite(force):
            raise ValueError(f'action is not finite: {force}')
        sample, kind, events = self._plant.step(force)
        self._sample = sample
        reward = float(self.reward_fn(sample.true, sample.force, self.max_force))
        terminated = kind is not None and kind != 'scenario_done'
        truncated = kind == 'scenario_done'
        info = self._info(sample, events, self._plant.fault)
        return np.array(sample.measured), reward, terminated, truncated, info

    def render(self):
        """Return an RGB picture of the true state (render_mode 'rgb_array')."""
        if self.render_mode != 'rgb_array' or self._sample is None:
            return None
        episode = self._plant.host.view.episode
        return render.draw(self._sample.true, episode.params, episode.track_limit)
