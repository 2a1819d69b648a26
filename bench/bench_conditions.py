"""
CPU cost of one real-time period of the plant with the test conditions on (no ROS).

Per period, what the real-time schedule spends on the plant: the sample due at
the next tick computed ahead (``preview`` and ``measure_ahead``), computed again
once after a control arrives mid-period (``set_control(u, at=dt/2)``, then
``preview`` and ``measure_ahead`` for the same sample), and the step that
commits it at the tick.  An LQR on the true state keeps the pendulum up (its
cost is not counted; on the measured state, the delays of every model at once
make it fall now and then).  Median and p99 per configuration: all off (the
plant before the conditions), the simple sensor noise, every model on (with a
motor model, whose command waits for the next period, and with an ideal motor,
whose mid-period control cuts the period instead).

    python bench/bench_conditions.py [--periods 20000] [--dt 0.01]
"""

import argparse
import time

from _common import percentiles
import numpy as np
from plant_server_ros.clients.controllers import lqr_gain
from plant_server_ros.conditions.scenario import Scenario, ScenarioPlayer
from plant_server_ros.runtime.plant import Plant

TARGET_US = 50.0      # per period with every model on

EVERY_MODEL = {
    'name': 'every_model',
    'disturbances': [           # one of each kind, edges off the sample grid
        {'kind': 'step', 'channel': 'tau1', 'amplitude': 0.002, 'start': 0.0137},
        {'kind': 'pulse', 'channel': 'force', 'amplitude': 0.5, 'start': 1.0037,
         'duration': 0.0213},
        {'kind': 'sine', 'channel': 'tau2', 'amplitude': 0.002, 'frequency': 0.7},
        {'kind': 'noise', 'channel': 'force', 'std': 0.2},
        {'kind': 'noise', 'channel': 'tau1', 'std': 0.002, 'bandwidth': 5.0},
    ],
    'uncertainty': {'masses': 0.05, 'lengths': 0.05, 'coms': 0.05, 'inertias': 0.05,
                    'frictions': 0.1},
    'sensor': {'noise_std': [0.0002, 0.001, 0.001, 0.005, 0.01, 0.01],
               'bias': [0.0005, 0.0, 0.0, 0.0, 0.0, 0.0],
               'drift_std': [0.0005, 0.0, 0.0, 0.0, 0.0, 0.0],
               'quantum': [0.0005, 0.001, 0.001, 0.0, 0.0, 0.0],
               'dropout': 0.01, 'delay': 1},
    'actuator': {'time_constant': 0.01, 'slew_rate': 2000.0, 'delay': 1, 'deadband': 0.02},
    'safety': {'fall_angle': 1.0, 'max_cart_speed': 10.0, 'max_joint_rate': 50.0},
}
IDEAL_MOTOR = {k: v for k, v in EVERY_MODEL.items() if k != 'actuator'}


def make(config, dt):
    if config == 'all off':
        return Plant(dt=dt, sensor_noise_std=0.0, seed=1)
    if config == 'simple noise':
        return Plant(dt=dt, sensor_noise_std=0.01, seed=1)
    values = EVERY_MODEL if config == 'every model on' else IDEAL_MOTOR
    plant = Plant(dt=dt, seed=1, scenarios=ScenarioPlayer([Scenario.from_dict(values, dt=dt)]))
    plant.set_disturbance(0.1, 0.001, 0.0)        # a live push held all along
    return plant


def run(config, periods, dt, warmup=500):
    """Return the per-period cost [us] as (total, ahead, again, commit) arrays."""
    plant = make(config, dt)
    gain = [float(g) for g in lqr_gain(dt)]
    clock = time.perf_counter
    stamps = []
    resets = 0
    for k in range(warmup + periods):
        u = -sum(g * s for g, s in zip(gain, plant.state))
        index = k + 1
        t = (plant.steps + 1) * dt
        t0 = clock()
        state, _ = plant.preview()                      # the sample computed ahead
        plant.measure_ahead(state, t, index)
        t1 = clock()
        plant.set_control(u, at=dt / 2)                 # a control mid-period: again
        state, _ = plant.preview()
        plant.measure_ahead(state, t, index)
        t2 = clock()
        plant.step()                                    # the tick commits it
        t3 = clock()
        if k >= warmup:
            stamps.append((t0, t1, t2, t3))
        if plant.fault is not None:
            resets += k >= warmup
            plant.reset()
    s = np.array(stamps) * 1e6
    parts = np.diff(s, axis=1)
    return s[:, 3] - s[:, 0], parts[:, 0], parts[:, 1], parts[:, 2], resets


def per_call_us(call, repeats=20000):
    """Return the median cost [us] of ``call()`` over batches of 100 calls."""
    clock = time.perf_counter
    batches = []
    for _ in range(repeats // 100):
        t = clock()
        for _ in range(100):
            call()
        batches.append((clock() - t) * 1e4)
    return float(np.median(batches))


def breakdown(dt):
    """Print what the pieces of a period cost on their own (every model on)."""
    plant = make('every model on', dt)
    state = plant.state
    sensors = plant.sensors
    simple = make('simple noise', dt).sensors
    sensors.measure_recorded(state, 1.0)
    costs = {
        'one rk6 step (dynamics.step)': lambda: plant.dynamics.step(state, 1.0, dt),
        'rk6 step with torques': lambda: plant.dynamics.step(state, 1.0, dt, (0.1, 0.01, 0.0)),
        'sensor measure, every model': lambda: sensors.measure(state, 1.0),
        'sensor measure_recorded, every model': lambda: sensors.measure_recorded(state, 1.0),
        'sensor measure_again, every model': lambda: sensors.measure_again(state, 1.0),
        'sensor measure, simple noise': lambda: simple.measure(state, 1.0),
        'disturbances.period (5 kinds)': lambda: plant.disturbances.period(0.0),
        'actuator.step (lag, slew, delay)': lambda: plant.actuator.step(1.0),
    }
    print('where it goes (median per call):')
    for name, call in costs.items():
        print(f'  {name:42s} {per_call_us(call):5.1f} us')


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--periods', type=int, default=20000)
    parser.add_argument('--dt', type=float, default=0.01)
    args = parser.parse_args()
    print(f'one real-time period (dt = {args.dt} s): ahead = preview + measure_ahead, '
          'again = set_control(at=dt/2) + preview + measure_ahead, commit = step; '
          f'{args.periods} periods')
    medians = {}
    for config in ('all off', 'simple noise', 'every model on', 'every model on, ideal motor'):
        total, ahead, again, commit, resets = run(config, args.periods, args.dt)
        medians[config] = np.median(total)
        print(f'{config:28s}: median {np.median(total):5.1f} us, '
              f'p99 {np.percentile(total, 99):5.1f} us, max {total.max():6.1f} us  '
              f'(ahead {np.median(ahead):4.1f}, again {np.median(again):4.1f}, '
              f'commit {np.median(commit):4.1f} us median)'
              + (f'; {resets} resets' if resets else ''))
    print(percentiles(total, 'every model on, ideal motor (all periods)'))
    breakdown(args.dt)
    base = medians['all off']
    for config in ('every model on', 'every model on, ideal motor'):
        print(f'{config}: {medians[config] / base:.2f}x all off, '
              f'target <= {TARGET_US:g} us per period: '
              f'{"met" if medians[config] <= TARGET_US else "NOT met"} (median)')


if __name__ == '__main__':
    main()
