"""
ROS 2 node ``plant``: the plant core on the ROS graph.

The plant host (:mod:`plant_server_ros.runtime.host`) builds and runs the
plant; this node declares the parameters (from the settings table), turns
messages into controls and resets, and hands the host a listener that turns
samples into messages (:mod:`.plant_output`).  Names and QoS: :mod:`.contract`.

Topics (relative, default namespace ``dip``): ``state`` and ``ground_truth``
(sensor_msgs/JointState), ``episode`` (std_msgs/Header, latched),
``episode_info`` (std_msgs/String, JSON, latched), ``events`` (std_msgs/String,
JSON), ``control`` (std_msgs/Float64 in), ``disturbance``
(std_msgs/Float64MultiArray in), ``reset_to`` (JointState in), ``faults``
(std_msgs/String in: a fault spec as JSON, YAML or a line, or ``clear``;
docs/faults.md), ``/clock`` in lock-step.  Services: ``reset`` and ``estop``
(std_srvs/Trigger).
"""

import json
import math
import threading
import traceback

from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import SetParametersResult
from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64, Float64MultiArray, String
from std_srvs.srv import Trigger

from . import contract, diagnostics, params as ros_params
from .messages import NS_PER_S, state_of
from .plant_output import PlantTopics, RosOutput
from .subscription_waiter import SubscriptionWaiter
from ..conditions.faults import parse_live
from ..conditions.scenario import ScenarioError
from ..physics.state import InvalidStateError
from ..runtime.host import PlantHost
from ..runtime.schedule import PlantFinished, PlantHalted, PlantUnavailable
from ..runtime.settings import of_node, SettingError
from ..runtime.status import CpuMeter

RESET_WAIT = 1.0        # s the reset service waits for the new episode's first sample


class PlantNode(Node):
    """The plant as a ROS node: parameters and topics around a plant host."""

    def __init__(self, node_name='plant', namespace='dip', busy_poll_us=None, **kwargs):
        super().__init__(node_name, namespace=namespace, **kwargs)
        given = {'busy_poll_us': busy_poll_us} if busy_poll_us is not None else {}
        values = {s.name: ros_params.declare_setting(self, s, given.get(s.name))
                  for s in of_node('plant')}
        self.finished = threading.Event()
        self.mode = values['mode']
        self.max_steps = values['max_steps']
        self.dt_ns = round(values['dt'] * NS_PER_S)
        self.origin_ns = 0           # stamp of sample 0 (lock-step: simulated time 0)
        self._busy_poll = 1e-6 * values['busy_poll_us']
        self.topics = None
        try:
            self.host = PlantHost(
                values, scenario=values['scenario'] or None, listener=self._output,
                labels={s.name: f'parameter {s.name!r}' for s in of_node('plant')},
                log=self.get_logger(), name=self.get_name())
        except (SettingError, ScenarioError) as exc:
            raise ros_params.ParameterError(str(exc)) from None
        self.plant, self.schedule = self.host.plant, self.host.schedule
        # The control -> step -> state path is a round trip: taken on a thread
        # of its own, not through the executor.
        self._controls = SubscriptionWaiter(self, Float64, contract.CONTROL,
                                            contract.CONTROL_QOS, 'controls')
        self._control_thread = threading.Thread(
            target=self._serve_controls, name=f'{self.get_name()}_controls', daemon=True)
        self.create_subscription(JointState, contract.RESET_TO, self._on_reset_to, 10)
        self.create_subscription(Float64MultiArray, contract.DISTURBANCE, self._on_disturbance,
                                 10)
        self.create_subscription(String, contract.FAULTS, self._on_fault, 10)
        self.create_service(Trigger, contract.RESET, self._on_reset)
        self.create_service(Trigger, contract.ESTOP, self._on_estop)
        self._diagnostics_pub = self.create_publisher(DiagnosticArray, diagnostics.TOPIC, 10)
        self._cpu = CpuMeter()
        self.create_timer(diagnostics.PERIOD, self._publish_diagnostics)
        self.add_on_set_parameters_callback(self._validate_parameters)
        self.add_post_set_parameters_callback(self._apply_parameters)
        self._start(values)

    def _output(self, host):
        """Make the host's listener: this node's topics (``/clock`` for a simulated clock)."""
        self.topics = PlantTopics(self, host.simulated_clock)
        self._ros_output = RosOutput(
            self.get_logger(), host.plant, self.max_steps, self.topics, self.mode,
            lambda index: self.origin_ns + index * self.dt_ns, self.context,
            self._stop_on_shutdown, self.finished)
        return self._ros_output

    def _stop_on_shutdown(self):
        self.host.schedule.stop()

    def _start(self, values):
        if self.topics.clock is None:          # wall time: stamps from this node's clock
            self.origin_ns = self.get_clock().now().nanoseconds
            if self.host.recorder is not None:
                self.host.recorder.stamp_origin_ns = self.origin_ns
        self.host.start()
        if getattr(self.schedule, 'priority_error', None):
            self.get_logger().warning(self.schedule.priority_error)
        self.topics.publish_clock(0)
        self._control_thread.start()
        self.get_logger().info(
            f'{self.mode} plant up: dt={self.plant.dt:g} s, '
            f'{values["integrator"]} x{values["substeps"]}, '
            f'noise std={self.plant.sensor_noise_std:g}, '
            f'max_steps={self.max_steps or "unlimited"}')

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

    # -- parameters --------------------------------------------------------
    def _validate_parameters(self, params):
        for p in params:
            if p.name == 'initial_state':
                try:
                    self.host.check(p.name, p.value)
                except SettingError as exc:
                    return SetParametersResult(successful=False, reason=str(exc))
        return SetParametersResult(successful=True)

    def _apply_parameters(self, params):
        for p in params:
            if p.name == 'busy_poll_us':
                self._busy_poll = 1e-6 * p.value
            else:
                self.host.apply(p.name, self.host.check(p.name, p.value))

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
        response.message = self.host.estop('estop service')
        response.success = True
        return response

    def _on_reset(self, request, response):
        response.success, response.message = self._reset(None, wait=True)
        return response

    def _on_reset_to(self, msg):
        try:
            state = state_of(msg)
        except ValueError as exc:
            self.get_logger().error(f'reset_to ignored: {exc}')
            return
        ok, message = self._reset(state)
        if not ok:
            self.get_logger().error(f'reset_to ignored: {message}')

    def _reset(self, state, wait=False):
        try:
            ticket = self.host.reset(state)
            if wait:
                ticket.result(RESET_WAIT)
            return True, 'reset: a new episode at t = 0'
        except (InvalidStateError, PlantFinished, PlantUnavailable) as exc:
            return False, str(exc)

    def stop(self):
        """Stop stepping (idempotent); call before destroying the node."""
        self.finished.set()
        self.host.stop()
        self._ros_output.report_failsafe()
        self._controls.wake()
        if self._control_thread.is_alive() and \
                threading.current_thread() is not self._control_thread:
            self._control_thread.join(1.0)
        self._controls.close()

    def destroy_node(self):
        self.stop()
        return super().destroy_node()


def main(args=None):
    """Entry point of ``plant_node``."""
    from .node_runner import run_nodes
    return run_nodes(args, [PlantNode])


if __name__ == '__main__':
    raise SystemExit(main())
