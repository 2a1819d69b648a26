"""
The offline swing-up planner: one force trajectory from hanging to upright (scipy, no ROS).

Why a planned trajectory: for a double pendulum, energy pumping alone
rarely ends near the upright equilibrium with both links aligned; a
trajectory optimised offline within the rig's force and track limits, then
tracked by a time-varying LQR (:mod:`.swingup`), is the known route.

The plan is found by direct multiple shooting: knots every ``knot_dt`` s,
the force held over each knot interval, RK4 over the plant's period between
knots, defects as equality constraints, solved by scipy's SLSQP.  The cost
is the control effort plus a penalty on link rates, so that the plan swings
no faster than it must (the plant's error grows with the rates, and so does
a tracking controller's).  The force bound and the track bound are margins
inside the rig's (``force_margin``, ``track_margin``): the tracking LQR
needs force to spare for a plant that is not the model.

The rig's margins matter more than the plan's finesse: on a plant whose
masses are 10 % off, the tracking LQR needs force to spare (the shipped plan
uses half of a 30 N drive; planned at 75 % of a 20 N drive, the tracking
saturated on the final approach and a tenth of the seeds missed).

    python -m plant_server_ros.clients.swingup_plan

writes the shipped plan (``--out FILE``: elsewhere); the same command gives
the same file.
"""

import argparse
import json
import math
from pathlib import Path
import sys
import time

import numpy as np
import scipy.optimize

from ..physics.dynamics import DIPParams
from ..physics.equations import make_accel, model_constants
from ..runtime.settings import SETTINGS

DT = SETTINGS['dt'].default     # the plant's period the plan is made for

PLAN_FILE = Path(__file__).with_name('swingup_plan.json')
PLAN_VERSION = 1


def _accel(params):
    return make_accel(model_constants(params), np.sin, np.cos)


def rk4_period(accel, x, u, dt):
    """One RK4 step of the state columns ``x`` (6, N) under forces ``u`` (N,)."""
    def f(s):
        a = accel(s[1], s[2], s[3], s[4], s[5], u)
        return np.stack((s[3], s[4], s[5], a[0], a[1], a[2]))
    k1 = f(x)
    k2 = f(x + 0.5 * dt * k1)
    k3 = f(x + 0.5 * dt * k2)
    k4 = f(x + dt * k3)
    return x + dt / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4)


class Problem:
    """The multiple-shooting transcription: decision vector ``z = [X (K+1 x 6), U (K)]``."""

    def __init__(self, params, duration, knot_dt, dt, max_force, track_limit,
                 rate_weight=0.02):
        self.accel = _accel(params)
        self.k = int(round(duration / knot_dt))
        self.sub = int(round(knot_dt / dt))
        if self.k < 2 or self.sub < 1 or abs(self.sub * dt - knot_dt) > 1e-12:
            raise ValueError('knot_dt must be a whole number of plant periods dt')
        self.dt, self.knot_dt = dt, knot_dt
        self.max_force, self.track_limit = max_force, track_limit
        self.rate_weight = rate_weight
        self.start = np.array([0.0, math.pi, math.pi, 0.0, 0.0, 0.0])
        self.goal = np.zeros(6)

    def split(self, z):
        n = (self.k + 1) * 6
        return z[:n].reshape(self.k + 1, 6), z[n:]

    def shoot(self, x, u):
        """Return the states reached from knots ``x`` (K, 6) under ``u`` (K,) one interval on."""
        s = x.T.copy()
        for _ in range(self.sub):
            s = rk4_period(self.accel, s, u, self.dt)
        return s.T

    def cost(self, z):
        x, u = self.split(z)
        return self.knot_dt * (np.sum(u ** 2) / self.max_force ** 2 +
                               self.rate_weight * np.sum(x[:, 4:6] ** 2))

    def cost_grad(self, z):
        x, u = self.split(z)
        gx = np.zeros_like(x)
        gx[:, 4:6] = 2.0 * self.knot_dt * self.rate_weight * x[:, 4:6]
        gu = 2.0 * self.knot_dt * u / self.max_force ** 2
        return np.concatenate([gx.ravel(), gu])

    def defects(self, z):
        x, u = self.split(z)
        d = self.shoot(x[:-1], u) - x[1:]
        return np.concatenate([x[0] - self.start, d.ravel(), x[-1] - self.goal])

    def defects_jac(self, z, eps=1e-6):
        x, u = self.split(z)
        k = self.k
        nx = (k + 1) * 6
        jac = np.zeros((6 + 6 * k + 6, nx + k))
        jac[:6, :6] = np.eye(6)
        jac[-6:, nx - 6:nx] = np.eye(6)
        rows = 6 + 6 * np.arange(k)
        for j in range(7):
            dx = np.zeros((k, 6))
            du = np.zeros(k)
            if j < 6:
                dx[:, j] = eps
            else:
                du[:] = eps
            diff = (self.shoot(x[:-1] + dx, u + du) -
                    self.shoot(x[:-1] - dx, u - du)) / (2 * eps)
            for i in range(k):
                col = 6 * i + j if j < 6 else nx + i
                jac[rows[i]:rows[i] + 6, col] = diff[i]
        for i in range(k):
            jac[rows[i]:rows[i] + 6, 6 * (i + 1):6 * (i + 2)] -= np.eye(6)
        return jac

    def bounds(self):
        lo = np.full((self.k + 1, 6), -np.inf)
        hi = np.full((self.k + 1, 6), np.inf)
        lo[:, 0], hi[:, 0] = -self.track_limit, self.track_limit
        flat_lo = np.concatenate([lo.ravel(), np.full(self.k, -self.max_force)])
        flat_hi = np.concatenate([hi.ravel(), np.full(self.k, self.max_force)])
        return list(zip(np.where(np.isinf(flat_lo), None, flat_lo),
                        np.where(np.isinf(flat_hi), None, flat_hi)))

    def guess(self):
        s = np.linspace(0.0, 1.0, self.k + 1)
        x = np.zeros((self.k + 1, 6))
        x[:, 1] = math.pi * (1.0 - s)
        x[:, 2] = math.pi * (1.0 - s)
        x[:, 4] = -math.pi / (self.k * self.knot_dt)
        x[:, 5] = x[:, 4]
        x[:, 0] = 0.2 * np.sin(2 * math.pi * s)
        return np.concatenate([x.ravel(), np.zeros(self.k)])


def plan(params=None, duration=3.0, knot_dt=0.05, dt=DT, max_force=30.0, track_limit=1.0,
         force_margin=0.5, track_margin=0.7, rate_weight=0.02, max_iter=400, verbose=False):
    """
    Return the plan as a dict: ``dt``, ``t``, ``x`` (N+1 x 6), ``u`` (N) at the plant's period.

    Raises RuntimeError when the optimiser does not converge to a feasible plan.
    """
    params = params if params is not None else DIPParams()
    prob = Problem(params, duration, knot_dt, dt, force_margin * max_force,
                   track_margin * track_limit, rate_weight)
    began = time.perf_counter()
    res = scipy.optimize.minimize(
        prob.cost, prob.guess(), jac=prob.cost_grad, method='SLSQP', bounds=prob.bounds(),
        constraints=[{'type': 'eq', 'fun': prob.defects, 'jac': prob.defects_jac}],
        options={'maxiter': max_iter, 'ftol': 1e-9, 'disp': verbose})
    worst = float(np.max(np.abs(prob.defects(res.x))))
    if verbose:
        print(f'SLSQP: {res.message} after {res.nit} iterations, '
              f'{time.perf_counter() - began:.1f} s, worst defect {worst:.2e}', file=sys.stderr)
    if worst > 1e-5:
        raise RuntimeError(f'the planner did not converge ({res.message}; worst defect '
                           f'{worst:.2e})')
    x, u = prob.split(res.x)
    # Resample at the plant's period: each knot interval integrated from its own knot.
    xs, us = [x[0]], []
    for i in range(prob.k):
        s = x[i][:, None]
        for _ in range(prob.sub):
            s = rk4_period(prob.accel, s, np.array([u[i]]), dt)
            xs.append(s[:, 0])
            us.append(float(u[i]))
    xs[-1] = x[-1]
    return {'version': PLAN_VERSION, 'dt': dt, 'duration': prob.k * knot_dt,
            'knot_dt': knot_dt, 'max_force': max_force, 'track_limit': track_limit,
            'force_margin': force_margin, 'track_margin': track_margin,
            'rate_weight': rate_weight,
            'x': [[round(float(v), 12) for v in row] for row in xs],
            'u': [round(v, 12) for v in us]}


def load_plan(path=None):
    """Return the plan stored at ``path`` (the shipped one by default) as a dict of arrays."""
    path = Path(path) if path is not None else PLAN_FILE
    with open(path, encoding='utf-8') as f:
        data = json.load(f)
    if data.get('version') != PLAN_VERSION:
        raise ValueError(f'{path}: not a swing-up plan of version {PLAN_VERSION}')
    x = np.asarray(data['x'], dtype=float)
    u = np.asarray(data['u'], dtype=float)
    if x.ndim != 2 or x.shape[1] != 6 or u.shape != (x.shape[0] - 1,) or \
            not (np.all(np.isfinite(x)) and np.all(np.isfinite(u))):
        raise ValueError(f'{path}: a plan holds N+1 finite states of 6 and N finite forces')
    return {**data, 'x': x, 'u': u}


def main(argv=None):
    """Entry point: write a plan (``--out``), deterministic for the same arguments."""
    parser = argparse.ArgumentParser(prog='python -m plant_server_ros.clients.swingup_plan',
                                     description='Plan a swing-up offline and write it as JSON.')
    parser.add_argument('--out', default=str(PLAN_FILE))
    parser.add_argument('--duration', type=float, default=3.0)
    parser.add_argument('--knot-dt', type=float, default=0.05)
    parser.add_argument('--max-force', type=float, default=30.0)
    parser.add_argument('--track-limit', type=float, default=1.0)
    parser.add_argument('--force-margin', type=float, default=0.5)
    parser.add_argument('--track-margin', type=float, default=0.7)
    parser.add_argument('--rate-weight', type=float, default=0.02)
    args = parser.parse_args(argv)
    try:
        result = plan(duration=args.duration, knot_dt=args.knot_dt,
                      max_force=args.max_force, track_limit=args.track_limit,
                      force_margin=args.force_margin, track_margin=args.track_margin,
                      rate_weight=args.rate_weight, verbose=True)
    except (RuntimeError, ValueError) as exc:
        print(f'swingup_plan: {exc}', file=sys.stderr)
        return 1
    with open(args.out, 'w', encoding='utf-8') as f:
        json.dump(result, f, separators=(',', ':'))
        f.write('\n')
    print(f'swingup_plan: wrote {args.out} ({len(result["u"])} periods)', file=sys.stderr)
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
