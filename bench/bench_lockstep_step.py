"""
The in-process cost of one lock-step step through PlantServer's legacy backend.

What a CONTROL costs once its frame is decoded: the backend call, the plant's
step and the sample handed to the door (no sockets, so the machine's network
noise stays out).  ``--tree DIR`` imports the package from another checkout,
so two commits can be compared in one run (``bench_before_after.py
--this-script``).

    python bench/bench_lockstep_step.py [--steps 20000] [--rounds 5] [--tree DIR]
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
    args = parser.parse_args()
    if args.tree:
        sys.path.insert(0, args.tree)
    else:
        import _common  # noqa: F401 - this checkout on sys.path
    from plant_server_ros import PlantServer
    server = PlantServer(bind_addr=('127.0.0.1', 0), mode='lockstep', sensor_noise_std=0.01,
                         seed=1)
    backend = server.backend
    per_step = []
    try:
        for _ in range(args.rounds):
            backend.reset(None)
            control = backend.control
            start = time.perf_counter()
            for i in range(args.steps):
                control(0.5 if i % 2 else -0.5)
            per_step.append((time.perf_counter() - start) / args.steps * 1e6)
    finally:
        server.close()
    print(f'lock-step step through the backend: median {statistics.median(per_step):.2f} us '
          f'per step over {args.rounds} rounds of {args.steps} (min {min(per_step):.2f}, '
          f'max {max(per_step):.2f})')


if __name__ == '__main__':
    main()
