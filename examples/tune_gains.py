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

Then the proof: the LQR gain and the tuned gain each run a lock-step
``PlantServer`` campaign of ``masses_10pct`` on plants the tuning never saw
(seeds 101, 102, ...), through the legacy TCP door as any client would.

    python examples/tune_gains.py [--generations 20] [--plants 8] [--seconds 5]
                                  [--popsize 10] [--proof-seeds 3]
"""

import argparse
from pathlib import Path
import sys
import threading
import time

import numpy as np
from scipy.optimize import differential_evolution

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # run from a checkout
from plant_server_ros.batch import PlantBatch  # noqa: E402, I100
from plant_server_ros.batch.draws import episode_seed  # noqa: E402
from plant_server_ros.clients.controllers import lqr_gain  # noqa: E402
from plant_server_ros.clients.tcp_client import LegacyClient  # noqa: E402
from plant_server_ros.conditions.scenario import load  # noqa: E402
from plant_server_ros.legacy.protocol import ProtocolError  # noqa: E402
from plant_server_ros.server.plant_server import PlantServer  # noqa: E402

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

    def __init__(self, plants, seconds, seed=0):
        self.plants = plants
        self.periods = int(round(seconds / DT))
        self.scenario = load(SCENARIO)[0]
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
                                                 seed=1)
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
        halted = batch.halted & (batch.reason_code != 7)     # not the scenario's end
        cost += HALT_PENALTY * np.where(halted, self.periods * DT - batch.time, 0.0)
        return cost.reshape(s, self.plants).mean(axis=1)


def tune(generations, plants, seconds, popsize, seed=0, log=print):
    """Run differential evolution; return ``(gain, history, seconds, lane_steps)``."""
    objective = BatchObjective(plants, seconds, seed)
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


def campaign_run(gain, seeds, seconds):
    """Run the gain on a lock-step PlantServer campaign; per episode (seconds up, cost)."""
    campaign = {'campaign': [{'scenario': SCENARIO, 'seeds': list(seeds)}]}
    ready = threading.Event()
    server = PlantServer(bind_addr=('127.0.0.1', 0), mode='lockstep', scenario=campaign,
                         server_ready_event=ready, seed=0, max_force=MAX_FORCE)
    thread = threading.Thread(target=server.start, daemon=True)
    thread.start()
    ready.wait(10.0)
    results = []
    try:
        with LegacyClient(port=server.port) as client:
            for _ in seeds:
                state, t = client.reset()
                cost, up = 0.0, 0.0
                for _ in range(int(round(seconds / DT))):
                    x = np.asarray(state)
                    u = float(np.clip(-gain @ x, -MAX_FORCE, MAX_FORCE))
                    try:
                        state, t = client.control(u)
                    except ProtocolError:             # HALTED: a limit or the scenario's end
                        break
                    measured = np.asarray(state)[None, :]
                    cost += float(stage_cost(measured, np.array([u]))[0])
                    up = t
                results.append((up, cost))
    finally:
        server.close()
        thread.join(10.0)
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--generations', type=int, default=20)
    parser.add_argument('--plants', type=int, default=8)
    parser.add_argument('--seconds', type=float, default=5.0)
    parser.add_argument('--popsize', type=int, default=10)
    parser.add_argument('--proof-seeds', type=int, default=3)
    args = parser.parse_args(argv)
    print(f'tuning u = -K x on {args.plants} plants of {SCENARIO}, {args.seconds:g} s each, '
          f'population {args.popsize * 6}, {args.generations} generations')
    gain, lqr_cost, history, elapsed, lane_steps = tune(
        args.generations, args.plants, args.seconds, args.popsize)
    print(f'tuned in {elapsed:.1f} s ({lane_steps:,} plant-steps, '
          f'{lane_steps / elapsed:,.0f} plant-steps/s): J {lqr_cost:.5f} (LQR) -> '
          f'{history[-1] if history else lqr_cost:.5f}')
    print('  LQR   K = ' + ' '.join(f'{k:9.3f}' for k in lqr_gain(DT)))
    print('  tuned K = ' + ' '.join(f'{k:9.3f}' for k in gain))
    seeds = [101 + i for i in range(args.proof_seeds)]
    print(f'proof: lock-step PlantServer campaign, {SCENARIO} seeds {seeds}, '
          f'{args.seconds:g} s each (measured state over TCP)')
    summary = {}
    for name, k in (('LQR', lqr_gain(DT)), ('tuned', gain)):
        runs = campaign_run(k, seeds, args.seconds)
        summary[name] = runs
        for seed, (up, cost) in zip(seeds, runs):
            print(f'  {name:5s} seed {seed}: up {up:5.2f} s, cost {cost:.5f}')
    return gain, history, elapsed, summary


if __name__ == '__main__':
    main()
