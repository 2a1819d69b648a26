"""
The faults of N lanes, each at its own episode time: the :class:`~.fault_set.FaultSet` of a batch.

Every kind acts as on the single plant (:mod:`.kinds` holds both forms):
lane ``i`` of episode seed ``s`` runs its faults as a plant playing the
scenario with seed ``s`` does, with the same per-fault streams
(``random.Random`` seeded from :func:`~.fault_set.fault_stream`), so an
intermittent fault switches, and spikes and noise bursts land, on the same
samples with the same numbers.  A lane's stream is made the first time
the lane draws, and only lanes with work draw: a fault that draws (noise,
spikes, an intermittent ``[low, high]``) costs a Python call per lane and
draw, the others are a few numpy passes per period.
"""

import math
import random

import numpy as np

from .fault_set import fault_stream
from .kinds import acts_on, KINDS
from .patterns import draws, level_lanes, Toggles
from ..sensors import CHANNELS


class _LaneRun:
    """One fault in N lanes: its streams and what each lane remembers."""

    def __init__(self, fault, n):
        self.fault = fault
        self.kind = KINDS[fault.kind]
        self.acts_on = acts_on(fault)
        self.draws = self.kind.draws or draws(fault)
        self.seeds = [None] * n
        self._rngs = [None] * n
        self.toggles = Toggles(n)
        self.stuck = np.zeros(n)
        self.stuck_set = np.zeros(n, dtype=bool)
        self.over = np.zeros(n)
        self.cut_since = np.full(n, math.nan)
        self.arrivals = [[] for _ in range(n)]
        self.first_arrival = np.full(n, -math.inf)      # -inf: none drawn yet

    def rng(self, i):
        """Return lane ``i``'s stream of this fault (made at its first draw)."""
        rng = self._rngs[i]
        if rng is None:
            rng = self._rngs[i] = random.Random(self.seeds[i])
        return rng

    def reset(self, lanes, seeds):
        """Start the lanes of the mask ``lanes``; ``seeds``: {lane: this fault's seed}."""
        self.toggles.reset(lanes)
        self.stuck[lanes] = 0.0
        self.stuck_set[lanes] = False
        self.over[lanes] = 0.0
        self.cut_since[lanes] = math.nan
        self.first_arrival[lanes] = -math.inf
        for i, seed in seeds.items():
            self.seeds[i] = seed
            self._rngs[i] = None
            self.arrivals[i] = []


class FaultLanes:
    """
    A scenario's faults in ``n`` lanes (see the module notes).

    The batch calls :meth:`reset` with each new episode's seeds,
    :meth:`period` at each period's start (the force map and the drifted
    parameters), :meth:`commit` at its end, :meth:`measure` on each sample.
    """

    def __init__(self, faults, dt, n):
        self.dt = float(dt)
        self.runs = [_LaneRun(f, n) for f in faults]
        self.input = np.zeros(n)       # the last force that entered an overload, per lane
        self._draws = any(r.draws for r in self.runs)
        self._motor = [r for r in self.runs if r.acts_on == 'motor']
        self._sensor = [r for r in self.runs if r.acts_on == 'sensor']
        self._drift = [r for r in self.runs if r.acts_on == 'parameter']
        self._levels = {}

    @property
    def empty(self):
        """Tell whether there is no fault at all."""
        return not self.runs

    @property
    def drifts(self):
        """Tell whether a fault changes the physical parameters."""
        return bool(self._drift)

    def reset(self, lanes, episode_seeds):
        """Start a new episode in the mask ``lanes``, lane ``i`` with ``episode_seeds[i]``."""
        seeds = [{} for _ in self.runs]
        if self._draws:
            # Each fault takes a seed of its own from the lane's fault stream, in
            # order, whether it draws or not (as FaultSet does).
            for i in np.flatnonzero(lanes):
                stream = fault_stream(int(episode_seeds[i]))
                for k in range(len(self.runs)):
                    seeds[k][int(i)] = stream.getrandbits(64)
        for run, lane_seeds in zip(self.runs, seeds):
            run.reset(lanes, lane_seeds)
        self.input[lanes] = 0.0

    def period(self, t0, force, last_force, live, params):
        """
        Return ``(force, drifted)`` for the period starting at the ``(N,)`` times ``t0``.

        ``force``: what the actuator gives, ``last_force`` the force on the
        cart the period before; ``drifted``: ``{parameter: (N,) values}`` of
        the parameters a drift changes in some lane this period (``params``:
        the episode's, a :class:`~...physics.batch.LaneParams`), or None.
        """
        self._levels = {}
        for run in self._motor:
            a = level_lanes(run, t0, live)
            on = a > 0.0
            self._levels[id(run)] = (a, on)
            run.kind.begin_lanes(run, on, live, last_force)
            force = run.kind.force_lanes(force, on, a, run.fault, run, self)
        drifted = {}
        for run in self._drift:
            a = level_lanes(run, t0, live)
            on = a > 0.0
            if on.any():
                target = run.fault.target
                base = drifted.get(target, getattr(params, target))
                drifted[target] = run.kind.drift_lanes(base, on, a, run.fault)
        return force, drifted or None

    def commit(self, t, live):
        """End the period at the ``(N,)`` times ``t`` in the ``live`` lanes (overload clocks)."""
        for run in self._motor:
            if run.kind.commits:
                on = level_lanes(run, t - self.dt, live) > 0.0
                run.kind.commit_lanes(run, t, self.dt, on, self)

    def measure(self, columns, t, lanes, previous, first):
        """
        Return the six measured columns with the sensor faults on them.

        ``t``: the ``(N,)`` sample times; ``lanes``: the mask of the lanes
        sampled now; ``previous``: the outputs of each lane's sample before,
        ``first``: the mask of the lanes whose sample is an episode's first.
        """
        if not self._sensor:
            return columns
        out = list(columns)
        has = ~first
        for run in self._sensor:
            a = level_lanes(run, t, lanes)
            on = a > 0.0
            if not on.any():
                continue
            i = CHANNELS.index(run.fault.target)
            out[i] = run.kind.read_lanes(out[i], on, a, run.fault, run, (previous[i], has),
                                         t, self.dt)
        return out
