"""
The plant node's wiring around a plant host, shared by the plain and the managed node.

:class:`PlantDoor` turns messages into controls and resets and hands the
host a listener that turns samples into messages (:mod:`.plant_output`);
:mod:`.plant_node` (``PlantNode``) and :mod:`.managed_plant_node`
(``ManagedPlantNode``) move it through their states.  Topics, services:
see :mod:`.plant_node`.
"""

import functools
import json
import math
import threading
import traceback

from diagnostic_msgs.msg import DiagnosticArray
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64, Float64MultiArray, String
from std_srvs.srv import Trigger

from . import contract, diagnostics, params as ros_params
from .joint_topics import JointCommands
from .messages import joint_state, new_joint_state, NS_PER_S, target_of
from .plant_output import PlantTopics, RosOutput
from .subscription_waiter import SubscriptionWaiter
from ..conditions.faults import parse_live
from ..conditions.scenario import ScenarioError
from ..observers.recording import Recorder
from ..physics.state import InvalidStateError
from ..runtime.host import PlantHost
from ..runtime.schedule import PlantFinished, PlantHalted, PlantUnavailable
from ..runtime.settings import of_node, RunTime, SettingError
from ..runtime.status import CpuMeter

RESET_WAIT = 1.0        # s, at least, the reset service waits for the new episode's start


class PlantDoor:
    """
    The plant node's wiring around a plant host, for the plain and the managed node.

    :meth:`_wire` declares nothing: it takes the checked parameter values,
    builds the host and makes the node's topics, subscriptions and services
    (once); :meth:`_start` starts stepping; :meth:`_freeze` stops it with the
    state as it is; :meth:`_release` destroys what :meth:`_wire` made.
    """

    def _declare(self, busy_poll_us=None):
        """Declare (once) and check every plant setting; ``{name: value}``."""
        given = {'busy_poll_us': busy_poll_us} if busy_poll_us is not None else {}
        return {s.name: ros_params.declare_setting(self, s, given.get(s.name))
                for s in of_node('plant')}

    def _wire(self, values):
        self.values = values
        self.finished = threading.Event()
        self.mode = values['mode']
        self.max_steps = values['max_steps']
        self.dt_ns = round(values['dt'] * NS_PER_S)
        self.origin_ns = 0           # stamp of sample 0 (lock-step: simulated time 0)
        self._busy_poll = 1e-6 * values['busy_poll_us']
        self.topics = self.host = self._control_thread = self._hold = self._hold_timer = None
        self._hold_lock = threading.Lock()
        self._held_msg = new_joint_state()
        self._build_host()
        # The control -> step -> state path is a round trip: taken on a thread
        # of its own, not through the executor.
        self._controls = SubscriptionWaiter(self, Float64, contract.CONTROL,
                                            contract.CONTROL_QOS)
        # ros2_control's topic hardware interface: its commands take the control's
        # path (.joint_topics; the measured joints go out with every sample).
        self._joint_commands = JointCommands(self, self._control)
        self._entities = [
            self.create_subscription(JointState, contract.RESET_TO, self._on_reset_to, 10),
            self.create_subscription(Float64MultiArray, contract.DISTURBANCE,
                                     self._on_disturbance, 10),
            self.create_subscription(String, contract.FAULTS, self._on_fault, 10),
            self.create_service(Trigger, contract.RESET, self._on_reset),
            self.create_service(Trigger, contract.ESTOP, self._on_estop),
            self.create_timer(diagnostics.PERIOD, self._publish_diagnostics)]
        self._diagnostics_pub = self.create_publisher(DiagnosticArray, diagnostics.TOPIC, 10)
        self._cpu = CpuMeter()
        # Run-time parameters: the node's own busy poll, the rest the host's.
        self.runtime = RunTime({'busy_poll_us': self._set_busy_poll},
                               checks={'initial_state': self._check_initial_state},
                               labels=self.host.labels)
        self.runtime.add({name: functools.partial(self._to_host, name)
                          for name in self.host.runtime.names})
        if not getattr(self, '_parameter_callbacks', False):
            self._parameter_callbacks = True
            ros_params.follow(self, lambda: None if self.host is None else self.runtime)

    def _build_host(self):
        try:
            self.host = PlantHost(
                self.values, scenario=self.values['scenario'] or None, listener=self._output,
                labels={s.name: f'parameter {s.name!r}' for s in of_node('plant')},
                log=self.get_logger(), name=self.get_name(), recorder=Recorder)
        except (SettingError, ScenarioError) as exc:
            raise ros_params.ParameterError(str(exc)) from None
        except OSError as exc:               # record:= a file, or a place it cannot write
            raise ros_params.ParameterError(
                f"parameter 'record': cannot record to {self.values['record']}: "
                f'{exc.strerror or exc}') from None
        self.plant, self.schedule = self.host.plant, self.host.schedule

    def _output(self, host):
        """Make the host's listener: this node's topics (``/clock`` for a simulated clock)."""
        if self.topics is None:
            self.topics = PlantTopics(self, host.simulated_clock)
        self._ros_output = RosOutput(
            self.get_logger(), host.plant, self.max_steps, self.topics, self.mode,
            lambda index: self.origin_ns + index * self.dt_ns, self.context,
            self._stop_on_shutdown, self.finished)
        return self._ros_output

    def _stop_on_shutdown(self):
        self.host.schedule.stop()

    def _start(self):
        """Start stepping; a host that was frozen is built anew (a new episode at t = 0)."""
        if self.host.finished.is_set():
            self._build_host()
        self.finished.clear()
        # Real time with wait_for_control: the initial state is published, nothing
        # steps, until the first control (or a reset, an e-stop) starts the episode.
        holding = self.values['wait_for_control'] and self.topics.clock is None
        if holding:
            self._drop_hold_timer()
            self._hold = self._hold_timer = self.create_timer(self.plant.dt, self._publish_held)
            # The latched episode says a plant is there (a bridge waits for it before
            # it forwards a client's first request); the episode starts anew later.
            self.topics.episode.publish(contract.episode_msg(
                self.mode, self.get_clock().now().nanoseconds))
        else:
            self._step_from_now()
        self._control_thread = threading.Thread(
            target=self._serve_controls, name=f'{self.get_name()}_controls', daemon=True)
        self._control_thread.start()
        v = self.values
        held = ('; holding the initial state until the first control (wait_for_control)'
                if holding else '')
        self.get_logger().info(
            f'{self.mode} plant up: dt={self.plant.dt:g} s, {v["integrator"]} x{v["substeps"]}, '
            f'noise std={self.plant.sensor_noise_std:g}, '
            f'max_steps={self.max_steps or "unlimited"}{held}')

    def _step_from_now(self):
        """Start the host: its episode's t = 0 is now."""
        if self.topics.clock is None:          # wall time: stamps from this node's clock
            self.origin_ns = self.get_clock().now().nanoseconds
            if self.host.recorder is not None:
                self.host.recorder.stamp_origin_ns = self.origin_ns
        self.host.start()
        if getattr(self.schedule, 'priority_error', None):
            self.get_logger().warning(self.schedule.priority_error)
        self.topics.publish_clock(0)

    def _drop_hold_timer(self):
        if self._hold_timer is not None:
            self.destroy_timer(self._hold_timer)
            self._hold_timer = None

    def _publish_held(self):
        """While held: the initial state, stamped now, once a period (no noise, no force)."""
        with self._hold_lock:
            if self._hold is None:
                return
            joint_state(self._held_msg, self.get_clock().now().nanoseconds, self.plant.state,
                        0.0)
            self.topics.state.publish(self._held_msg)

    def _end_hold(self, why):
        """Start stepping now if the plant is held (from any thread); True if it was."""
        with self._hold_lock:
            hold, self._hold = self._hold, None
            if hold is None:
                return False
            hold.cancel()             # destroyed by _release or with the node: not here,
            self._step_from_now()     # where the executor may be running it
        self.get_logger().info(f'{why}: the episode starts (t = 0)')
        return True

    def _freeze(self):
        """Stop stepping with the state as it is (idempotent)."""
        with self._hold_lock:
            hold, self._hold = self._hold, None
        if hold is not None:
            hold.cancel()
        self.finished.set()
        self.host.stop()
        self._ros_output.report_failsafe()
        self._controls.wake()
        thread = self._control_thread
        if thread is not None and thread.is_alive() and threading.current_thread() is not thread:
            thread.join(1.0)

    def _release(self):
        """Destroy the topics, subscriptions, services and timer :meth:`_wire` made."""
        self._controls.close()
        destroy = {'Subscription': self.destroy_subscription, 'Service': self.destroy_service,
                   'Timer': self.destroy_timer}
        for entity in self._entities:
            destroy[type(entity).__name__](entity)
        self._joint_commands.destroy()
        self._drop_hold_timer()
        for publisher in (*self.topics.publishers(), self._diagnostics_pub):
            self.destroy_publisher(publisher)
        self.topics = None

    # kept for tests and tools that look at the clock publisher
    @property
    def _clock_pub(self):
        return self.topics.clock

    @property
    def state_pub(self):
        """Return the ``state`` publisher."""
        return self.topics.state

    @property
    def truth_pub(self):
        """Return the ``ground_truth`` publisher."""
        return self.topics.truth

    @property
    def markers_pub(self):
        """Return the ``markers`` publisher."""
        return self.topics.markers

    @property
    def tf_pub(self):
        """Return the ``/tf`` publisher, or None without tf2_msgs."""
        return self.topics.tf

    # -- parameters at run time (:attr:`runtime`) -------------------------------
    def _set_busy_poll(self, us):
        self._busy_poll = 1e-6 * us

    def _check_initial_state(self, value):
        return self.host.check('initial_state', value)    # against the plant's track

    def _to_host(self, name, value):
        self.values[name] = value                # a host built anew takes it too
        self.host.apply(name, value)

    # -- inputs --------------------------------------------------------------
    def _finite(self, msg):
        if math.isfinite(msg.data):
            return True
        self.get_logger().warning(f'rejected non-finite control {msg.data}; holding the '
                                  'previous force', throttle_duration_sec=1.0)
        return False

    def _serve_controls(self):
        while not self.finished.is_set() and not self.host.finished.is_set():
            # Polling a little before sleeping skips a thread wake-up per step
            # when the next control comes at once (lock-step; bench/bench_bridge.py
            # --poll-us compares settings).
            msg = self._controls.poll(self._busy_poll if self.topics.clock else 0.0)
            if msg is None:
                self._controls.wait(0.1)
            elif self._finite(msg):
                self._control(msg.data)

    def _control(self, u):
        if self._hold is not None:
            self._end_hold(f'first control ({u:g} N)')
        try:
            sample = self.host.control(u)
            if self.topics.clock is not None:     # lock-step: the sample is made
                self.topics.publish_clock(sample.result().index * self.dt_ns)
        except (PlantHalted, PlantFinished):
            pass            # the latched episode topic already says so
        except Exception:  # noqa: B902 - the control thread must live on
            self.get_logger().error(f'control {u} failed:\n{traceback.format_exc()}')

    def _publish_diagnostics(self):
        status = self.host.plant_status()
        status['cpu_percent'] = self._cpu.percent()
        level, message = diagnostics.plant_level(status)
        self._diagnostics_pub.publish(diagnostics.array(self, status, level, message))

    def _on_disturbance(self, msg):
        if len(msg.data) != 3:
            self.get_logger().error(f'disturbance ignored: data must be [F, tau1, tau2], got '
                                    f'{len(msg.data)} values')
            return
        try:
            self.host.set_disturbance(*msg.data)
        except ValueError as exc:
            self.get_logger().error(f'disturbance ignored: {exc}')

    def _on_fault(self, msg):
        # A refusal goes back on the events topic too: whoever sent it hears why.
        try:
            spec = parse_live(msg.data)
            if spec == 'clear':
                self.host.clear_faults()
            else:
                self.host.inject(spec)
        except ValueError as exc:
            self.get_logger().error(f'fault refused: {exc}')
            if self.topics is not None:
                self.topics.events.publish(String(data=json.dumps(
                    {'t': self.plant.time, 'kind': 'fault_refused', 'detail': str(exc),
                     'episode': self.plant.episode})))

    def _on_estop(self, request, response):
        self._end_hold('e-stop')
        response.message = self.host.estop('estop service')
        response.success = True
        return response

    def _on_reset(self, request, response):
        response.success, response.message = self._reset(None, wait=True)
        return response

    def _on_reset_to(self, msg):
        try:
            state = target_of(msg)         # by joint name
        except ValueError as exc:
            self.get_logger().error(f'reset_to ignored: {exc}')
            return
        ok, message = self._reset(state)
        if not ok:
            self.get_logger().error(f'reset_to ignored: {message}')

    def _reset(self, state, wait=False):
        if self._end_hold('reset') and state is None:
            return True, 'reset: a new episode at t = 0'      # the held one, just started
        try:
            ticket = self.host.reset(state)
            if wait:                           # real time: up to one period away
                ticket.result(max(RESET_WAIT, 2.0 * self.plant.dt))
            return True, 'reset: a new episode at t = 0'
        except (InvalidStateError, PlantFinished, PlantUnavailable) as exc:
            return False, str(exc)

    def stop(self):
        """Stop stepping (idempotent); call before destroying the node."""
        if self.host is not None:
            self._freeze()
            self._controls.close()
