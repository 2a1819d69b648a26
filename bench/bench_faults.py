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

    python bench/bench_faults.py [--seconds 10] [--dt 0.005] [--rate 100]
"""

import argparse
import itertools
import threading
import time

from _common import percentiles  # also puts this checkout on sys.path
from plant_server_ros import PlantServer
from plant_server_ros.clients.controllers import lqr_gain

STORM = [
    'motor gain 0.9 for 0.03s', 'x jump 0.0005 for 0.02s', 'motor bias 0.2 for 0.02s',
    'theta1 spikes rate=50 size=0.001 for 0.05s', 'motor stuck for 0.01s',
    'cart_friction drift 0.3 pattern=ramp over=0.05 for 0.05s', 'theta2 gain 1.01 for 0.03s',
    'motor overload limit=15 hold=0.05 cooldown=0.02 for 0.05s', 'x_dot freeze for 0.02s',
]


def run(seconds, dt, rate):
    server = PlantServer(bind_addr=('127.0.0.1', 0), mode='realtime', dt=dt,
                         sensor_noise_std=0.0, control_timeout=1.0, seed=1)
    thread = threading.Thread(target=server.start, daemon=True)
    thread.start()
    gain = [float(g) for g in lqr_gain(dt)]
    host = server.host
    stop = threading.Event()
    calls = []

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
        sample = host.schedule.last_sample
        while time.monotonic() < end:
            u = -sum(g * s for g, s in zip(gain, sample.measured))
            sample = host.control(u).result(1.0)
            if host.halted:                     # a storm may topple it: start again
                sample = host.reset().result(1.0)
        stop.set()
        if injector is not None:
            injector.join(5)
        return server.status(), calls
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
    args = parser.parse_args()
    print(f'real-time PlantServer, dt = {args.dt} s, {args.seconds:g} s per run; '
          'status() over its last 1000 ticks')
    for name, rate in (('no fault', 0.0), (f'storm of {args.rate:g}/s', args.rate)):
        status, calls = run(args.seconds, args.dt, rate)
        print(f'{name:18s}: tick lateness p50 {status["tick_lateness_p50_us"]} us, '
              f'p99 {status["tick_lateness_p99_us"]} us; tick cost p50 '
              f'{status["tick_cost_p50_us"]} us, p99 {status["tick_cost_p99_us"]} us; '
              f'overruns {status.get("overruns")}')
        if calls:
            print(f'  {len(calls)} injections/clears; '
                  + percentiles([c * 1e6 for c in calls], 'call time [us]'))


if __name__ == '__main__':
    main()
