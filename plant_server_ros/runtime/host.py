"""
The plant host: one plant, its schedule and its observers, assembled once.

Every door stands on a host.  ``PlantServer`` serves one over the legacy
protocols, the ROS plant node publishes one on its topics, and a door that
drives the plant directly (a test runner, an environment for learning)
calls it.  The host builds the plant from the values of the settings table
(:mod:`.settings`) and a scenario, picks the schedule of the mode, hands
samples and events to the door's listener and to its observers, keeps the
last events and the episode's network, and answers every request the same
way whatever the mode: ``control(u)`` and ``reset(state)`` return something
whose ``result(timeout)`` is the reply's sample.  A door translates; it does
not need to know what a plant is made of.
"""

import collections
import functools
import time

from .lockstep import LockstepSchedule
from .plant import Plant
from .realtime import RealtimeSchedule
from .schedule import Fanout, PlantListener
from .settings import condition_sections, defaults, RunTime, SettingError
from .status import plant_status
from ..conditions.faults import Fault, from_text
from ..conditions.network import episode_network, NetworkModel
from ..conditions.scenario import load as load_scenarios, Scenario, ScenarioError, ScenarioPlayer
from ..physics.dynamics import DIPDynamics, DIPParams
from ..physics.state import check_state, InvalidStateError

_PLANT_STEP = Plant.step      # the plant's own step, whatever a hook installs over it
EVENTS_KEPT = 1000      # events a host remembers (status() shows the last few)
STATUS_EVENTS = 20
# What may change while the plant runs, and how the plant takes it.
_CHANGES = {
    'sensor_noise_std': lambda plant, v: setattr(plant, 'sensor_noise_std', v),
    'max_force': lambda plant, v: plant.set_max_force(v),
    'control_timeout': lambda plant, v: setattr(plant, 'control_timeout', v),
    'initial_state': lambda plant, v: setattr(plant, 'initial_state',
                                              check_state(v, plant.track_limit)),
}


class PlantHost:
    """
    One plant and what runs it, for a door to translate.

    ``values``: ``{setting name: value}`` (checked; what is missing takes
    the table's default).  ``scenario``: a scenario or campaign (file,
    mapping, or a :class:`~..conditions.scenario.ScenarioPlayer`).
    ``listener``: the door's :class:`~.schedule.PlantListener` (it prepares
    and publishes each sample), or a callable that makes it from the host;
    ``observers`` hear every sample and event too (:meth:`add_observer`).
    ``labels`` maps a setting to the name the door's users know it by, for
    the one-line refusals (``{'dt': "parameter 'dt'"}``).  A value the
    plant cannot start with raises :class:`~.settings.SettingError`.
    ``recorder(directory, view, dt)`` makes what records the episodes when
    the ``record`` setting names a directory (the door passes
    :class:`~..observers.recording.Recorder`; the host imports nothing above
    ``runtime``).

    ``control``, ``reset``, ``estop``, ``set_disturbance`` are the
    schedule's own (the same calls in both modes); ``view`` is what
    observers may read (:class:`~.views.PlantView`).
    """

    def __init__(self, values=None, *, scenario=None, listener=None, observers=(),
                 network=None, on_network=None, labels=None, log=None, name='plant',
                 recorder=None):
        self.values = {**defaults(), **(values or {})}
        self.labels = labels or {}
        self.mode = self.values['mode']
        # Lock-step samples are stamped on a simulated clock that only controls
        # advance (a door publishes it: ROS /clock); real time runs on the wall's.
        self.simulated_clock = self.mode == 'lockstep'
        self.max_steps = self.values['max_steps']
        self.events = collections.deque(maxlen=EVENTS_KEPT)
        self._step_observers = []
        self._step_route = None
        self._moved = False
        self.base_network = network if network is not None else NetworkModel()
        self.network = self.base_network
        self._on_network = on_network
        self.plant = self._build_plant(scenario)
        self.view = self.plant.view
        # The settings it takes while it runs (the table's ``runtime``), checked.
        self.runtime = RunTime(
            {name: functools.partial(self._change, name, change)
             for name, change in _CHANGES.items()},
            checks={'initial_state': self._check_initial_state}, labels=self.labels)
        self.recorder = None
        record = self.values.get('record')
        if record:
            if recorder is None:
                raise SettingError(f'{self._label("record")}: this door records nothing '
                                   '(no recorder given)')
            self.recorder = recorder(record, self.view, self.plant.dt)
            observers = (self.recorder, *observers)
        if callable(listener) and not isinstance(listener, PlantListener):
            listener = listener(self)        # a door's listener that needs the plant
        primary = listener if listener is not None else PlantListener()
        self._hears = hears = _HostListener(self, primary, observers)
        if self.mode == 'lockstep':
            self.schedule = LockstepSchedule(self.plant, hears, self.max_steps)
        else:
            self.schedule = RealtimeSchedule(self.plant, hears, self.max_steps,
                                             self.values['realtime_priority'], name, log=log)
        schedule = self.schedule
        # The same calls in both modes; bound once, so a door's hot path pays
        # no extra call.
        self.control = schedule.control
        self.reset = schedule.reset
        self.estop = schedule.estop
        self.set_disturbance = schedule.set_disturbance
        self.lock = schedule.lock
        self.finished = schedule.finished

    def _label(self, name):
        return self.labels.get(name, name)

    def _build_plant(self, scenario):
        v = self.values
        physics = {name[len('physics.'):]: value for name, value in v.items()
                   if name.startswith('physics.')}
        try:
            params = DIPParams(**physics)
        except ValueError as exc:
            raise SettingError(f'physics: {exc}') from None
        try:
            check_state(v['initial_state'], v['track_limit'])
        except InvalidStateError as exc:
            raise SettingError(f'{self._label("initial_state")}: {exc}') from None
        dt = v['dt']
        sections = condition_sections(v)
        base = Scenario.from_dict(sections, 'parameters', dt) if sections else None
        if scenario is not None and not isinstance(scenario, ScenarioPlayer):
            scenario = ScenarioPlayer(load_scenarios(scenario, dt))
        seed = v['seed']
        try:
            dynamics = DIPDynamics(params, v['integrator'], v['substeps'], v['compiled_step'])
        except ImportError:
            raise SettingError(f'{self._label("compiled_step")}: needs numba '
                               f'(pip install numba)') from None
        try:
            return Plant(dynamics, dt=dt,
                         initial_state=v['initial_state'], max_force=v['max_force'],
                         track_limit=v['track_limit'], control_timeout=v['control_timeout'],
                         sensor_noise_std=v['sensor_noise_std'],
                         seed=None if seed is None or seed < 0 else seed,
                         scenarios=scenario, base=base)
        except (InvalidStateError, ScenarioError) as exc:     # a scenario that cannot start
            raise SettingError(str(exc)) from None

    def add_observer(self, observer):
        """Let ``observer`` hear every sample and event too (call before :meth:`start`)."""
        self._hears.add(observer)

    # -- a model and a hook of the user's ----------------------------------------
    def use_dynamics(self, model):
        """
        Step a dynamics model of the user's instead of the built-in one (before start).

        ``model``: ``step(state, u, dt)`` or the original ``step(x, u)``
        (:mod:`.user_dynamics`).  Conditions that need the built-in closed
        form are refused by name (SettingError): parameter uncertainty and
        joint-torque disturbances.
        """
        plant = self.plant
        scenarios = plant.scenarios.scenarios if plant.scenarios is not None else ()
        for scenario in (*scenarios, plant.base, plant.scenario):
            if scenario is None:
                continue
            if scenario.uncertainty:
                raise SettingError(f'scenario {scenario.name}: uncertainty needs the built-in '
                                   'dynamics model, not a custom one')
            drifts = [f for f in getattr(scenario, 'faults', ()) or () if f.kind == 'drift']
            if drifts:
                raise SettingError(f'scenario {scenario.name}: a drift fault needs the '
                                   'built-in dynamics model (its parameters)')
            torques = [d.channel for d in scenario.disturbances if d.channel != 'force']
            if torques:
                raise SettingError(f'scenario {scenario.name}: disturbances on {torques[0]} '
                                   'need the built-in dynamics model (a custom one takes the '
                                   'cart force only)')
        with self.lock:
            try:
                plant.use_dynamics(model)
            except (TypeError, ValueError) as exc:
                raise SettingError(f'dynamics: {exc}') from None
        return plant.dynamics.describe()

    def observe_steps(self, observer):
        """
        Call ``observer(control, state, cost)`` after every step of the plant.

        ``control``: the force the plant held [N]; ``state``: the state the
        step produced; ``cost``: the step's own time [s] (in real time the
        integration is done ahead of the tick, so this is what the tick spent
        committing it).  Observers run on the stepping thread: keep them short.
        """
        self._step_observers.append(observer)
        self._route_steps()

    def route_steps(self, step):
        """
        Send every step of the plant through ``step(control)`` (the seed's ``_step``).

        ``step`` must call :meth:`step_plant` (or a function that does) once:
        that is the step itself; whatever it wraps around it (timing,
        memory, logging) runs on every period.
        """
        self._step_route = step
        self._route_steps()

    def step_plant(self, control=None):
        """
        Do one step of the plant under the force it holds; return the new state.

        ``control`` is what the plant holds (read, not applied: a control
        changes through :meth:`control`).  Called by the route of
        :meth:`route_steps`, from the stepping thread.
        """
        self._moved = _PLANT_STEP(self.plant)
        return self.plant.state

    def _route_steps(self):
        """Install the stepping path with hooks: with none, the plant's own, untouched."""
        plant = self.plant
        observers, route = self._step_observers, self._step_route

        def step():
            control = plant.commanded_force
            start = time.perf_counter()
            if route is None:
                moved = _PLANT_STEP(plant)
            else:
                self._moved = False
                route(control)
                moved = self._moved
            cost = time.perf_counter() - start
            for observer in observers:
                observer(control, plant.state, cost)
            return moved
        plant.step = step

    # -- running -------------------------------------------------------------
    @property
    def dt(self):
        """Return the control period [s]."""
        return self.plant.dt

    @property
    def halted(self):
        """Return why the plant stopped and waits for a reset, or None while it runs."""
        return self.plant.fault

    def start(self):
        """Publish the first sample; in real time, start ticking."""
        self.schedule.start()

    def stop(self):
        """Stop stepping (idempotent); the recording is flushed and closed."""
        self.schedule.stop()
        if self.recorder is not None:
            self.recorder.close()

    # -- settings at run time (:attr:`runtime`) ----------------------------------
    def check(self, name, value):
        """Return ``value`` as ``name`` takes it now; SettingError naming it if it cannot."""
        return self.runtime.check(name, value)

    def apply(self, name, value):
        """Take a run-time setting (checked); True if the plant uses it."""
        return self.runtime.apply(name, value)

    def _check_initial_state(self, value):
        try:
            check_state(value, self.plant.track_limit)
        except InvalidStateError as exc:
            raise SettingError(f'{self._label("initial_state")}: {exc}') from None
        return value

    def _change(self, name, change, value):
        with self.lock:
            change(self.plant, value)
            self.values[name] = value
            # The sample of the next tick was computed with the old value.
            self.schedule.refresh()

    # -- faults, live --------------------------------------------------------
    def inject(self, spec):
        """
        Inject a fault now: a spec mapping, a :class:`~..conditions.faults.Fault` or a line.

        Its ``start`` counts from the next period boundary not yet begun.
        FaultError (a ValueError naming the key) for a spec that makes no
        sense; returns the fault as it runs (its start in episode time).
        """
        fault = Fault.from_dict(from_text(spec) if isinstance(spec, str) else spec)
        with self.lock:
            fault = self.plant.inject_fault(fault, later=self.mode != 'lockstep')
            self.schedule.refresh()
            self.schedule._report_events()
        return fault

    def clear_faults(self):
        """Remove every fault of this episode, scheduled and live, from now on."""
        with self.lock:
            self.plant.clear_faults()
            self.schedule.refresh()
            self.schedule._report_events()

    # -- what it is doing ------------------------------------------------------
    def status(self):
        """Return the plant's state, episode, timing and last events (JSON-ready)."""
        with self.lock:
            status = plant_status(self.schedule)
            faults = self.plant.faults
            status.update(dt=self.plant.dt, episode=self.plant.describe_episode(),
                          events=[e._asdict() for e in list(self.events)[-STATUS_EVENTS:]],
                          faults=[] if faults is None else [r.text for r in faults.running])
        status['episode_number'] = status['episode']['episode']
        return status

    def plant_status(self):
        """Return the flat plant status of :func:`~.status.plant_status` (``/diagnostics``)."""
        with self.lock:
            return plant_status(self.schedule)

    def describe_scenarios(self):
        """Return the names of the campaign's scenarios (empty without one)."""
        player = self.plant.scenarios
        return [] if player is None else [s.name for s in player.scenarios]

    def _episode_started(self):
        scenario = self.plant.scenario
        seed = scenario.seed if scenario.seed is not None else self.values['seed']
        self.network = episode_network(scenario.network, None if seed is None or seed < 0
                                       else seed, self.base_network)
        if self._on_network is not None:
            self._on_network(self.network)


class _HostListener(PlantListener):
    """The door's listener, plus what the host keeps (events, the episode's network)."""

    def __init__(self, host, primary, observers=()):
        self.host = host
        self.door = primary
        self._bind()
        for observer in observers:
            self.add(observer)

    def add(self, observer):
        if not isinstance(self.door, Fanout):
            self.door = Fanout(self.door)
        self.door.observers.append(observer)
        self._bind()

    def _bind(self):
        # Samples go straight to the door (or its fan-out): no extra call per period.
        self.prepare = self.door.prepare
        self.publish = self.door.publish

    def on_episode(self, index):
        self.host._episode_started()
        self.door.on_episode(index)

    def on_event(self, event):
        self.host.events.append(event)
        self.door.on_event(event)

    def on_halt(self, reason):
        self.door.on_halt(reason)

    def on_finish(self):
        self.door.on_finish()

    def on_failsafe(self, active, controlled):
        self.door.on_failsafe(active, controlled)

    def on_late(self, missed, overruns, controlled):
        self.door.on_late(missed, overruns, controlled)
