"""
The scalar plant's period before and after a change, timed in one run (no ROS).

Loads ``plant_server_ros/physics/dynamics.py`` as it was at git revision
``--rev`` (default ``HEAD``) beside the working tree's, checks that both
give the same period to the bit, and times them interleaved (round robin,
so machine noise hits both alike): median period cost and the ratio.

    python bench/bench_scalar_before_after.py [--rev HEAD] [--rounds 20] [--repeats 2000]
"""

import argparse
import subprocess
import sys
import time
import types

import _common  # noqa: F401 - makes this checkout importable
import numpy as np
from plant_server_ros.physics import dynamics as after

DT = 0.01
START = (0.0, 0.05, -0.03, 0.0, 0.0, 0.0)


def load_before(rev):
    """Return the dynamics module of ``rev``, loaded beside the current one."""
    source = subprocess.run(['git', 'show', f'{rev}:plant_server_ros/physics/dynamics.py'],
                            cwd=_common.REPO, check=True, capture_output=True, text=True).stdout
    module = types.ModuleType('plant_server_ros.physics._dynamics_before')
    module.__package__ = 'plant_server_ros.physics'
    sys.modules[module.__name__] = module
    exec(compile(source, f'{rev}:dynamics.py', 'exec'), module.__dict__)
    return module


def cost(model, repeats, disturbance):
    step = model.step
    t = time.perf_counter()
    for _ in range(repeats):
        step(START, 1.0, DT, disturbance)
    return (time.perf_counter() - t) / repeats * 1e6


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--rev', default='HEAD')
    parser.add_argument('--rounds', type=int, default=20)
    parser.add_argument('--repeats', type=int, default=2000)
    args = parser.parse_args()
    before = load_before(args.rev)
    for name, disturbance in (('plain', None), ('torques', (1.0, 0.1, -0.05))):
        old, new = before.DIPDynamics(), after.DIPDynamics()
        state_old, state_new = START, START
        for _ in range(1000):
            state_old = old.step(state_old, 1.0, DT, disturbance)
            state_new = new.step(state_new, 1.0, DT, disturbance)
        same = state_old == state_new
        times = {'before': [], 'after': []}
        for _ in range(args.rounds):
            times['before'].append(cost(old, args.repeats, disturbance))
            times['after'].append(cost(new, args.repeats, disturbance))
        b, a = np.median(times['before']), np.median(times['after'])
        print(f'rk6 period, {name:7s}: before ({args.rev}) {b:5.2f} us, after {a:5.2f} us, '
              f'after/before {a / b:.3f}; 1000 periods bit-identical: {same}')


if __name__ == '__main__':
    main()
