"""
The substep rule's figures (issue 28): error anywhere, cost near upright and spinning.

- the one-period error against DOP853 (rtol = atol = 1e-12, the model's
  equations) over ``--states`` random states with any angles,
  |theta dot| <= 40 rad/s, |x dot| <= 5 m/s, |u| <= 20 N, masses +-10 %:
  the single plant, and the same states as lanes of a batch (numpy, numba);
- the cost of a period near upright with the rule and without it (the
  fixed single step it replaced), in one run: the single plant and a batch;
- the worst period's cost when spinning (40 rad/s, 20 N) and its substeps;
- the CPU share of a real-time 100 Hz plant while its links swing and spin.

    python bench/bench_accuracy.py [--states 10000] [--seconds 5]
"""

import argparse
import math
import statistics
import time

import _common  # noqa: F401 - this checkout on sys.path
import numpy as np
from plant_server_ros.physics import substeps
from plant_server_ros.physics.batch import BatchDynamics, LaneParams
from plant_server_ros.physics.dynamics import DIPDynamics, DIPParams
from plant_server_ros.physics.equations import make_accel, model_constants
from scipy.integrate import solve_ivp

DT = 0.01


def cases(n, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        mass = rng.uniform(0.9, 1.1, 3)
        params = DIPParams(cart_mass=1.5 * mass[0], link1_mass=0.2 * mass[1],
                           link2_mass=0.15 * mass[2])
        rate = (2.0, 8.0, 20.0, 40.0)[k % 4]
        state = (rng.uniform(-1, 1), rng.uniform(-math.pi, math.pi),
                 rng.uniform(-math.pi, math.pi), rng.uniform(-5, 5),
                 rng.uniform(-rate, rate), rng.uniform(-rate, rate))
        out.append((params, state, rng.uniform(-20.0, 20.0)))
    return out


def reference(params, state, u):
    accel = make_accel(model_constants(params), math.sin, math.cos)
    return solve_ivp(lambda _, y: (y[3], y[4], y[5]) + accel(y[1], y[2], y[3], y[4], y[5], u),
                     (0.0, DT), state, method='DOP853', rtol=1e-12, atol=1e-12).y[:, -1]


def errors(n):
    all_cases = cases(n)
    refs = np.array([reference(*c) for c in all_cases])
    single = np.array([DIPDynamics(p).step(s, u, DT) for p, s, u in all_cases])
    print(f'{n} random states (any angles, |w| <= 40 rad/s, |v| <= 5 m/s, |u| <= 20 N):')
    print(f'  single plant: worst one-period error {np.abs(single - refs).max():.2e}')
    lanes = LaneParams.from_list([c[0] for c in all_cases])
    columns = tuple(np.array([c[1] for c in all_cases]).T.copy())
    u = np.array([c[2] for c in all_cases])
    for kernel in ('numpy', 'numba'):
        try:
            batch = BatchDynamics(lanes, kernel=kernel)
        except ImportError:
            print(f'  batch {kernel}: not installed')
            continue
        out = np.array(batch.step(columns, u, DT)).T
        print(f'  batch lanes ({kernel}): worst error {np.abs(out - refs).max():.2e}, '
              f'largest difference from the single plant {np.abs(out - single).max():.1e}')
    counts = [DIPDynamics(p).substep_rule.count(DT, s[4], s[5], u) for p, s, u in all_cases]
    print(f'  substeps: mean {np.mean(counts):.2f}, max {max(counts)}')


def per_call(function, repeat=7, number=2000):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            function()
        times.append((time.perf_counter() - start) / number)
    return statistics.median(times)


def fixed(rule):
    """Switch ``rule`` off: every period the configured single step (the old stepping)."""
    rule.count = lambda dt, w1, w2, force, torque=0.0, sqrt=None: rule.least
    rule.counts = lambda dt, w1, w2, force, torque=0.0: rule.least


def costs():
    upright = (0.0, 0.02, -0.01, 0.1, 0.3, -0.2)
    new, old = DIPDynamics(), DIPDynamics()
    fixed(old.substep_rule)
    pairs = []
    for _ in range(5):             # interleaved: the machine's load hits both alike
        pairs.append((per_call(lambda: new.step(upright, 3.0, DT)),
                      per_call(lambda: old.step(upright, 3.0, DT))))
    a = statistics.median(p[0] for p in pairs)
    b = statistics.median(p[1] for p in pairs)
    print(f'near upright, single plant: {a * 1e6:.2f} us with the rule, {b * 1e6:.2f} us '
          f'without ({(a / b - 1) * 100:+.1f} %)')
    n = 4096
    rng = np.random.default_rng(1)
    columns = tuple(rng.normal(0.0, 0.05, (6, n)))
    u = rng.normal(0.0, 3.0, n)
    for kernel in ('numpy', 'numba'):
        try:
            b_new = BatchDynamics(LaneParams(n), kernel=kernel)
            b_old = BatchDynamics(LaneParams(n), kernel=kernel)
        except ImportError:
            continue
        fixed(b_old.substep_rule)
        b_new.step(columns, u, DT)
        b_old.step(columns, u, DT)
        pairs = [(per_call(lambda: b_new.step(columns, u, DT), 3, 50),
                  per_call(lambda: b_old.step(columns, u, DT), 3, 50)) for _ in range(7)]
        a = statistics.median(p[0] for p in pairs)
        b = statistics.median(p[1] for p in pairs)
        print(f'near upright, batch {kernel} N={n}: {a * 1e3:.3f} ms a period with the rule, '
              f'{b * 1e3:.3f} ms without ({(a / b - 1) * 100:+.1f} %)')
    spinning = (0.0, 1.0, -2.0, 5.0, 40.0, -40.0)
    count = new.substep_rule.count(DT, 40.0, -40.0, 20.0)
    worst = per_call(lambda: new.step(spinning, 20.0, DT), 5, 200)
    print(f'worst case (|w| = 40 rad/s both links, u = 20 N): {count} substeps, '
          f'{worst * 1e6:.1f} us a period')
    try:
        compiled = DIPDynamics(compiled=True)
    except ImportError:
        return
    fast = per_call(lambda: compiled.step(spinning, 20.0, DT), 5, 200)
    print(f'  the same with compiled_step: {fast * 1e6:.1f} us a period')


def realtime_cpu(seconds, compiled=False):
    """Print the CPU share of a real-time 100 Hz plant whose links swing and spin."""
    from plant_server_ros.runtime.plant import Plant
    from plant_server_ros.runtime.realtime import RealtimeSchedule
    plant = Plant(DIPDynamics(compiled=compiled), dt=DT,
                  initial_state=(0.0, math.pi - 0.2, math.pi + 0.3, 0.0, 15.0, -20.0),
                  track_limit=5.0, sensor_noise_std=0.01, seed=1)
    schedule = RealtimeSchedule(plant)
    rates, counts = [], []
    schedule.start()
    try:
        cpu0, wall0 = time.process_time(), time.monotonic()
        while time.monotonic() - wall0 < seconds:
            t = time.monotonic() - wall0
            schedule.control(10.0 * math.sin(2.0 * math.pi * 1.5 * t))   # pumps the swing
            s = plant.state
            rates.append(math.hypot(s[4], s[5]))
            counts.append(plant.dynamics.substep_rule.count(DT, s[4], s[5], 10.0))
            time.sleep(DT)
        cpu = time.process_time() - cpu0
        wall = time.monotonic() - wall0
    finally:
        schedule.stop()
    print(f'real-time 100 Hz plant{" (compiled_step)" if compiled else ""}, links '
          f'swinging ({seconds:g} s, |w| median '
          f'{statistics.median(rates):.1f} rad/s, max {max(rates):.1f}; substeps median '
          f'{statistics.median(counts):.0f}, max {max(counts)}): '
          f'{cpu / wall * 100:.1f} % of a core (this process: plant and its 100 Hz controller)')


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--states', type=int, default=10000)
    parser.add_argument('--seconds', type=float, default=5.0)
    args = parser.parse_args()
    print(f'substep rule: span rk6 {substeps.SPANS["rk6"]}, at most {substeps.MAX_SUBSTEPS}')
    if args.states:
        errors(args.states)
    costs()
    realtime_cpu(args.seconds)
    try:
        DIPDynamics(compiled=True)
    except ImportError:
        return
    realtime_cpu(args.seconds, compiled=True)


if __name__ == '__main__':
    main()
