"""
Does a live fault injection disturb the real-time schedule?  Tick lateness with and without.

Runs a real-time ``PlantServer`` (in this process, as a test bench would)
twice for ``--seconds`` each: once quiet, once under a fault storm of
``--rate`` injections a second (100 by default: short motor, sensor and
parameter faults of every kind, and a ``clear_faults()`` every tenth),
while an LQR on the measured state sends one control per period through
the host.  After each run, ``PlantServer.status()`` gives the tick lateness
and tick cost p50/p99 over its last 1000 ticks; the storm's injections are
counted and their own call time reported (how long a person's command holds
the plant's lock).

    python bench/bench_faults.py [--seconds 10] [--dt 0.005] [--rate 100] [--rounds 3]
"""

import argparse
import itertools
import statistics
import threading
import time

from _common import percentiles  # also puts this checkout on sys.path
from plant_server_ros import PlantServer
from plant_server_ros.clients.controllers import lqr_gain
from plant_server_ros.runtime.schedule import PlantHalted

NEAR_UPRIGHT = (0.0, 0.01, 0.0, 0.0, 0.0, 0.0)
STORM = [      # mild ones: the LQR keeps the pendulum up, so every tick does its full work
    'motor gain 0.95 for 0.03s', 'x jump 0.0001 for 0.02s', 'motor bias 0.05 for 0.02s',
    'theta1 spikes rate=50 size=0.0001 for 0.05s', 'motor stuck for 0.005s',
    'cart_friction drift 0.25 pattern=ramp over=0.05 for 0.05s', 'theta2 gain 1.001 for 0.03s',
    'motor overload limit=19 hold=0.05 cooldown=0.01 for 0.05s', 'x_dot freeze for 0.01s',
]


def run(seconds, dt, rate):
    server = PlantServer(bind_addr=('127.0.0.1', 0), mode='realtime', dt=dt,
                         sensor_noise_std=0.0, control_timeout=1.0, seed=1)
    thread = threading.Thread(target=server.start, daemon=True)
    thread.start()
    gain = [float(g) for g in lqr_gain(dt)]
    host = server.host
    stop = threading.Event()
    calls, resets = [], []

    def storm():
        specs = itertools.cycle(STORM)
        period = 1.0 / rate
        due = time.monotonic()
        for k in itertools.count():
            due += period
            if stop.wait(max(0.0, due - time.monotonic())):
                return
            t = time.perf_counter()
            if k % 10 == 9:
                server.clear_faults()
            else:
                server.inject(next(specs))
            calls.append(time.perf_counter() - t)

    try:
        deadline = time.monotonic() + 20.0
        while host.schedule.last_sample is None and time.monotonic() < deadline:
            time.sleep(0.01)
        injector = threading.Thread(target=storm, daemon=True) if rate else None
        if injector is not None:
            injector.start()
        end = time.monotonic() + seconds
        # From near upright: from the default start the LQR saturates, and with the
        # real-time path's part-period delay it may not catch it (not what is measured).
        sample = host.reset(NEAR_UPRIGHT).result(1.0)
        while time.monotonic() < end:
            u = -sum(g * s for g, s in zip(gain, sample.measured))
            try:
                sample = host.control(u).result(1.0)
            except PlantHalted:                 # should a storm topple it: start again
                sample = host.reset(NEAR_UPRIGHT).result(1.0)
                resets.append(sample.t)
        stop.set()
        if injector is not None:
            injector.join(5)
        status = server.status()
        status['resets'] = len(resets)
        return status, calls
    finally:
        stop.set()
        server.stop()
        thread.join(10)
        server.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--seconds', type=float, default=10.0)
    parser.add_argument('--dt', type=float, default=0.005)
    parser.add_argument('--rate', type=float, default=100.0, help='injections per second')
    parser.add_argument('--rounds', type=int, default=3,
                        help='runs of each, interleaved (quiet, storm, quiet, ...)')
    args = parser.parse_args()
    print(f'real-time PlantServer, dt = {args.dt} s, {args.seconds:g} s per run, '
          f'{args.rounds} rounds interleaved; status() over its last 1000 ticks')
    figures = {}
    for _ in range(args.rounds):
        for name, rate in (('no fault', 0.0), (f'storm of {args.rate:g}/s', args.rate)):
            status, calls = run(args.seconds, args.dt, rate)
            figures.setdefault(name, []).append(status)
            print(f'{name:18s}: tick lateness p50 {status["tick_lateness_p50_us"]} us, '
                  f'p99 {status["tick_lateness_p99_us"]} us; tick cost p50 '
                  f'{status["tick_cost_p50_us"]} us, p99 {status["tick_cost_p99_us"]} us; '
                  f'overruns {status.get("overruns")}, resets {status["resets"]}')
            if calls:
                print(f'  {len(calls)} injections/clears; '
                      + percentiles([c * 1e6 for c in calls], 'call time [us]'))
    for name, runs in figures.items():
        print(f'{name:18s} median of {len(runs)}: ' + ', '.join(
            f'{key} {statistics.median(r[key] for r in runs):.1f}'
            for key in ('tick_lateness_p50_us', 'tick_lateness_p99_us', 'tick_cost_p50_us',
                        'tick_cost_p99_us')))


if __name__ == '__main__':
    main()
