"""
Plant-steps per second of PlantBatch against N, beside the single plant (no ROS).

For N in 1, 64, 1,024, 4,096, 16,384: lane-periods per second of
``PlantBatch.step`` (rk6, dt = 0.01, LQR-sized forces) with every condition
off (no sensor noise, no uncertainty, no saturation limit), and with white
sensor noise, the ``masses_10pct`` uncertainty and +/-20 N saturation on;
the memory per lane (tracemalloc peak over construction and a step, / N).
In the same run: the single plant's in-process lock-step period, bare
(``LockstepSchedule.control``: the ``x single`` columns divide by it, the
stricter of the two) and through the plant host (``PlantHost.control``, the
host every door and the Gymnasium env use), and the Gymnasium single env's
``step()`` beside the host's (the env adds its adapter, the reward and the
info dict).  Medians of ``--rounds`` rounds.

    python bench/bench_batch.py [--rounds 3] [--lane-steps 1000000]
                                [--kernel numpy|numba|numba-parallel]

``--kernel numba``: the optional compiled kernel (physics/batch_numba.py),
one thread; ``numba-parallel``: numba's threads (2 here).
"""

import argparse
import time
import tracemalloc

import _common  # noqa: F401 - makes this checkout importable
import numpy as np
from plant_server_ros.batch import PlantBatch
from plant_server_ros.conditions.scenario import load
from plant_server_ros.runtime.host import PlantHost
from plant_server_ros.runtime.lockstep import LockstepSchedule
from plant_server_ros.runtime.plant import Plant

SIZES = (1, 64, 1024, 4096, 16384)


KERNEL = 'numpy'


def batch_for(n, conditions):
    if conditions:
        return PlantBatch(n, load('masses_10pct.yaml')[0], sensor_noise_std=0.01,
                          max_force=20.0, seed=1, kernel=KERNEL)
    return PlantBatch(n, sensor_noise_std=0.0, max_force=np.inf, seed=1, kernel=KERNEL)


def batch_rate(n, conditions, lane_steps):
    batch = batch_for(n, conditions)
    u = np.linspace(-2.0, 2.0, n)
    steps = max(20, min(lane_steps // n, 3000))     # small N: per-step cost, not N
    batch.step(u)
    t = time.perf_counter()
    for _ in range(steps):
        batch.step(u)
    return n * steps / (time.perf_counter() - t)


def memory_per_lane(n, conditions):
    tracemalloc.start()
    batch = batch_for(n, conditions)
    batch.step(np.zeros(n))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    del batch
    return peak / n


def single_rate(periods):
    schedule = LockstepSchedule(Plant(sensor_noise_std=0.0, seed=1))
    schedule.start()
    t = time.perf_counter()
    for k in range(periods):
        schedule.control(1.0 if k % 2 else -1.0)
    return periods / (time.perf_counter() - t)


def host_rate(periods):
    host = PlantHost({'mode': 'lockstep', 'sensor_noise_std': 0.0, 'seed': 1})
    host.start()
    try:
        t = time.perf_counter()
        for k in range(periods):
            host.control(1.0 if k % 2 else -1.0)
        return periods / (time.perf_counter() - t)
    finally:
        host.stop()


def gym_rate(periods):
    try:
        from plant_server_ros.gym.env import DoubleInvertedPendulumEnv
    except ImportError:
        return None
    env = DoubleInvertedPendulumEnv(sensor_noise_std=0.0, duration=1e9)
    env.reset(seed=1)
    actions = (np.array([1.0]), np.array([-1.0]))
    t = time.perf_counter()
    for k in range(periods):
        env.step(actions[k % 2])
    return periods / (time.perf_counter() - t)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--lane-steps', type=int, default=1_000_000)
    parser.add_argument('--single-periods', type=int, default=20_000)
    parser.add_argument('--kernel', default='numpy')
    args = parser.parse_args()
    global KERNEL
    KERNEL = args.kernel
    batch_for(1, True).step(np.zeros(1))           # compile (numba) outside the timing
    rates = {(n, c): [] for n in SIZES for c in (False, True)}
    singles, hosts, gyms = [], [], []
    for _ in range(args.rounds):
        singles.append(single_rate(args.single_periods))
        hosts.append(host_rate(args.single_periods))
        gyms.append(gym_rate(args.single_periods))
        for n in SIZES:
            for c in (False, True):
                rates[n, c].append(batch_rate(n, c, args.lane_steps))
    single, host = np.median(singles), np.median(hosts)
    print(f'rk6, dt 0.01, kernel {KERNEL}; medians of {args.rounds} rounds')
    print(f'single plant, in-process lock-step: {single:10,.0f} steps/s '
          f'({1e6 / single:.1f} us/step)')
    print(f'the plant host, lock-step control(): {host:9,.0f} steps/s '
          f'({1e6 / host:.1f} us/step)')
    if gyms[0] is not None:
        g = np.median(gyms)
        print(f'gymnasium single env step():        {g:10,.0f} steps/s ({1e6 / g:.1f} us/step, '
              f'{host / g:.2f}x the step cost of the plant host)')
    print(f'{"N":>6}  {"conditions off":>16}  {"x single":>8}  {"noise+unc+sat":>16}  '
          f'{"x single":>8}  {"bytes/lane":>10}')
    for n in SIZES:
        off, on = np.median(rates[n, False]), np.median(rates[n, True])
        mem = memory_per_lane(n, True)
        print(f'{n:6d}  {off:16,.0f}  {off / single:8.1f}  {on:16,.0f}  {on / single:8.1f}  '
              f'{mem:10,.0f}')


if __name__ == '__main__':
    main()
