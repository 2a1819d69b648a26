"""
N plants advanced together: state ``(N, 6)``, force ``(N,)``, one numpy pass per period.

What a :class:`~..runtime.plant.Plant` does in one lock-step period, for N
lanes at once, with the same equations and tableau (the physics is
:class:`~..physics.batch.BatchDynamics`, the plant's own formulas over
arrays) and the same test conditions (:mod:`.lanes`): per lane its own
physical parameters, sensors, disturbances at its own episode time,
actuator limit and memory, and safety supervisor.  A lane that halts (a
limit, a non-finite state, a non-finite force, or the scenario's duration
over) is flagged with its reason and frozen; the others go on.  Chosen
lanes are reset without touching the rest.

Each test condition is its own module's lanes form (``SensorLanes``,
``ActuatorLanes``, ``DisturbanceLanes``, ``SafetyLanes``, ``FaultLanes``,
``ParameterUncertainty.draw_lanes``): this class only orchestrates them in
the plant's order.  What a condition has no lanes form for is refused by
name when the batch is built (:data:`REFUSED` says why); nothing is
accepted and ignored.

Lock-step only: a control per period, so the plant's control time-out
never fires and no control arrives inside a period.  Live pushes and live
faults are not modelled (scheduled disturbances and faults are).

Why numpy columns, not a loop over plants: one period of the single plant
costs about 20 us of Python; the batch's cost is per *operation*, shared by
all lanes (``bench/bench_batch.py`` prints both).
"""

import math

import numpy as np

from .draws import episode_seed, NumpyDraws
from ..conditions.actuator import ActuatorLanes
from ..conditions.disturbances import DisturbanceLanes
from ..conditions.faults import FaultLanes
from ..conditions.network import lanes_refusal as network_refusal
from ..conditions.safety import LIMITS, SafetyLanes
from ..conditions.scenario import load, Scenario
from ..conditions.sensors import SensorLanes
from ..conditions.uncertainty import ParameterUncertainty
from ..physics.batch import BatchDynamics, LaneParams, PARAMETER_NAMES
from ..physics.dynamics import DIPDynamics, DIPParams
from ..physics.state import check_state
from ..runtime.settings import defaults

# Why a lane halted (``PlantBatch.reason_code``); 0: it runs.
REASONS = ('',) + LIMITS + ('nonfinite_state', 'nonfinite_force', 'scenario_done')
NONFINITE_STATE, NONFINITE_FORCE, DONE = range(len(LIMITS) + 1, len(REASONS))
_TABLE = defaults()           # the settings table's defaults: declared there, once
_EPSILON = 1e-9               # s; as runtime/plant.py: this close to a period's end is in it


# What a lane may cost at most, all told (its columns, the conditions' arrays and
# the kernel's temporaries; measured: about 600 B with the compiled kernel, a few
# KiB in numpy's passes): N is refused where N of these exceed the memory free.
BYTES_PER_LANE = 4096
MAX_SEED = 2 ** 63 - 1


def available_memory():
    """Return the bytes of memory this machine has free (None where it cannot tell)."""
    try:
        with open('/proc/meminfo') as f:
            for line in f:
                if line.startswith('MemAvailable:'):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _check_size(n):
    free = available_memory()
    if free is not None and n * BYTES_PER_LANE > free:
        raise ValueError(f'n = {n} lanes need about {n * BYTES_PER_LANE / 2 ** 30:.1f} GiB; '
                         f'this machine has {free / 2 ** 30:.1f} GiB free (at most '
                         f'{free // BYTES_PER_LANE} lanes)')


def real_array(value, name):
    """Return ``value`` as a float array, or ValueError: real numbers only (no None, complex)."""
    a = np.asarray(value)
    if a.dtype == bool or not (np.issubdtype(a.dtype, np.integer)
                               or np.issubdtype(a.dtype, np.floating)):
        raise ValueError(f'{name} must be real numbers, got {a.dtype} {value!r:.60}')
    return a.astype(float)


def _seed(seed, what='seed'):
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or \
            not 0 <= seed <= MAX_SEED:
        raise ValueError(f'{what} must be an integer in [0, 2**63 - 1], got {seed!r}')
    return int(seed)


def _scenario(scenario, dt):
    if scenario is None:
        return Scenario()
    if isinstance(scenario, Scenario):
        return scenario
    if not isinstance(scenario, (str, dict)) and not hasattr(scenario, '__fspath__'):
        raise ValueError(f'scenario must be a file name, a mapping or a Scenario, '
                         f'got {scenario!r}')
    scenarios = load(scenario, dt)
    if len(scenarios) != 1:
        raise ValueError('PlantBatch plays one scenario, not a campaign '
                         f'({len(scenarios)} scenarios)')
    return scenarios[0]


class PlantBatch:
    """
    ``n`` lock-step plants under one scenario, each lane its own seeded episode.

    ``params``: one DIPParams for all lanes, or a :class:`LaneParams` of
    given per-lane values (then the scenario's uncertainty is not drawn).
    ``max_force``, ``track_limit``: a number or an ``(n,)`` array.
    ``sensor_noise_std``: as Plant (where the scenario names no sensor).
    ``seed``: lane ``i``'s episode ``e`` draws from
    :func:`~.draws.episode_seed` ``(seed, i, e)``; ``draws``: the per-step
    normals (default :class:`~.draws.NumpyDraws`).  ``kernel``: ``'numpy'``
    (the reference), ``'numba'`` or ``'numba-parallel'`` (the optional
    compiled kernel of :mod:`~..physics.batch_numba`, the same source).
    """

    def __init__(self, n, scenario=None, *, dt=_TABLE['dt'], params=None,
                 integrator=_TABLE['integrator'], substeps=_TABLE['substeps'],
                 max_force=_TABLE['max_force'], track_limit=_TABLE['track_limit'],
                 sensor_noise_std=_TABLE['sensor_noise_std'], seed=None, draws=None,
                 initial_state=_TABLE['initial_state'], kernel='numpy'):
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f'n (the number of lanes) must be an int >= 1, got {n!r}')
        if not (math.isfinite(dt) and dt > 0.0):
            raise ValueError(f'dt must be finite and > 0, got {dt!r}')
        _check_size(int(n))
        self.n = n = int(n)
        self.dt = float(dt)
        self.scenario = scenario = _scenario(scenario, self.dt)
        self.seed = int(np.random.SeedSequence().entropy % 2 ** 63) if seed is None \
            else _seed(seed)
        self.draws = draws if draws is not None else NumpyDraws(n, self.seed)
        self._given_params = isinstance(params, LaneParams)
        self.nominal = params if isinstance(params, DIPParams) else DIPParams()
        lane_params = params if self._given_params else LaneParams(n, self.nominal)
        if lane_params.cart_mass.shape != (n,):
            raise ValueError(f'params: LaneParams of {lane_params.cart_mass.shape[0]} lanes '
                             f'for a batch of {n}')
        self._uncertainty = None if self._given_params or not scenario.uncertainty \
            else ParameterUncertainty(scenario.uncertainty)
        refused = self.refusal(scenario, self.dt, sensor_noise_std)
        if refused:
            raise ValueError(f'PlantBatch does not model {refused} yet: scenario '
                             f'{scenario.name} is refused rather than played without it')
        self._params = lane_params             # the episodes' own; a drift changes a period's
        self.dynamics = BatchDynamics(lane_params, integrator, substeps, kernel)
        self._lane_models = {}
        self.max_force = self._per_lane('max_force', max_force)
        if scenario.actuator and 'max_force' in scenario.actuator:
            self.max_force = self._per_lane('max_force', scenario.actuator['max_force'])
        track = scenario.safety['track_limit'] if scenario.safety and \
            'track_limit' in scenario.safety else track_limit
        self.safety = SafetyLanes(scenario.safety_limits(math.inf),
                                  self._per_lane('track_limit', track))
        self.sensors = SensorLanes(scenario.sensor_model(self.dt, None, sensor_noise_std), n)
        actuator = scenario.actuator_model(self.dt, float(self.max_force.min()))
        self.actuator = ActuatorLanes(actuator, n, self.max_force)
        self.disturbances = DisturbanceLanes(scenario.disturbances, self.dt, n)
        self.faults = FaultLanes(scenario.faults, self.dt, n) if scenario.faults else None
        self._drifting = False
        self.duration = scenario.duration
        self.initial_state = check_state(scenario.initial_state or initial_state)
        # Per lane: state columns, steps, episode, halt reason, last measurement.
        self._columns = tuple(np.zeros(n) for _ in range(6))
        self.steps = np.zeros(n, dtype=np.int64)
        self.episode = np.zeros(n, dtype=np.int64)
        self.episode_seeds = np.zeros(n, dtype=np.int64)
        self.reason_code = np.zeros(n, dtype=np.int8)
        self.last_force = np.zeros(n)
        self._measured = tuple(np.zeros(n) for _ in range(6))
        self.reset()

    @staticmethod
    def refusal(scenario, dt=_TABLE['dt'], sensor_noise_std=_TABLE['sensor_noise_std']):
        """Return what of ``scenario`` a batch has no lanes form for ('' when it has them all)."""
        return SensorLanes.refusal(scenario.sensor_model(dt, None, sensor_noise_std)) or \
            network_refusal(scenario.network)

    def _per_lane(self, name, value):
        value = np.asarray(value, dtype=float)
        if value.ndim not in (0, 1) or (value.ndim == 1 and value.shape != (self.n,)):
            raise ValueError(f'{name} must be a number or an array of shape ({self.n},), '
                             f'got shape {value.shape}')
        if np.any(np.isnan(value)) or np.any(value <= 0.0):
            raise ValueError(f'{name} must be > 0 in every lane')
        return np.array(np.broadcast_to(value, (self.n,)))

    # -- state ---------------------------------------------------------------
    @property
    def state(self):
        """Return the true state, ``(N, 6)`` (a copy)."""
        return np.stack(self._columns, axis=1)

    @property
    def measured(self):
        """Return what the sensors read at each lane's last sample, ``(N, 6)`` (a copy)."""
        return np.stack(self._measured, axis=1)

    @property
    def halted(self):
        """Return ``(N,)`` bool: the lanes that stopped (see :attr:`reason_code`)."""
        return self.reason_code != 0

    @property
    def time(self):
        """Return each lane's episode time [s], ``(N,)``."""
        return self.steps * self.dt

    @property
    def params(self):
        """Return the parameters each lane's episode began with (a LaneParams)."""
        return self._params

    def reason(self, i):
        """Return why lane ``i`` halted, in the single plant's words ('' while it runs)."""
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)) or not 0 <= i < self.n:
            raise ValueError(f'lane must be an index in [0, {self.n}), got {i!r}')
        code = int(self.reason_code[i])
        t = float(self.steps[i] * self.dt)
        state = tuple(float(c[i]) for c in self._columns)
        if 1 <= code <= len(LIMITS):
            return self.safety.reason(i, state, t) or REASONS[code]
        if code == NONFINITE_STATE:
            return f'state became non-finite at t={t:.3f} s'
        if code == NONFINITE_FORCE:
            return f'control force is not finite at t={t:.3f} s'
        if code == DONE:
            return (f'scenario {self.scenario.name} complete: its {self.duration:g} s '
                    'are over')
        return ''

    # -- episodes ------------------------------------------------------------
    def _lanes(self, lanes):
        """Return a boolean mask of ``lanes`` (None: all; indices or a mask)."""
        if lanes is None:
            return np.ones(self.n, dtype=bool)
        lanes = np.asarray(lanes)
        if lanes.dtype == bool:
            if lanes.shape != (self.n,):
                raise ValueError(f'a lane mask must have shape ({self.n},), got {lanes.shape}')
            return lanes
        if lanes.ndim > 1 or not np.issubdtype(lanes.dtype, np.integer) and lanes.size:
            raise ValueError(f'lanes must be indices or a boolean mask, got {lanes!r}')
        if lanes.size and (lanes.min() < 0 or lanes.max() >= self.n):
            raise ValueError(f'lane index out of range [0, {self.n}) for a batch of {self.n}')
        mask = np.zeros(self.n, dtype=bool)
        mask[lanes.astype(int)] = True
        return mask

    def reset(self, lanes=None, state=None, seeds=None):
        """
        Start a new episode in ``lanes`` (default all) at ``state``; return the measurement.

        ``state``: None (the scenario's initial state), one 6-vector for all,
        or ``(k, 6)`` for the k chosen lanes.  ``seeds``: the episode seeds
        of the chosen lanes (default :func:`~.draws.episode_seed`).  Checked
        before anything changes (ValueError); the other lanes go on untouched.
        """
        mask = self._lanes(lanes)
        index = np.flatnonzero(mask)
        k = len(index)
        if state is None:
            start = np.broadcast_to(np.asarray(self.initial_state), (k, 6))
        else:
            start = np.asarray(state, dtype=float)
            if start.shape == (6,):
                start = np.broadcast_to(start, (k, 6))
            if start.shape != (k, 6):
                raise ValueError(f'state must have shape (6,) or ({k}, 6) for {k} lanes, '
                                 f'got {start.shape}')
            if not np.all(np.isfinite(start)):
                raise ValueError('state is not finite')
            over = np.abs(start[:, 0]) > self.safety.track_limit[index]
            if over.any():
                raise ValueError(f'cart position beyond the track limit in lane(s) '
                                 f'{index[over].tolist()}')
        if seeds is not None:
            seeds = np.asarray(seeds)
            if seeds.dtype == bool or not np.issubdtype(seeds.dtype, np.integer) or \
                    (seeds.size and seeds.min() < 0):
                raise ValueError(f'seeds must be integers in [0, 2**63 - 1], got {seeds!r}')
            seeds = seeds.astype(np.int64).reshape(-1)
            if seeds.shape != (k,):
                raise ValueError(f'seeds must have one per reset lane ({k}), got {seeds.shape}')
        self.episode[mask] += 1
        for j, i in enumerate(index):
            self.episode_seeds[i] = seeds[j] if seeds is not None else \
                episode_seed(self.seed, i, self.episode[i])
        if self._uncertainty is not None and k:
            self._draw_parameters(index)
        columns = [c.copy() for c in self._columns]
        for c in range(6):
            columns[c][mask] = start[:, c]
        self._columns = tuple(columns)
        self.steps[mask] = 0
        self.reason_code[mask] = 0
        self.last_force[mask] = 0.0
        self.sensors.reset(mask)
        self.actuator.reset(mask)
        self.disturbances.reset(mask)
        if self.faults is not None:
            self.faults.reset(mask, self.episode_seeds)
        self._sample(mask)
        return self.measured

    def _draw_parameters(self, index):
        """Draw each lane's plant as Plant does for a scenario seeded with its episode seed."""
        self._uncertainty.draw_lanes(self.nominal, self._params, index, self.episode_seeds)
        self._set_params(self._params)

    def _set_params(self, params):
        self._lane_models.clear()
        self.dynamics.set_params(params)

    def _sample(self, mask, every=False):
        measured = self.sensors.measure(self._columns, mask, self.draws)
        if self.faults is not None:
            measured = self.faults.measure(measured, self.steps * self.dt, mask,
                                           self._measured, self.steps == 0)
        self._measured = tuple(measured) if every else tuple(
            np.where(mask, m, old) for m, old in zip(measured, self._measured))

    # -- stepping ------------------------------------------------------------
    def step(self, u, lanes=None):
        """
        Apply the forces ``u`` (``(N,)``) over one period; return the measured ``(N, 6)``.

        A lane whose force is NaN or infinite is refused: flagged
        (``nonfinite_force``) and frozen, the others step.  Halted lanes do
        not move until :meth:`reset`; ``lanes`` (a mask or indices) steps
        only those (the others keep their state, time and last sample).
        """
        u = real_array(u, 'u')
        if u.shape != (self.n,):
            raise ValueError(f'u must have shape ({self.n},) (one force per lane), '
                             f'got {u.shape}')
        chosen = self._lanes(lanes)
        bad = ~np.isfinite(u) & (self.reason_code == 0) & chosen
        if bad.any():
            self.reason_code[bad] = NONFINITE_FORCE
        live = (self.reason_code == 0) & chosen
        # Every lane live and moving is the common period: a mask of all
        # True selects nothing, so the selections are skipped (a pass each).
        every = bool(live.all())
        if not every:
            u = np.where(live, u, 0.0)
        force = self.actuator.apply(u, live)
        t0 = self.steps * self.dt
        if self.faults is not None:
            force = self._faulty(t0, force, live)
        with np.errstate(all='ignore'):
            if self.disturbances.empty:
                new = self.dynamics.step(self._columns, force, self.dt)
            else:
                f, tau1, tau2, cut = self.disturbances.period(t0, live, self.draws)
                if self.disturbances.torques:
                    new = self.dynamics.step(self._columns, force + f, self.dt,
                                             tau1 - tau2, tau2 + 0.0 * force)
                else:
                    new = self.dynamics.step(self._columns, force + f, self.dt)
                if cut:
                    new = self._integrate_cut(new, force, cut, live)
            finite = np.isfinite(new[0] + new[1] + new[2] + new[3] + new[4] + new[5])
        moved = live & finite
        every = every and bool(finite.all())
        self.reason_code[live & ~finite] = NONFINITE_STATE
        self._columns = tuple(new) if every else tuple(
            np.where(moved, a, b) for a, b in zip(new, self._columns))
        self.last_force = np.where(live, force, self.last_force)
        if self.faults is not None:
            self.faults.commit((self.steps + 1) * self.dt, live)
        self.steps += live
        code = self.safety.check(self._columns)
        if not every:
            code = np.where(moved, code, 0)
        if self.duration is not None:
            done = moved & (code == 0) & (self.steps * self.dt >= self.duration - _EPSILON)
            code = np.where(done, DONE, code)
        self.reason_code = np.where(code != 0, code, self.reason_code).astype(np.int8)
        self._sample(moved, every)
        return self.measured

    def _faulty(self, t0, force, live):
        """Return the force on the cart after the motor's faults; take the period's drifts."""
        force, drifted = self.faults.period(t0, force, self.last_force, live, self._params)
        if drifted is not None:
            period = LaneParams(self.n, **{name: getattr(self._params, name)
                                           for name in PARAMETER_NAMES})
            for name, values in drifted.items():
                setattr(period, name, values)
            self._set_params(period)
            self._drifting = True
        elif self._drifting:
            self._set_params(self._params)
            self._drifting = False
        return force

    def _integrate_cut(self, new, force, cut, live):
        """Integrate the lanes whose period an edge cuts, piece by piece (the plant's way)."""
        new = [c.copy() for c in new]
        for i, pieces in cut.items():
            if not live[i]:
                continue
            model = self._lane_model(i)
            state = tuple(float(c[i]) for c in self._columns)
            u = float(force[i])
            for k, (at, value) in enumerate(pieces):
                end = pieces[k + 1][0] if k + 1 < len(pieces) else self.dt
                if end > at:
                    state = model.step(state, u, end - at, (value[0] + 0.0, value[1] + 0.0,
                                                            value[2] + 0.0))
            for c in range(6):
                new[c][i] = state[c]
        return tuple(new)

    def _lane_model(self, i):
        model = self._lane_models.get(i)
        if model is None:
            d = self.dynamics
            model = DIPDynamics(d.params.lane(i), d.integrator, d.substeps)
            self._lane_models[i] = model
        return model

    def lane_state(self, i):
        """Return lane ``i``'s true state as a 6-tuple of floats."""
        return tuple(float(c[i]) for c in self._columns)
