"""
The faults of one plant's episode, applied by the plant (plain floats: the hot path).

When they act: the motor's and the parameters' faults are evaluated at the
start of each control period and held over it (the dynamics take new
parameters at period boundaries only); the sensors' at each sample's time.
Several faults apply in the order listed.  Random draws (intermittent
durations, spike arrivals, noise) come from a stream per fault, seeded from
the plant's fault stream, so a seed reproduces a run bit for bit and
switching faults on changes no other stream's numbers.
"""

from dataclasses import replace
import random

from .kinds import acts_on, FaultError, KINDS
from .patterns import in_window, level
from .spec import Fault, MAX_FAULTS
from ..sensors import CHANNELS
from ...physics.dynamics import DIPParams


def fault_stream(root):
    """Return the plant's fault stream for seed ``root`` (the per-fault streams' source)."""
    return random.Random(f'{root}:faults')


class _Running:
    """One fault in an episode: its kind, its own stream and what it remembers."""

    def __init__(self, fault, seed, horizon):
        self.fault = fault
        self.horizon = horizon   # s: how far back a level may be asked for
        self.kind = KINDS[fault.kind]
        self.acts_on = acts_on(fault)
        self.text = fault.describe()
        self._seed = seed
        self._rng = None
        self.toggles = [0.0]     # intermittent: times (into the fault) it switches, from on
        self.toggles_dropped = 0  # how many passed switches are no longer kept
        self.arrivals = []       # spikes: (time into the fault, signed size)
        self.opened = False
        self.closed = False
        self.on = False
        self.stuck = None        # stuck: the force it froze at
        self.over = 0.0          # overload: time above the limit
        self.cut_since = None    # overload: when the motor cut out
        self.drawn = None        # noise: (sample, draw) of the last sample measured

    @property
    def rng(self):
        """Return the fault's own stream (made when first drawn from: most never are)."""
        if self._rng is None:
            self._rng = random.Random(self._seed)
        return self._rng

    def window(self, t):
        return in_window(self.fault, t)

    def level(self, t):
        """Return the fault's level in [0, 1] at episode time ``t`` (0 outside its window)."""
        return level(self, t)


class FaultSet:
    """
    The faults of one episode, applied by the plant (see the module notes).

    ``faults``: :class:`~.spec.Fault` values; ``rng``: the plant's fault
    stream (each fault takes a stream of its own from it, in order);
    ``dynamics``: the episode's model, whose parameters a drift changes.  The
    plant calls :meth:`period` once per control period, :meth:`commit` when
    it ends, :meth:`measure` on every sample, :meth:`advance` for the events.
    """

    def __init__(self, faults, dt, rng, dynamics):
        self.dt = float(dt)
        self._rng = rng
        self.base_dynamics = dynamics
        self._base = getattr(dynamics, 'params', None) or DIPParams()
        self._dynamics = {(): dynamics}
        self.running = [_Running(f, self._stream(), 2.0 * self.dt) for f in faults]
        self.input = 0.0              # the last force that entered an overload
        self._prev = self._cur = None  # sensor memory: (key, output) of two samples

    def _stream(self):
        # One seed per fault, in order, whether it draws or not: a fault's
        # numbers do not depend on the kinds of the faults before it.
        return self._rng.getrandbits(64)

    def add(self, fault, now):
        """
        Add ``fault`` with its start taken from ``now`` on (a live injection).

        FaultError once :data:`~.spec.MAX_FAULTS` are running (a flood of
        injections would make every period longer): the episode's faults
        stay as they were.
        """
        if len(self.running) >= MAX_FAULTS:
            raise FaultError(f'at most {MAX_FAULTS} faults at once in an episode; '
                             f'{len(self.running)} are on or to come: clear them first')
        # A copy without dataclasses.replace, which validates again: this runs
        # under the plant's lock, and the spec was checked when it was made.
        live = object.__new__(Fault)
        live.__dict__.update(fault.__dict__, start=now + fault.start, live=True)
        self.running.append(_Running(live, self._stream(), 2.0 * self.dt))
        return live

    def clear(self, t):
        """Remove every fault; the events of those that were on."""
        events = [(t, 'fault_end', r.text + ' (cleared)')
                  for r in self.running if r.opened and not r.closed]
        self.running = []
        return events

    # -- a control period ----------------------------------------------------
    def period(self, t0, last_force):
        """
        Return ``(force map or None, dynamics)`` for the period starting at ``t0``.

        The map takes the motor's force and returns what reaches the cart;
        ``last_force`` (the force of the period before) is what a stuck
        motor freezes at.
        """
        ops = []
        drift = {}
        for r in self.running:
            f = r.fault
            a = r.level(t0)
            if r.acts_on == 'motor':
                r.kind.begin(r, a, last_force)
                if a > 0.0:
                    ops.append((r.kind, a, f, r))
            elif r.acts_on == 'parameter':
                base = drift.get(f.target, getattr(self._base, f.target))
                if a > 0.0:
                    drift[f.target] = r.kind.drift(base, a, f)
        return (self._map(ops) if ops else None), self._drifted(drift)

    def _drifted(self, drift):
        key = tuple(sorted(drift.items()))
        dynamics = self._dynamics.get(key)
        if dynamics is None:
            dynamics = self.base_dynamics.with_params(replace(self._base, **drift))
            if len(self._dynamics) > 64:          # a ramp makes new values every period
                self._dynamics = {(): self.base_dynamics}
            self._dynamics[key] = dynamics
        return dynamics

    def _map(self, ops):
        def force(u):
            for kind, a, f, r in ops:
                u = kind.force(u, a, f, r, self)
            return u
        return force

    def commit(self, t):
        """End the period at ``t``: advance the faults' clocks (overloads); return the events."""
        events = []
        for r in self.running:
            if r.kind.commits and r.level(t - self.dt) > 0.0:
                events += r.kind.commit(r, t, self.dt, self)
        return events + self.advance(t)

    def advance(self, t):
        """Return the events of the faults' edges reached at ``t`` (start, end, on/off)."""
        events = []
        done = False
        for r in self.running:
            if r.closed:
                continue
            f = r.fault
            inside = r.window(t)
            if not r.opened and inside:
                r.opened = r.on = True
                events.append((t, 'fault_start', r.text))
            elif r.opened and not inside:
                r.closed = True
                events.append((t, 'fault_end', r.text))
                done = True
            elif inside and f.pattern == 'intermittent':
                on = r.level(t) > 0.0
                if on != r.on:
                    r.on = on
                    events.append((t, 'fault_on' if on else 'fault_off', r.text))
        if done:         # an ended fault never acts again: a storm of them costs nothing later
            self.running = [r for r in self.running if not r.closed]
        return events

    # -- a sample --------------------------------------------------------------
    def measure(self, measured, t, key):
        """
        Return the sample ``measured`` at ``t`` with the sensor faults on it.

        ``key`` names the sample: measuring the same sample again (real time
        computes it ahead and again) gives the same result, and a frozen
        channel holds the output of the sample before.
        """
        if self._cur is not None and self._cur[0] != key:
            self._prev = self._cur
        prev = self._prev[1] if self._prev is not None else None
        out = None
        for r in self.running:
            if r.acts_on != 'sensor':
                continue
            a = r.level(t)
            if a <= 0.0:
                continue
            if out is None:
                out = list(measured)
            i = CHANNELS.index(r.fault.target)
            out[i] = r.kind.read(out[i], a, r.fault, r, None if prev is None else prev[i],
                                 key, t, self.dt)
        result = measured if out is None else tuple(out)
        self._cur = (key, result)
        return result
