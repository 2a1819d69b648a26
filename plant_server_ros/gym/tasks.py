"""
Learning tasks on the plant: what an agent sees, does, is paid, and when it ends.

The raw environment (``DoubleInvertedPendulum-v0``) is the plant as it is:
forces in newtons, the measured state, nothing ends unless the plant halts.
A :class:`Task` adds the conventions RL libraries expect, the way
Gymnasium's ``InvertedDoublePendulum-v5`` does (docs/rl.md):

- **observation** (float32, 8): the *measured* state with the angles as sine
  and cosine, :func:`observe`: ``[x, sin th1, cos th1, sin th2, cos th2,
  xdot, th1dot, th2dot]``, clipped to ``+/-OBS_HIGH`` (the same transform
  ``clients/policy.py`` applies
  over the legacy protocol, so a policy sees in ``dip_test`` what it saw in
  training);
- **action** (float32, 1): in ``[-1, 1]``, clipped there and scaled to
  ``+/-max_force`` (:func:`force_of`);
- **termination**: the plant's safety supervisor halted it; the balance task
  adds ``fall_angle`` to the scenario's safety limits, so a fall *is* a halt
  (of the single plant and of every lane alike); **truncation**: the
  scenario's duration is over;
- **initial state**: drawn from the episode seed alone (:meth:`Task.initial_state`):
  uniform in ``start +/- spread`` (splitmix64 of the seed, :func:`uniforms`:
  vectorised, so restarting a hundred lanes costs microseconds), so
  ``reset(seed=s)`` is the same start everywhere, in the single env and in
  lane ``i`` of a batch reset with ``s - i``;
- **reward** (replaceable: ``reward_fn=``): :func:`balance_reward` and
  :func:`swing_up_reward`, written with numpy over the last axis, so one
  function serves one plant and N lanes.

No gymnasium here: the policy client imports this module to observe as the
tasks do.
"""

from dataclasses import dataclass, replace
import math

import numpy as np

from ..physics.dynamics import DIPParams

OBS_SIZE = 8
# The observation's bounds: the longest track the settings allow [m], the sines and
# cosines, and rates far beyond what 20 N makes [m/s, rad/s]; observe() clips to them.
OBS_HIGH = np.array([1e3, 1.0, 1.0, 1.0, 1.0, 100.0, 100.0, 100.0], dtype=np.float32)
TASK_STREAM = 27           # the initial state's stream of an episode seed (not the plant's)
_NOMINAL = DIPParams()
L1, L2 = _NOMINAL.link1_length, _NOMINAL.link2_length


_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1, _MIX2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)


def mix(z):
    """Return splitmix64 of ``z`` (uint64 array): a counter-based hash, for every lane at once."""
    with np.errstate(over='ignore'):
        z = np.asarray(z, dtype=np.uint64) + _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * _MIX1
        z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


def uniforms(seeds, k, stream=TASK_STREAM):
    """Return ``(len(seeds), k)`` uniforms in [0, 1), a function of each seed alone."""
    base = mix(mix(np.asarray(seeds, dtype=np.uint64).reshape(-1)) ^ np.uint64(stream))
    with np.errstate(over='ignore'):
        bits = mix(base[:, None] + np.arange(1, k + 1, dtype=np.uint64))
    return (bits >> np.uint64(11)).astype(float) * 2.0 ** -53


def lane_seeds(seed, lanes, episodes):
    """Return the episode seeds (63 bits) of ``lanes``' ``episodes`` in a batch seeded ``seed``."""
    with np.errstate(over='ignore'):
        z = mix(mix(mix(np.uint64(seed)) + np.asarray(lanes, dtype=np.uint64))
                + np.asarray(episodes, dtype=np.uint64))
    return (z >> np.uint64(1)).astype(np.int64)


def observe(measured):
    """Return the task observation (float32, ``(..., 8)``) of measured states ``(..., 6)``."""
    s = np.asarray(measured, dtype=float)
    obs = np.empty(s.shape[:-1] + (OBS_SIZE,), dtype=np.float32)
    obs[..., 0] = s[..., 0]
    obs[..., 1], obs[..., 2] = np.sin(s[..., 1]), np.cos(s[..., 1])
    obs[..., 3], obs[..., 4] = np.sin(s[..., 2]), np.cos(s[..., 2])
    obs[..., 5:] = s[..., 3:]
    return np.clip(obs, -OBS_HIGH, OBS_HIGH, out=obs)


def force_of(action, max_force):
    """Return the force [N] of a normalised action: clipped to [-1, 1], times ``max_force``."""
    return np.clip(np.asarray(action, dtype=float), -1.0, 1.0) * max_force


def tip(state):
    """Return the tip of link 2 ``(x, height above the pivot)`` [m] (nominal lengths)."""
    s = np.asarray(state, dtype=float)
    x, th1, th2 = s[..., 0], s[..., 1], s[..., 2]
    return x + L1 * np.sin(th1) + L2 * np.sin(th2), L1 * np.cos(th1) + L2 * np.cos(th2)


def balance_reward(state, force, max_force, x_weight=0.1):
    """
    Return InvertedDoublePendulum-v5's reward, in this plant's units.

    ``1 - (w x_tip^2 + (|joint2 - joint2_up|^2 + |tip - tip_up|^2) / L^2)
    - (1e-3 th1dot^2 + 5e-3 th2dot^2)``: an alive bonus of 1 a period, minus
    the distance of the links' ends from where they are upright above the
    cart (``L`` = both links, 0.7 m; the cart's offset weighs through
    ``x_tip``, ``w = x_weight``, 0.1), minus the links' speeds (v5's weights).  The distance is of
    both ends, not of the tip's height alone as in v5: a height's loss is of
    fourth order in the angles and blind to a bent pendulum.
    """
    s = np.asarray(state, dtype=float)
    th1, th2 = s[..., 1], s[..., 2]
    x_tip, _ = tip(s)
    s1, c1, s2, c2 = np.sin(th1), np.cos(th1), np.sin(th2), np.cos(th2)
    joint = (L1 * s1) ** 2 + (L1 * (1.0 - c1)) ** 2          # = 2 L1^2 (1 - cos th1)
    end = (L1 * s1 + L2 * s2) ** 2 + (L1 * (1.0 - c1) + L2 * (1.0 - c2)) ** 2
    distance = x_weight * x_tip ** 2 + (joint + end) / (L1 + L2) ** 2
    velocity = 1e-3 * s[..., 4] ** 2 + 5e-3 * s[..., 5] ** 2
    return 1.0 - distance - velocity


def swing_up_reward(state, force, max_force):
    """
    Return the swing-up reward: the tip's height in [0, 1], minus the cart's offset.

    ``(1 + y_tip / L) / 2 - 0.01 x^2 - 1e-3 (u / max_force)^2``: 0 hanging
    at rest, 1 upright; no alive bonus (nothing ends on a fall), the track's
    halt ends it and so costs the rest of the episode's reward.
    """
    s = np.asarray(state, dtype=float)
    _, y_tip = tip(s)
    u = np.asarray(force, dtype=float) / max_force
    return 0.5 * (1.0 + y_tip / (L1 + L2)) - 0.01 * s[..., 0] ** 2 - 1e-3 * u ** 2


@dataclass(frozen=True)
class Task:
    """One learning task: its start distribution, its fall limit, its reward."""

    name: str
    start: tuple              # the centre of the initial states [x, th1, th2, xd, th1d, th2d]
    spread: tuple             # half-widths of the uniform box around it
    reward: object            # f(state, force, max_force), see the module notes
    fall_angle: float = None  # rad: |th1| or |th2| beyond it halts the plant (None: no limit)
    duration: float = 10.0    # s, where the scenario names none

    def initial_state(self, seed):
        """Return the 6-vector the episode seeded ``seed`` starts from."""
        return self.initial_states([seed])[0]

    def initial_states(self, seeds):
        """Return ``(k, 6)``: the start of each of ``seeds``, uniform in ``start +/- spread``."""
        low = np.asarray(self.start) - np.asarray(self.spread)
        return low + 2.0 * np.asarray(self.spread) * uniforms(seeds, 6)

    def scenario(self, scenario):
        """Return ``scenario`` (a Scenario) with this task's fall limit among its safety limits."""
        if self.fall_angle is None:
            return scenario
        safety = dict(scenario.safety or {})
        safety['fall_angle'] = min(self.fall_angle, safety.get('fall_angle', math.inf))
        return replace(scenario, safety=safety)


BALANCE = Task('balance', start=(0.0,) * 6, spread=(0.05, 0.06, 0.04, 0.05, 0.05, 0.05),
               reward=balance_reward, fall_angle=0.5)
SWING_UP = Task('swing_up', start=(0.0, math.pi, math.pi, 0.0, 0.0, 0.0),
                spread=(0.05, 0.05, 0.05, 0.0, 0.05, 0.05), reward=swing_up_reward)
TASKS = {task.name: task for task in (BALANCE, SWING_UP)}
