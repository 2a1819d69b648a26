"""
One simulated plant: held control, actuator, disturbances, sensors, limits (no ROS).

Everything a control period does to the plant lives here, so that the ROS
node and the in-process server only decide *when* to step and *where* to
publish, and the behaviour is testable without a middleware.

With no test condition switched on (ideal actuator, no disturbance, the
simple sensor noise) a period is integrated exactly as before they existed,
to the bit.  Otherwise a period is cut wherever something changes inside it
(a control arriving, a disturbance edge, a live push) and integrated piece by
piece, each piece under held inputs.  The conditions of an episode come from
its :class:`~.scenario.Scenario` (a campaign hands out one per reset).
"""

import math
from operator import itemgetter
import random
from typing import NamedTuple

from .schedule import PlantFinished
from .settings import defaults
from .views import EpisodeView, PlantView
from ..conditions.disturbances import DisturbanceSchedule
from ..conditions.faults import fault_stream, FaultSet
from ..conditions.scenario import CampaignFinished, Scenario, ScenarioError
from ..conditions.uncertainty import as_dict, ParameterUncertainty
from ..physics.dynamics import DIPDynamics, DIPParams
from ..physics.state import all_finite, check_state, DEFAULT_INITIAL_STATE, InvalidStateError

NO_DISTURBANCE = (0.0, 0.0, 0.0)
_DEFAULT = Scenario()
_NOMINAL = DIPParams()
_TABLE = defaults()      # the settings table's defaults: declared there, once
_EPSILON = 1e-9          # s; a scheduled time this close to a period's end is in it
_offset = itemgetter(0)


class Event(NamedTuple):
    """Something that happened to the plant, at episode time ``t``."""

    t: float
    kind: str        # episode, failsafe_on, failsafe_off, halt, estop, disturbance, ...
    detail: str


class Plant:
    """
    The cart-pendulum advanced in fixed periods of ``dt`` seconds.

    ``steps`` counts periods since the last reset (episode time is
    ``steps * dt``); ``total_steps`` counts every period since construction
    and never goes back, so it can drive a monotonic simulation clock.
    ``events`` collects what happened (:class:`Event`); the schedule that
    steps the plant takes them out and reports them.
    """

    def __init__(self, dynamics=None, dt=_TABLE['dt'], initial_state=DEFAULT_INITIAL_STATE,
                 max_force=_TABLE['max_force'], track_limit=_TABLE['track_limit'],
                 control_timeout=_TABLE['control_timeout'],
                 sensor_noise_std=_TABLE['sensor_noise_std'], seed=None, scenarios=None,
                 base=None):
        if not dt > 0.0:
            raise ValueError('dt must be > 0')
        self.nominal_dynamics = dynamics if dynamics is not None else DIPDynamics()
        self.dynamics = self.nominal_dynamics
        self.dt = float(dt)
        self.track_limit = float(track_limit)
        self.initial_state = check_state(initial_state, self.track_limit)
        self.max_force = float(max_force)
        self.control_timeout = float(control_timeout)
        self._sensor_noise_std = float(sensor_noise_std)
        # The stdlib generator: a numpy call per period costs more than the
        # draws themselves (Mersenne Twister, seedable, reproducible).  The
        # sensors draw from this one (as the plain noise always did); the
        # disturbances and the parameter draws have streams of their own, so
        # switching one on does not change the others' numbers.
        self._rng = random.Random(seed)
        root = seed if seed is not None else random.SystemRandom().getrandbits(63)
        self._disturbance_rng = random.Random(f'{root}:disturbances')
        self._parameter_rng = random.Random(f'{root}:uncertainty')
        self._fault_rng = fault_stream(root)
        self.faults = None            # a FaultSet while any fault is configured
        self._fault_map = None        # this period's motor faults (a function of the force)
        # ``scenarios``: a ScenarioPlayer (one scenario per episode); ``base``: a
        # Scenario of the plant's own conditions, for what an episode's leaves out.
        self.scenarios = scenarios
        self.base = base
        self.scenario = None
        self.events = []
        self.episode = 0
        self.total_steps = 0
        self.view = PlantView()       # what observers read; kept current below
        # Every scenario must be able to start: refused now, not at its turn.
        for scenario in (scenarios.scenarios if scenarios is not None else ()):
            start = scenario.initial_state or self.initial_state
            limit = scenario.over(base).safety_limits(self.track_limit).track_limit
            try:
                check_state(start, limit)
            except ValueError as exc:
                raise InvalidStateError(f'scenario {scenario.name}: initial state: {exc}') \
                    from None
            try:         # the scenario's actuator against this plant's limit (deadband <= it)
                scenario.over(base).actuator_model(self.dt, self.max_force)
            except ValueError as exc:
                raise ScenarioError(f'scenario {scenario.name}: actuator: {exc}') from None
        # The plant starts in the first scenario of a campaign without moving
        # on: a client's first RESET (re)starts that one, each later RESET
        # plays the next.
        self._holding_first = True
        self.reset()
        self._holding_first = False

    # -- control -------------------------------------------------------------
    def set_control(self, u, at=0.0):
        """
        Apply force ``u`` from ``at`` seconds into the coming period on; hold it.

        ``at = 0`` (lock-step) makes it act over the whole next period; in real
        time ``at`` is when the force arrived, so the plant feels it from then
        on, not before (zero-order hold with the switch where it happened).
        A motor with dynamics (lag, slew rate, delay) takes its command at
        period boundaries instead.  Returns the force after saturation and
        deadband; raises ValueError for NaN or +/-Inf, which must never reach
        the state.
        """
        u = float(u)
        if not math.isfinite(u):
            raise ValueError(f'control force is not finite: {u}')
        if self._saturation_only:                 # the common case, inline: the hot path
            limit = self._limit
            u = min(max(u, -limit), limit)
        else:
            u = self.actuator.shape(u)
        self._preview = None
        if self.control_timed_out:
            self.events.append(Event(self.time, 'failsafe_off', 'control received again'))
        if self._boundary:
            self.commanded_force = u
            self._since_control = 0.0
            self.control_timed_out = False
            return u
        if at > 0.0 and self._timeout_due():
            self._period_force = 0.0      # this period began in the fail-safe: unforced so far
        self.commanded_force = u
        self._since_control = 0.0
        self.control_timed_out = False
        if at <= 0.0:
            self._period_force = u
            if self._switches:
                self._switches = []
        else:
            self._switches.append((min(float(at), self.dt), u))
        return u

    def set_max_force(self, value):
        """Change the actuator limit; the held force is saturated to it at once."""
        self.max_force = self._limit = float(value)
        self.actuator.max_force = self.max_force
        self.view.episode = self.view.episode._replace(max_force=self.max_force)
        shape = self.actuator.shape
        self.commanded_force = shape(self.commanded_force)
        self._period_force = shape(self._period_force)
        self._switches = [(t, shape(u)) for t, u in self._switches]
        if self._plan is not None and self._plan[0] is not None:   # a motor's period force
            self._plan = (shape(self._plan[0]), self._plan[1])
        self._preview = None

    def set_disturbance(self, force, tau1=0.0, tau2=0.0, at=0.0):
        """
        Push: hold the external ``(F, tau1, tau2)`` from ``at`` s into the period on.

        ``at = 0`` (lock-step) acts over the whole next period; ``[0, 0, 0]``
        clears it, and so does a reset.  ValueError for a non-finite value.
        """
        values = (float(force), float(tau1), float(tau2))
        if not all_finite(values):
            raise ValueError(f'disturbance is not finite: {values}')
        self.live_disturbance = self.view.live_disturbance = values
        if at <= 0.0:
            self._live_start = values
            self._live_switches = []
        else:
            self._live_switches.append((min(float(at), self.dt), values))
        self._plain = False
        self._preview = None
        self.events.append(Event(self.time, 'disturbance',
                                 'live [F, tau1, tau2] = [%g, %g, %g]' % values))
        return values

    def estop(self, reason='emergency stop'):
        """Stop now: no more force, the plant halts until a reset."""
        self.commanded_force = self._period_force = self.last_applied_force = 0.0
        self._switches = []
        self._preview = None
        if self.fault is None:
            self.fault = self.view.fault = f'emergency stop at t={self.time:.3f} s ({reason})'
            self.fault_kind = 'estop'
            self.events.append(Event(self.time, 'estop', self.fault))
        return self.fault

    # -- time ----------------------------------------------------------------
    @property
    def time(self):
        """Episode time [s] of the current state."""
        return self.steps * self.dt

    def _timeout_due(self):
        # Timeout on plant time: deterministic in lock-step, and equal to wall
        # time in real-time mode because the plant keeps pace with the clock.
        return self.control_timed_out or (
            self.control_timeout > 0.0 and self._since_control >= self.control_timeout)

    def preview(self):
        """
        Return ``(state, force)`` at the end of the coming period, not committed.

        Cached until a control or reset changes it, so :meth:`step` after
        :meth:`preview` integrates nothing twice.
        """
        if self._preview is None:
            try:
                self._preview = self._integrate()
            except (ValueError, OverflowError, ZeroDivisionError):
                # A state so large that the math overflows (sin(inf)): the step
                # diverged, and step() halts the plant as for a NaN.
                self._preview = ((math.nan,) * 6, 0.0)
        return self._preview

    def _integrate(self):
        """Return ``(state, force)`` at the end of the coming period (may raise on overflow)."""
        if not self._plain:
            return self._preview_pieces()
        u = 0.0 if self._timeout_due() else self._period_force
        if not self._switches:                   # lock-step: one force the whole period
            return self.dynamics.step(self.state, u, self.dt), u
        state = self.state
        t = 0.0
        for start, u_next in self._switches:
            if start > t:
                state = self.dynamics.step(state, u, start - t)
                t = start
            u = u_next
        if self.dt > t:
            state = self.dynamics.step(state, u, self.dt - t)
        return state, u

    def _period_plan(self):
        """Return the motor's force and the scheduled disturbance of this period (once)."""
        if self._plan is None:
            motor = None
            if self.actuator.dynamic:
                motor = self.actuator.step(0.0 if self._timeout_due() else self.commanded_force)
            elif self._boundary:          # a model that steps whole periods only
                motor = 0.0 if self._timeout_due() else self.commanded_force
            pieces = self.disturbances.period(self.steps * self.dt) \
                if not self.disturbances.empty else [(0.0, NO_DISTURBANCE)]
            self._plan = (motor, pieces)
            if self.faults is not None:      # held over the period: taken at its start
                self._fault_map, self.dynamics = self.faults.period(
                    self.steps * self.dt, self.last_applied_force)
        return self._plan

    def _preview_pieces(self):
        motor, pieces = self._period_plan()
        if motor is None:
            u = 0.0 if self._timeout_due() else self._period_force
            controls = self._switches
        else:
            u, controls = motor, ()
        # Every change inside the period, in time order: (offset, what, value).
        # Sorted on the offset alone (a stable sort): changes at one offset keep
        # their arrival order, so the last of two controls clipped to dt wins.
        changes = sorted([(at, 0, v) for at, v in controls]
                         + [(at, 1, v) for at, v in pieces]
                         + [(at, 2, v) for at, v in self._live_switches], key=_offset)
        scheduled, live = NO_DISTURBANCE, self._live_start
        state, t = self.state, 0.0
        step = self.dynamics.step
        faulty = self._fault_map            # the motor's faults: command in, force out
        force = u if faulty is None else faulty(u)
        for at, what, value in changes:
            if at > t:
                state = step(state, force, at - t, _total(scheduled, live))
                t = at
            if what == 0:
                u = value
                force = u if faulty is None else faulty(u)
            elif what == 1:
                scheduled = value
            else:
                live = value
        if self.dt > t:
            state = step(state, force, self.dt - t, _total(scheduled, live))
        self._held_command = u              # what the next period holds, before the faults
        return state, force

    def step(self):
        """
        Advance one period; False when no new state came of it.

        Already faulted: nothing changes.  A step that diverges (a non-finite
        state) keeps the last finite state, sets the fault and returns False.
        A limit of the safety supervisor halts the plant after the step.
        """
        if self.fault is not None:
            return False
        new_state, force = self.preview()
        was_timed_out = self.control_timed_out
        self.control_timed_out = self._timeout_due()
        self._preview = None
        self._plan = None
        self._period_force = force
        if self._switches:
            self._switches = []
        if not self._plain:
            self._live_start = self.live_disturbance
            self._live_switches = []
            if self.faults is not None:
                self._period_force = self._held_command
                self._fault_map = None
                self._add_fault_events(self.faults.commit((self.steps + 1) * self.dt))
        self.last_applied_force = force
        self.steps += 1
        self.total_steps += 1
        self._since_control += self.dt
        t = self.steps * self.dt                  # self.time, inline: the hot path
        if self.control_timed_out and not was_timed_out:
            self.events.append(Event(t, 'failsafe_on', f'no control for '
                                     f'{self.control_timeout:g} s: u = 0'))
        if self._edges and self._edges[0][0] <= t + _EPSILON:
            self._pass_edges(t)
        if not all_finite(new_state):
            problem = getattr(self.dynamics, 'problem', None)
            self._halt(t, f'state became non-finite at t={t:.3f} s' +
                       (f': {problem}' if problem else ''))
            return False
        self.state = new_state
        reason = None
        if not self._track_only or abs(new_state[0]) > self._track_limit:
            reason = self.safety.check(new_state, t)
        if reason is not None:
            self._halt(t, reason)
        elif self.duration is not None and t >= self.duration - _EPSILON:
            self._halt(t, f'scenario {self.scenario.name} complete: its {self.duration:g} s '
                          'are over', kind='scenario_done')
        return True

    def _halt(self, t, reason, kind='halt'):
        self.fault = self.view.fault = reason
        self.fault_kind = kind
        self.events.append(Event(t, kind, reason))

    def _pass_edges(self, t):
        while self._edges and self._edges[0][0] <= t + _EPSILON:
            _, kind, text = self._edges.pop(0)
            self.events.append(Event(t, kind, text))

    # -- episodes ------------------------------------------------------------
    def reset(self, state=None):
        """
        Start a new episode at ``state`` (default: the initial state), t = 0.

        The held control and any live disturbance are cleared: a new episode
        starts unforced.  With a campaign, the episode plays its next scenario.
        """
        scenario = self._next_scenario()
        start = state if state is not None else (scenario.initial_state or self.initial_state)
        # Checked before anything changes: a refused target leaves the episode as it was.
        start = check_state(start, scenario.safety_limits(self.track_limit).track_limit)
        if self.scenarios is not None and not self._holding_first:
            self.scenarios.advance()
        self._configure(scenario)
        self.state = start
        self.steps = 0
        self.fault = self.fault_kind = None
        self.commanded_force = 0.0
        self.last_applied_force = 0.0
        self._period_force = 0.0
        self._switches = []
        self._preview = None
        self._plan = None
        self._since_control = 0.0
        self.control_timed_out = False
        self.live_disturbance = self._live_start = NO_DISTURBANCE
        self._live_switches = []
        self._plain = not self._boundary and self.disturbances.empty and \
            self.faults is None
        self._fault_map = None
        self._measured_index = None
        self.episode += 1
        view = self.view
        view.episode = self.episode_view()
        view.fault = None
        view.live_disturbance = NO_DISTURBANCE
        self.events.append(Event(0.0, 'episode', self.describe_episode_short()))
        if self.faults is not None:
            self._add_fault_events(self.faults.advance(0.0))
        if self._edges and self._edges[0][0] <= _EPSILON:
            self._pass_edges(0.0)

    def _configure(self, scenario):
        self.scenario = scenario
        if scenario.seed is not None:
            self._rng.seed(scenario.seed)
            self._disturbance_rng.seed(f'{scenario.seed}:disturbances')
            self._parameter_rng.seed(f'{scenario.seed}:uncertainty')
            self._fault_rng.seed(f'{scenario.seed}:faults')
        self.sensors = scenario.sensor_model(self.dt, self._rng, self._sensor_noise_std)
        self.actuator = scenario.actuator_model(self.dt, self.max_force)
        self.actuator.reset()
        self.disturbances = DisturbanceSchedule(scenario.disturbances, self.dt,
                                                self._disturbance_rng)
        self.safety = scenario.safety_limits(self.track_limit)
        # What the hot path may check inline: only the track limit, only saturation.
        limits = self.safety
        self._track_only = math.isinf(limits.fall_angle) and \
            math.isinf(limits.max_cart_speed) and math.isinf(limits.max_joint_rate)
        self._track_limit = limits.track_limit
        self._saturation_only = not self.actuator.deadband and not self.actuator.dynamic
        self._limit = self.actuator.max_force     # a scenario's own limit, else the plant's
        # A control takes effect at a period boundary with a motor that has
        # dynamics, and with a model that can only step whole periods.
        self._boundary = self.actuator.dynamic or \
            getattr(self.nominal_dynamics, 'whole_periods', False)
        self.duration = scenario.duration
        if scenario.uncertainty:
            if getattr(self.nominal_dynamics, 'custom', False):
                raise ValueError('uncertainty needs the built-in dynamics model')
            drawn = ParameterUncertainty(scenario.uncertainty).draw(
                self.nominal_dynamics.params, self._parameter_rng)
            self.dynamics = self.nominal_dynamics.with_params(drawn)
        else:
            self.dynamics = self.nominal_dynamics
        self.episode_dynamics = self.dynamics
        self.faults = FaultSet(scenario.faults, self.dt, self._fault_rng, self.dynamics) \
            if scenario.faults else None
        edges = []
        for d in scenario.disturbances:
            text = ', '.join(f'{k} {v}' for k, v in d.to_dict().items())
            edges.append((d.start, 'disturbance_start', text))
            end = d.start + d.duration if d.kind == 'pulse' else d.end
            if d.end is not None and end is not None:
                end = min(end, d.end)
            if end is not None:
                edges.append((end, 'disturbance_end', text))
        self._edges = sorted(edges, key=lambda e: e[0])

    def describe_episode(self):
        """Return what this episode runs on: scenario, seed, drawn parameters (a dict)."""
        info = {'episode': self.episode, 'scenario': self.scenario.describe(),
                'parameters': as_dict(self.params), 'dt': self.dt,
                'track_limit': self.safety.track_limit}
        if self.scenarios is not None:
            info['campaign_position'] = list(self.scenarios.position)
        if getattr(self.dynamics, 'custom', False):
            info['dynamics'] = self.dynamics.describe()
        return info

    def use_dynamics(self, model):
        """
        Step ``model`` instead of the built-in physics from now on (before any step).

        ``model`` has ``step(state, u, dt)`` or the original project's
        ``step(x, u)`` (:mod:`.user_dynamics`); the episode starts again at
        its t = 0 with it.
        """
        from .user_dynamics import UserDynamics
        if not isinstance(model, DIPDynamics):      # the built-in model needs no wrapper
            model = UserDynamics(model, self.dt)
        self.nominal_dynamics = self.dynamics = self.episode_dynamics = model
        if self.faults is not None:           # the faults step the model they were given
            self.faults = FaultSet(self.scenario.faults, self.dt, self._fault_rng, model)
        self._boundary = self.actuator.dynamic or getattr(model, 'whole_periods', False)
        self._plain = not self._boundary and self.disturbances.empty and self.faults is None
        self._preview = self._plan = None
        self.view.episode = self.episode_view()

    def episode_view(self):
        """Return this episode as observers read it (:class:`~.views.EpisodeView`)."""
        return EpisodeView(self.episode, self.dt, self.params, self.safety.track_limit,
                           self.max_force, self.scenario.name, self.describe_episode())

    @property
    def params(self):
        """Return the physical parameters the episode began with (nominal for a model without)."""
        return getattr(self.episode_dynamics, 'params', None) or _NOMINAL

    @property
    def control_age(self):
        """Return the plant time since the last control [s] (the fail-safe's clock)."""
        return self._since_control

    def describe_episode_short(self):
        """Return one line on the episode: its number, scenario and drawn parameters."""
        text = f'episode {self.episode}: scenario {self.scenario.name}'
        if self.scenario.seed is not None:
            text += f' (seed {self.scenario.seed})'
        if self.episode_dynamics is not self.nominal_dynamics:
            drawn = as_dict(self.episode_dynamics.params)
            text += '; drawn ' + ', '.join(f'{k}={v:.6g}' for k, v in drawn.items())
        return text

    # -- sensing -------------------------------------------------------------
    @property
    def sensor_noise_std(self):
        """Std of the simple sensor noise (where the scenario names no sensor noise)."""
        return self._sensor_noise_std

    @sensor_noise_std.setter
    def sensor_noise_std(self, value):
        self._sensor_noise_std = float(value)
        self.sensors = self.scenario.sensor_model(self.dt, self._rng, self._sensor_noise_std)
        self._measured_index = None

    def _next_scenario(self):
        try:
            scenario = self.scenarios.peek() if self.scenarios is not None else _DEFAULT
        except CampaignFinished as exc:     # every door answers a reset past the end: FINISHED
            raise PlantFinished(str(exc)) from None
        return scenario.over(self.base)

    def check_reset(self, state=None):
        """
        Return the start of the next episode, checked (InvalidStateError if refused).

        ``state`` None: the next scenario's initial state, else the plant's.
        """
        scenario = self._next_scenario()
        start = state if state is not None else (scenario.initial_state or self.initial_state)
        return check_state(start, scenario.safety_limits(self.track_limit).track_limit)

    def measure(self, state=None, t=None):
        """Return what the sensors read for ``state`` (default: the current one) at ``t``."""
        state = self.state if state is None else state
        t = self.time if t is None else t
        measured = self.sensors.measure(state, t)
        if self.faults is None:
            return measured
        return self.faults.measure(measured, t, (self.episode, round(t / self.dt)))

    def measure_ahead(self, state, t, index):
        """
        Measure sample ``index`` computed ahead; measuring it again replays the same draws.

        Real time computes the next sample ahead and again when a control
        arrives: the sensors' memory (drift, held values, delay line) and
        generator must advance once per sample, not once per computation.
        """
        sensors = self.sensors
        if sensors.ideal:
            measured = state
        elif index == self._measured_index:
            measured = sensors.measure_again(state, t)
        else:
            self._measured_index = index
            measured = sensors.measure_recorded(state, t)
        if self.faults is None:
            return measured
        return self.faults.measure(measured, t, (self.episode, round(t / self.dt)))

    # -- faults ----------------------------------------------------------------
    def inject_fault(self, fault, later=False):
        """
        Add a live :class:`~..conditions.faults.Fault`; its start counts from now.

        Now is the start of the coming period (``later``: of the one after,
        in real time, whose start has not passed yet).  Returns the fault as
        it runs (its start in episode time).  Live faults end with the episode.
        """
        now = self.time + (self.dt if later else 0.0)
        was_plain = self._plain
        if self.faults is None:
            self.faults = FaultSet((), self.dt, self._fault_rng, self.episode_dynamics)
            self._plain = False
        fault = self.faults.add(fault, now)
        if not later or was_plain:
            # Later, the period under way keeps its force: what was computed ahead
            # stands (a storm of injections costs no integration), unless it was
            # computed on the plain path, which the faults' path must redo.
            self._preview = None
        self._add_fault_events(self.faults.advance(self.time) if not later else [])
        return fault

    def clear_faults(self):
        """Remove every fault, scheduled and live, for the rest of this episode."""
        if self.faults is not None:
            # The period's force map is taken (real time: the period under way
            # keeps it); the sensors' faults are gone from the next sample on.
            self._add_fault_events(self.faults.clear(self.time))

    def _add_fault_events(self, events):
        for t, kind, detail in events:
            self.events.append(Event(t, kind, detail))

    def take_events(self):
        """Return the events since the last call (and forget them)."""
        events, self.events = self.events, []
        return events


def _total(scheduled, live):
    """Return the summed disturbance, or None when there is none (the plain step)."""
    if scheduled is NO_DISTURBANCE and live is NO_DISTURBANCE:
        return None
    return (scheduled[0] + live[0], scheduled[1] + live[1], scheduled[2] + live[2])
