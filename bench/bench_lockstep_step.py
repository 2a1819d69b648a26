"""
The in-process cost of one lock-step step through PlantServer's legacy backend.

What a CONTROL costs once its frame is decoded: the backend call, the plant's
step and the sample handed to the door (no sockets, so the machine's network
noise stays out).  ``--tree DIR`` imports the package from another checkout,
so two commits can be compared in one run (``bench_before_after.py
--this-script``).

``--compiled-step``: the plant's compiled period (numba) instead of Python's;
``--both``: the two, interleaved in one run.  Without a controller the
pendulum falls within a second and swings (and then takes substeps):
``--balance`` keeps it upright with the package's LQR (six multiplies in
Python, counted in the time).

    python bench/bench_lockstep_step.py [--steps 20000] [--rounds 5] [--tree DIR]
                                        [--compiled-step | --both] [--balance]
"""

import argparse
import statistics
import sys
import time


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--steps', type=int, default=20000)
    parser.add_argument('--rounds', type=int, default=5)
    parser.add_argument('--tree', help='the checkout to import plant_server_ros from')
    parser.add_argument('--compiled-step', action='store_true')
    parser.add_argument('--both', action='store_true')
    parser.add_argument('--balance', action='store_true')
    args = parser.parse_args()
    if args.tree:
        sys.path.insert(0, args.tree)
    else:
        import _common  # noqa: F401 - this checkout on sys.path
    from plant_server_ros import PlantServer
    from plant_server_ros.clients.controllers import lqr_gain
    gain = tuple(float(k) for k in lqr_gain(0.01))
    kinds = [False, True] if args.both else [args.compiled_step]
    servers = {}
    for compiled in kinds:
        extra = {'compiled_step': True} if compiled else {}
        start = time.perf_counter()
        servers[compiled] = PlantServer(bind_addr=('127.0.0.1', 0), mode='lockstep',
                                        sensor_noise_std=0.01, seed=1, **extra)
        if compiled:
            print(f'PlantServer with compiled_step built in '
                  f'{time.perf_counter() - start:.2f} s')
    per_step = {compiled: [] for compiled in kinds}
    try:
        for _ in range(args.rounds):
            for compiled in kinds:                 # interleaved: the load hits both alike
                backend = servers[compiled].backend
                backend.reset(None)
                control = backend.control
                start = time.perf_counter()
                if args.balance:
                    k0, k1, k2, k3, k4, k5 = gain
                    u = 0.0
                    for i in range(args.steps):
                        m = control(u)[0]
                        u = -(k0 * m[0] + k1 * m[1] + k2 * m[2] + k3 * m[3] + k4 * m[4]
                              + k5 * m[5])
                else:
                    for i in range(args.steps):
                        control(0.5 if i % 2 else -0.5)
                per_step[compiled].append((time.perf_counter() - start) / args.steps * 1e6)
    finally:
        for server in servers.values():
            server.close()
    for compiled in kinds:
        times = per_step[compiled]
        print(f'lock-step step through the backend{" (compiled_step)" if compiled else ""}: '
              f'median {statistics.median(times):.2f} us per step over {args.rounds} rounds '
              f'of {args.steps} (min {min(times):.2f}, max {max(times):.2f})')


if __name__ == '__main__':
    main()
