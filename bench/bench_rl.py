"""
The tasks' throughput for RL: the vector env at N lanes, and where SB3's PPO spends its time.

1. Env steps per second of :class:`~plant_server_ros.gym.task_envs.TaskVectorEnv`
   (the balance task: observation, reward, termination, same-step restarts
   with fresh starts) at ``--lanes`` lanes with the compiled kernel
   (``--kernel numba``), random actions, on the default scenario (sensor
   noise on, +/-20 N) and on ``masses_10pct`` (per-episode plants).  Median
   of ``--rounds`` rounds of ``--steps`` vector steps each, after a warm-up
   (numba compiles once, about 10 s).
2. SB3 PPO on the SB3 adapter (``--sb3-lanes`` lanes, ``--sb3-steps`` env
   steps, one torch thread): wall time split into the env's ``step_wait``
   (the batch and the adapter), the policy's forward passes while
   collecting, and the learner's update (``train``), measured by wrapping
   those methods with a clock.

    python bench/bench_rl.py [--lanes 4096] [--steps 200] [--rounds 3]
                             [--kernel numba] [--sb3-lanes 16] [--sb3-steps 65536]
"""

import argparse
import time

import _common  # noqa: F401 - makes this checkout importable
import numpy as np
from plant_server_ros.gym.task_envs import TaskVectorEnv


def throughput(lanes, steps, rounds, kernel, scenario):
    """Return the median env steps per second (lane-steps) over ``rounds``."""
    env = TaskVectorEnv(lanes, 'balance', scenario, kernel=kernel, autoreset_mode='same_step')
    env.reset(seed=1)
    rng = np.random.default_rng(0)
    actions = rng.uniform(-0.2, 0.2, (steps, lanes, 1)).astype(np.float32)
    for k in range(5):                       # warm-up: the kernel compiles here
        env.step(actions[k])
    rates = []
    for _ in range(rounds):
        start = time.perf_counter()
        for k in range(steps):
            env.step(actions[k])
        rates.append(lanes * steps / (time.perf_counter() - start))
    return float(np.median(rates))


class Clock:
    """Seconds spent inside the wrapped methods, by name."""

    def __init__(self):
        self.spent = {}

    def wrap(self, owner, name, label):
        method = getattr(owner, name)

        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                self.spent[label] = self.spent.get(label, 0.0) + time.perf_counter() - start
        setattr(owner, name, timed)


def sb3_profile(lanes, steps, kernel):
    """Return ``(wall s, {part: s})`` of SB3 PPO learning ``steps`` env steps."""
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import VecNormalize
    from plant_server_ros.gym.sb3 import SB3VecEnv
    torch.set_num_threads(1)
    env = SB3VecEnv(lanes, 'balance', seed=1, kernel=kernel)
    venv = VecNormalize(env)
    model = PPO('MlpPolicy', venv, n_steps=128, batch_size=512, n_epochs=10, device='cpu',
                seed=1)
    clock = Clock()
    clock.wrap(env, 'step_wait', 'env (batch + adapter)')
    clock.wrap(model, 'train', 'learner (PPO update)')
    clock.wrap(model.policy, 'forward', 'policy forward (collecting)')
    model.learn(256)                        # warm-up: the kernel, torch's first passes
    clock.spent.clear()
    start = time.perf_counter()
    model.learn(steps, reset_num_timesteps=True)
    return time.perf_counter() - start, dict(clock.spent)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--lanes', type=int, default=4096)
    parser.add_argument('--steps', type=int, default=200)
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--kernel', default='numba', choices=('numpy', 'numba'))
    parser.add_argument('--sb3-lanes', type=int, default=16)
    parser.add_argument('--sb3-steps', type=int, default=65536)
    args = parser.parse_args(argv)
    for scenario in (None, 'masses_10pct.yaml'):
        rate = throughput(args.lanes, args.steps, args.rounds, args.kernel, scenario)
        print(f'TaskVectorEnv balance, {scenario or "default scenario"}, {args.lanes} lanes, '
              f'{args.kernel}: {rate / 1e6:.2f} M env steps/s', flush=True)
    if args.sb3_steps:
        wall, spent = sb3_profile(args.sb3_lanes, args.sb3_steps, args.kernel)
        print(f'SB3 PPO, {args.sb3_lanes} lanes, {args.sb3_steps} env steps: {wall:.1f} s '
              f'({args.sb3_steps / wall:.0f} env steps/s)')
        for part, seconds in sorted(spent.items(), key=lambda kv: -kv[1]):
            print(f'  {part:<30} {seconds:7.1f} s  {100 * seconds / wall:5.1f} %')
        rest = wall - sum(spent.values())
        label = 'rest (SB3 buffers, VecNormalize)'
        print(f'  {label:<30} {rest:7.1f} s  {100 * rest / wall:5.1f} %')


if __name__ == '__main__':
    main()
