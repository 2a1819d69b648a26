"""
Tune a state-feedback controller on uncertain plants in seconds, then prove it on the real plant.

The controller is ``u = -K x`` on the measured state, saturated at +/-20 N;
the search starts from the package's LQR gain and scales each of its six
entries by ``10**p``, ``p`` in ``[-SPAN, SPAN]``.  Each candidate is judged on
``--plants`` plants drawn from the ``masses_10pct`` uncertainty (the same
plants for every candidate: common random numbers), from the scenario's
initial state, for ``--seconds`` s:

    J = mean over plants of  sum_k (th1^2 + th2^2 + 0.1 x^2 + 1e-4 u^2) dt
        + 10 * (the time left when the plant halted)

``scipy.optimize.differential_evolution(vectorized=True)`` hands a whole
population to one call; every candidate times every plant is one lane of a
:class:`~plant_server_ros.batch.PlantBatch`, all stepped together.

``--kernel auto`` (the default) steps the batch with the optional compiled
kernel where numba is installed (about 9 s to compile, once), else numpy.

Then the proof: the LQR gain and the tuned gain each face ``dip_test``
(:func:`~plant_server_ros.testing.runner.run_campaign`, the plant host in
lock-step) on ``masses_10pct`` as shipped: its 10 s, its pass criteria, on
plants the tuning never saw (seeds 101, 102, ...).

    python examples/tune_gains.py [--generations 20] [--plants 8] [--seconds 5]
                                  [--popsize 10] [--proof-seeds 3] [--kernel auto]
"""

import argparse
from pathlib import Path
import sys
import time

import numpy as np
from scipy.optimize import differential_evolution

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # run from a checkout
from plant_server_ros.batch import PlantBatch  # noqa: E402, I100
from plant_server_ros.batch.draws import episode_seed  # noqa: E402
from plant_server_ros.batch.plant_batch import DONE  # noqa: E402
from plant_server_ros.clients.controllers import lqr_gain  # noqa: E402
from plant_server_ros.conditions.scenario import load  # noqa: E402
from plant_server_ros.testing.runner import run_campaign  # noqa: E402

DT = 0.01
MAX_FORCE = 20.0
SPAN = 0.7
SCENARIO = 'masses_10pct.yaml'
HALT_PENALTY = 10.0


def stage_cost(state, u):
    """Return the running cost per period of each lane (``state`` (N, 6), ``u`` (N,))."""
    return (state[:, 1] ** 2 + state[:, 2] ** 2 + 0.1 * state[:, 0] ** 2 + 1e-4 * u * u) * DT


class PlantDraws:
    """
    The same sensor noise for every candidate: normals per plant, tiled over candidates.

    A draws object as PlantBatch takes (``normals(stream, count, lanes)``),
    seeded anew for every evaluation, so that a candidate's cost depends on
    its gains alone (common random numbers: the search compares like with like).
    """

    def __init__(self, plants, candidates, seed):
        self.plants, self.candidates = plants, candidates
        self.rng = np.random.default_rng(seed)

    def normals(self, stream, count, lanes):
        return np.tile(self.rng.standard_normal((count, self.plants)), self.candidates)


class BatchObjective:
    """The cost of a population of gains, over the same plants, in one batch."""

    def __init__(self, plants, seconds, seed=0, kernel='auto', scenario=SCENARIO):
        self.plants = plants
        self.kernel = kernel
        self.periods = int(round(seconds / DT))
        self.scenario = load(scenario)[0]
        self.plant_seeds = np.array([episode_seed(seed, i, 1) for i in range(plants)])
        self.base = lqr_gain(DT)
        self.seed = seed
        self.batches = {}
        self.lane_steps = 0

    def gains(self, p):
        """Return the gains of parameters ``p`` (``(6,)`` or ``(6, S)``)."""
        return self.base[:, None] * 10.0 ** np.asarray(p).reshape(6, -1)

    def __call__(self, p):
        k = self.gains(p)                                   # (6, S)
        s = k.shape[1]
        n = s * self.plants
        batch = self.batches.get(n)
        if batch is None:
            batch = self.batches[n] = PlantBatch(n, self.scenario, max_force=MAX_FORCE,
                                                 seed=1, kernel=self.kernel)
        lane_gain = np.repeat(k.T, self.plants, axis=0)     # (n, 6): candidate-major
        batch.draws = PlantDraws(self.plants, s, self.seed)
        obs = batch.reset(seeds=np.tile(self.plant_seeds, s))
        cost = np.zeros(n)
        for _ in range(self.periods):
            running = ~batch.halted
            u = np.clip(-np.einsum('ij,ij->i', lane_gain, obs), -MAX_FORCE, MAX_FORCE)
            obs = batch.step(u)
            cost += np.where(running, stage_cost(batch.state, u), 0.0)
        self.lane_steps += n * self.periods
        halted = batch.halted & (batch.reason_code != DONE)  # not the scenario's end
        cost += HALT_PENALTY * np.where(halted, self.periods * DT - batch.time, 0.0)
        return cost.reshape(s, self.plants).mean(axis=1)


def tune(generations, plants, seconds, popsize, seed=0, log=print, kernel='auto',
         scenario=SCENARIO):
    """Run differential evolution; return ``(gain, lqr_cost, history, seconds, lane_steps)``."""
    objective = BatchObjective(plants, seconds, seed, kernel, scenario)
    compiling = time.perf_counter()
    objective(np.zeros((6, popsize * 6)))             # builds (and compiles) the batch
    log(f'  batch of {popsize * 6 * plants} lanes ready, kernel '
        f'{objective.batches[popsize * 6 * plants].dynamics.kernel} '
        f'({time.perf_counter() - compiling:.1f} s, not counted below)')
    objective.lane_steps = 0
    history = []
    start = time.perf_counter()

    def record(intermediate_result):
        history.append(float(intermediate_result.fun))
        log(f'  generation {len(history):3d}: best J = {history[-1]:.5f} '
            f'({time.perf_counter() - start:5.1f} s)')

    lqr_cost = float(objective(np.zeros((6, 1)))[0])
    log(f'  LQR gain (start):  J = {lqr_cost:.5f}')
    result = differential_evolution(
        objective, [(-SPAN, SPAN)] * 6, maxiter=generations, popsize=popsize, seed=seed,
        vectorized=True, updating='deferred', polish=False, x0=np.zeros(6), tol=0.0,
        callback=record)
    elapsed = time.perf_counter() - start
    return objective.gains(result.x)[:, 0], lqr_cost, history, elapsed, objective.lane_steps


def prove(gain, seeds, scenario=SCENARIO):
    """dip_test's verdict on ``u = -K x`` over ``scenario`` with ``seeds``: a CampaignResult."""
    def controller(measured, t):
        return float(np.clip(-gain @ np.asarray(measured), -MAX_FORCE, MAX_FORCE))

    plan = {'campaign': [{'scenario': scenario, 'seeds': list(seeds)}]}
    return run_campaign(plan, controller=controller, settings={'max_force': MAX_FORCE})


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--generations', type=int, default=20)
    parser.add_argument('--plants', type=int, default=8)
    parser.add_argument('--seconds', type=float, default=5.0)
    parser.add_argument('--popsize', type=int, default=10)
    parser.add_argument('--proof-seeds', type=int, default=3)
    parser.add_argument('--kernel', default='auto', choices=('auto', 'numpy', 'numba'))
    parser.add_argument('--scenario', default=SCENARIO, help='the scenario to tune on and be '
                        'proved on (default %(default)s; any the batch plays, faults too)')
    args = parser.parse_args(argv)
    print(f'tuning u = -K x on {args.plants} plants of {args.scenario}, {args.seconds:g} s each, '
          f'population {args.popsize * 6}, {args.generations} generations')
    gain, lqr_cost, history, elapsed, lane_steps = tune(
        args.generations, args.plants, args.seconds, args.popsize, kernel=args.kernel,
        scenario=args.scenario)
    print(f'tuned in {elapsed:.1f} s ({lane_steps:,} plant-steps, '
          f'{lane_steps / elapsed:,.0f} plant-steps/s): J {lqr_cost:.5f} (LQR) -> '
          f'{history[-1] if history else lqr_cost:.5f}')
    print('  LQR   K = ' + ' '.join(f'{k:9.3f}' for k in lqr_gain(DT)))
    print('  tuned K = ' + ' '.join(f'{k:9.3f}' for k in gain))
    seeds = [101 + i for i in range(args.proof_seeds)]
    print(f'proof: dip_test, {args.scenario} as shipped (lock-step plant host), '
          f'seeds {seeds} the tuning never saw')
    summary = {}
    for name, k in (('LQR', lqr_gain(DT)), ('tuned', gain)):
        campaign = summary[name] = prove(k, seeds, args.scenario)
        for e in campaign.episodes:
            checks = ', '.join(f"{c['criterion']} {c['value']:.3f} <= {c['limit']:g}"
                               for c in e.checks)
            print(f"  {name:5s} seed {e.seed}: {'PASS' if e.passed else 'FAIL'}  "
                  f"ISE th1 {e.metrics['ise_th1']:.5f}  {checks}"
                  + ''.join(f'; {f}' for f in e.failures))
        print(f"  {name:5s} {'passed' if campaign.passed else 'FAILED'}")
    return gain, history, elapsed, summary


if __name__ == '__main__':
    main()
