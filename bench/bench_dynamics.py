"""
Cost and accuracy of one control period of the plant (no ROS).

For each integrator configuration: median and p99 time of one period
(dt = 0.01, all substeps), and the worst error per period against scipy's
DOP853 at rtol = atol = 1e-12 along an LQR-controlled run from the default
initial state.  A numpy-array RK4 with ``np.linalg.solve`` is timed too, as
the baseline the plain-float hot path replaced.

    python bench/bench_dynamics.py [--periods 300] [--repeats 2000]
"""

import argparse
import time

import _common  # noqa: F401 - makes this checkout importable
import numpy as np
from plant_server_ros.clients.controllers import lqr_gain
from plant_server_ros.physics.dynamics import DIPDynamics
from scipy.integrate import solve_ivp

DT = 0.01
START = np.array([0.0, 0.05, -0.03, 0.0, 0.0, 0.0])


def numpy_rk4_step(model, state, u, dt):
    """RK4 with numpy arrays and ``np.linalg.solve``: the obvious implementation."""
    p = model.params

    def f(s):
        th1, th2, v, w1, w2 = s[1], s[2], s[3], s[4], s[5]
        m = model.mass_matrix(s)
        h1, h2, h3 = model._h1, model._h2, model._h3
        s12 = np.sin(th1 - th2)
        tau = np.array([
            u - p.cart_friction * v + h1 * np.sin(th1) * w1 ** 2 + h2 * np.sin(th2) * w2 ** 2,
            h1 * p.gravity * np.sin(th1) - h3 * s12 * w2 ** 2 - p.joint1_friction * w1
            + p.joint2_friction * (w2 - w1),
            h2 * p.gravity * np.sin(th2) + h3 * s12 * w1 ** 2 - p.joint2_friction * (w2 - w1)])
        return np.concatenate([s[3:], np.linalg.solve(m, tau)])

    k1 = f(state)
    k2 = f(state + dt / 2 * k1)
    k3 = f(state + dt / 2 * k2)
    k4 = f(state + dt * k3)
    return state + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)


def time_period(step, repeats):
    state = tuple(START)
    samples = []
    for _ in range(repeats):
        t = time.perf_counter()
        step(state)
        samples.append(time.perf_counter() - t)
    return np.array(samples) * 1e6


def worst_error(model, periods):
    k = lqr_gain(DT)
    state = START.copy()
    worst = 0.0
    for _ in range(periods):
        u = float(-k @ state)
        ref = solve_ivp(lambda _, y: model.derivative(y, u), (0, DT), state, method='DOP853',
                        rtol=1e-12, atol=1e-12).y[:, -1]
        worst = max(worst, float(np.max(np.abs(np.array(model.step(state, u, DT)) - ref))))
        state = ref
    return worst


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--periods', type=int, default=300)
    parser.add_argument('--repeats', type=int, default=2000)
    args = parser.parse_args()
    print(f'one control period, dt = {DT} s; error vs DOP853 over {args.periods} periods '
          'of an LQR run')
    configs = [('rk6', 1), ('rk4', 1), ('rk4', 4), ('rk4', 5)]
    for integrator, substeps in configs:
        model = DIPDynamics(integrator=integrator, substeps=substeps)
        us = time_period(lambda s: model.step(s, 1.0, DT), args.repeats)
        err = worst_error(model, args.periods)
        tag = ' (default)' if (integrator, substeps) == ('rk6', 1) else ''
        print(f'{integrator} x{substeps}{tag:10s}: median {np.median(us):5.1f} us, '
              f'p99 {np.percentile(us, 99):5.1f} us, worst error/period {err:.2e}')
    model = DIPDynamics()
    us = time_period(lambda s: numpy_rk4_step(model, np.array(s), 1.0, DT), args.repeats // 4)
    print(f'numpy-array rk4 x1 baseline: median {np.median(us):5.1f} us, '
          f'p99 {np.percentile(us, 99):5.1f} us')


if __name__ == '__main__':
    main()
