"""
``dip_test --batch MODULE:FUNCTION``: a vectorised controller judged on :class:`PlantBatch`.

The controller is a Python function of the measured states of N plants,
``(N, 6)`` -> ``(N,)`` forces (``plant_server_ros.clients.controllers:lqr_batch``
is the shipped LQR).  The run's episodes are grouped by scenario (a set is
one group: its episodes differ by seed only) and played in blocks of at most
:data:`BLOCK` lanes, each lane the plant of its episode's seed: its drawn
parameters (``PlantBatch.reset(seeds=...)``) and its sensor and disturbance
noise (:class:`~..batch.draws.PlantDraws`, the plant's own ``random.gauss``
streams).  Each lane's record (ground truth and applied force) is judged by
the same :func:`~.judge.evaluate` as a plant's episode: the same metrics
(equal to the plant's up to the last bits of the trigonometry and of the
controller's sums) and the same verdict.

No sockets, no processes, no recordings (``--out`` holds the summary and
the histograms); no response times either (a criterion on them is not
measured, and fails).  Lock-step only.
"""

from dataclasses import replace
import importlib
import math
import time

import numpy as np

from .judge import EpisodeResult, evaluate, SetupError
from ..batch.draws import PlantDraws
from ..batch.plant_batch import DONE, NONFINITE_FORCE, PlantBatch
from ..runtime.settings import SETTINGS

BLOCK = 1024              # lanes stepped at once (their record: ~50 MB for 10 s at 100 Hz)
# The compiled kernel where numba is installed (the same source as numpy's).
KERNEL = 'auto'
_PLANT_KEYS = ('dt', 'max_force', 'track_limit', 'sensor_noise_std', 'integrator', 'substeps',
               'initial_state')


def resolve(spec):
    """Return the controller ``spec`` names (``'module:function'``, or a callable)."""
    if callable(spec):
        return spec
    if not isinstance(spec, str) or spec.count(':') != 1:
        raise SetupError(f'--batch takes MODULE:FUNCTION, got {spec!r}')
    module, name = spec.split(':')
    try:
        function = getattr(importlib.import_module(module), name)
    except ImportError as exc:
        raise SetupError(f'--batch {spec}: cannot import {module}: {exc}') from None
    except AttributeError:
        raise SetupError(f'--batch {spec}: {module} has no {name}') from None
    if not callable(function):
        raise SetupError(f'--batch {spec}: {name} is not callable')
    return function


class _LaneRecord:
    """One lane's episode as :func:`~.judge.evaluate` reads an EpisodeData."""

    def __init__(self, number, t, x, u, ended_kind, ended):
        self.number, self._t, self._x, self._u = number, t, x, u
        self.ended_kind, self.ended = ended_kind, ended

    def record(self):
        return self._t, self._x, self._u

    def release(self):
        self._x = self._u = None


def _groups(slots):
    """Return the slots grouped by scenario (seed aside), in first-played order."""
    groups = {}
    for slot in slots:
        groups.setdefault(repr(replace(slot.scenario, seed=None)), []).append(slot)
    return list(groups.values())


def run_batch(campaign, slots, batch, values, baseline, heard, block=BLOCK):
    """Play ``slots`` with the vectorised controller ``batch``; results into ``campaign``."""
    controller = resolve(batch)
    plant = {k: values[k] for k in _PLANT_KEYS if k in values}
    max_force = plant.get('max_force', SETTINGS['max_force'].default)
    for group in _groups(slots):
        scenario = replace(group[0].scenario, seed=None)
        try:
            refused = PlantBatch.refusal(scenario, plant.get('dt', SETTINGS['dt'].default))
        except ValueError as exc:
            refused = str(exc)
        if refused:
            raise SetupError(f'--batch: scenario {scenario.name}: PlantBatch does not model '
                             f'{refused}; run it with a command instead')
        for at in range(0, len(group), block):
            _block(campaign, group[at:at + block], scenario, controller, plant, max_force,
                   values.get('seed', 1), baseline, heard)


def _block(campaign, slots, scenario, controller, plant, max_force, seed, baseline, heard):
    n = len(slots)
    seeds = [s.scenario.seed for s in slots]
    began = time.perf_counter()
    try:
        lanes = PlantBatch(n, scenario, seed=seed, kernel=KERNEL, **plant)
    except ValueError as exc:
        raise SetupError(f'--batch: scenario {scenario.name}: {exc}') from None
    # Each lane's noise from its episode's first draw on (the batch's start-up
    # episode drew from its own generator): the plant of that seed's streams.
    dt = lanes.dt
    longest = math.ceil((scenario.duration or 0.0) / dt + 1e-9) + 1
    # A whole episode's normals per lane in one draw (6 a sample): see PlantDraws.
    lanes.draws = PlantDraws(seeds, block=6 * (longest + 1))
    observed = lanes.reset(seeds=seeds)
    x = np.empty((longest + 1, n, 6))
    u = np.empty((longest, n))
    x[0] = lanes.state
    reason = None
    k = 0
    while k < longest and not lanes.halted.all():
        try:
            force = np.asarray(controller(observed), dtype=float)
        except Exception as exc:  # noqa: B902 - the controller's failure is a verdict
            reason = f'controller raised {type(exc).__name__}: {exc}'
            break
        if force.shape != (n,):
            reason = (f'controller returned shape {force.shape} for {n} observations '
                      f'(it must return ({n},))')
            break
        observed = lanes.step(force)
        u[k] = lanes.last_force
        x[k + 1] = lanes.state
        k += 1
    wall = (time.perf_counter() - began) / n
    for i, slot in enumerate(slots):
        steps = int(lanes.steps[i])
        code = int(lanes.reason_code[i])
        why, kind, ended = reason, None, None
        if code == DONE:
            kind, ended = 'scenario_done', f'scenario_done: {lanes.reason(i)}'
        elif code == NONFINITE_FORCE:
            why = why or (f'controller returned a non-finite command at t={steps * dt:.3f} s')
            kind, ended = 'estop', f'estop: dip_test: {why}'
        elif code:
            kind, ended = 'halt', f'halt: {lanes.reason(i)}'
        elif why is None:
            why = f'the lane did not end within {longest} periods'
        t = np.arange(steps + 1) * dt
        record = _LaneRecord(i + 1, t, x[:steps + 1, i], u[:steps, i], kind, ended)
        result = EpisodeResult(slot.index, slot.scenario.name, slot.scenario.seed, slot.play,
                               slot.key, slot.name, set_name=slot.set_name)
        result.wall_time = wall
        evaluate(result, record, slot.scenario, max_force, None, why, baseline)
        result.plant_episode = None
        campaign.episodes.append(result)
        heard(result)
