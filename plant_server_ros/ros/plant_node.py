"""
ROS 2 node ``plant``: the plant core on the ROS graph.

The schedules (:mod:`plant_server_ros.runtime.realtime`,
:mod:`plant_server_ros.runtime.lockstep`) decide when the plant steps; this node
declares the parameters, turns samples into messages and messages into
controls and resets.  Names and QoS: :mod:`.contract`.

Topics (relative, default namespace ``dip``): ``state`` and ``ground_truth``
(sensor_msgs/JointState), ``episode`` (std_msgs/Header, latched),
``episode_info`` (std_msgs/String, JSON, latched), ``events`` (std_msgs/String,
JSON), ``control`` (std_msgs/Float64 in), ``disturbance``
(std_msgs/Float64MultiArray in), ``reset_to`` (JointState in), ``/clock`` in
lock-step.  Services: ``reset`` and ``estop`` (std_srvs/Trigger).
"""

import json
import math
import threading
import traceback

from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import SetParametersResult
from rclpy.node import Node
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64, Float64MultiArray, Header, String
from std_srvs.srv import Trigger
from visualization_msgs.msg import MarkerArray


from . import condition_params, contract, diagnostics, params as ros_params, visualization
from .joint_topics import JointCommands, MeasuredJointStates
from .messages import joint_state, new_joint_state, NS_PER_S, state_of, time_msg
from .subscription_waiter import SubscriptionWaiter
from ..observers.recording import Recorder
from ..physics.dynamics import DIPDynamics, DIPParams
from ..physics.integrators import TABLEAUX
from ..physics.state import check_state, DEFAULT_INITIAL_STATE, InvalidStateError
from ..runtime.lockstep import LockstepSchedule
from ..runtime.plant import Plant
from ..runtime.plant_log import PlantLog
from ..runtime.realtime import RealtimeSchedule
from ..runtime.schedule import Fanout, PlantFinished, PlantHalted
from ..runtime.status import CpuMeter, plant_status

MARKER_DECIMATION = 5      # every 5th sample drawn for rviz (20 Hz at dt = 10 ms)
_PHYSICS_DOC = {
    'cart_mass': 'Cart mass [kg].',
    'link1_mass': 'Link 1 mass [kg].',
    'link2_mass': 'Link 2 mass [kg].',
    'link1_length': 'Link 1 length, joint to joint [m].',
    'link2_length': 'Link 2 length [m].',
    'link1_com': 'Joint 1 to link 1 centre of mass [m].',
    'link2_com': 'Joint 2 to link 2 centre of mass [m].',
    'link1_inertia': 'Link 1 inertia about its centre of mass [kg m^2].',
    'link2_inertia': 'Link 2 inertia about its centre of mass [kg m^2].',
    'gravity': 'Gravitational acceleration [m/s^2].',
    'cart_friction': 'Viscous cart friction [N s/m].',
    'joint1_friction': 'Viscous friction of joint 1 on th1dot [N m s/rad].',
    'joint2_friction': 'Viscous friction of joint 2 on th2dot - th1dot [N m s/rad].',
}


class _RosOutput(PlantLog):
    """The schedule's listener: samples become messages, events the ``episode`` topic."""

    def __init__(self, node):
        super().__init__(node.get_logger(), node.plant, node.max_steps)
        self.node = node
        self.episode_ns = 0
        self._state_msg = new_joint_state()
        self._truth_msg = new_joint_state()
        self._truth_wanted = False

    def stamp_ns(self, index):
        return self.node.origin_ns + index * self.node.dt_ns

    def prepare(self, sample):
        ns = self.stamp_ns(sample.index)
        joint_state(self._state_msg, ns, sample.measured, sample.force)
        # Ground truth costs a fill and a serialisation per period: only for listeners.
        try:
            self._truth_wanted = self.node.truth_pub.get_subscription_count() > 0
        except Exception:  # noqa: B902 - re-raised unless ROS is shutting down
            self._stop_if_shutting_down()
            self._truth_wanted = False
        if self._truth_wanted:
            joint_state(self._truth_msg, ns, sample.true, sample.force)
        return sample

    def _stop_if_shutting_down(self):
        # Ctrl-C invalidates the context at once, possibly mid-tick.
        if self.node.context.ok():
            raise
        self.node.schedule.stop()

    def publish(self, sample):
        try:
            # The measured state goes first: the bridge's reply waits on it.
            self.node.state_pub.publish(self._state_msg)
            if self._truth_wanted:
                self.node.truth_pub.publish(self._truth_msg)
            self.node.publish_views(sample, self._state_msg.header.stamp)
        except Exception:  # noqa: B902 - re-raised unless ROS is shutting down
            self._stop_if_shutting_down()

    def on_episode(self, index):
        super().on_episode(index)
        self.episode_ns = self.stamp_ns(index)
        self.node.episode_pub.publish(contract.episode_msg(self.node.mode, self.episode_ns))
        self.node.episode_info_pub.publish(
            String(data=json.dumps(self.node.plant.describe_episode())))

    def on_event(self, event):
        super().on_event(event)
        self.node.events_pub.publish(String(data=json.dumps(
            {'t': event.t, 'kind': event.kind, 'detail': event.detail,
             'episode': self.node.plant.episode})))

    def on_halt(self, reason):
        super().on_halt(reason)
        self.node.episode_pub.publish(
            contract.episode_msg(contract.HALTED, self.episode_ns, reason))

    def on_finish(self):
        super().on_finish()
        self.node.episode_pub.publish(contract.episode_msg(contract.FINISHED, 0))
        self.node.finished.set()


class PlantNode(Node):
    """The plant as a ROS node; when and what to step lives in the plant core."""

    def __init__(self, node_name='plant', namespace='dip', busy_poll_us=150, **kwargs):
        super().__init__(node_name, namespace=namespace, **kwargs)
        self._declare_parameters(busy_poll_us)
        self.finished = threading.Event()
        self.dt_ns = round(self.plant.dt * NS_PER_S)
        self.origin_ns = 0           # stamp of sample 0 (lock-step: simulated time 0)

        self.state_pub = self.create_publisher(JointState, contract.STATE, contract.STATE_QOS)
        self.truth_pub = self.create_publisher(JointState, contract.GROUND_TRUTH,
                                               contract.STATE_QOS)
        self.episode_pub = self.create_publisher(Header, contract.EPISODE, contract.LATCHED)
        self.episode_info_pub = self.create_publisher(String, contract.EPISODE_INFO,
                                                      contract.LATCHED)
        self.events_pub = self.create_publisher(String, contract.EVENTS, contract.EVENTS_QOS)
        self.markers_pub = self.create_publisher(MarkerArray, contract.MARKERS, 1)
        self.joint_states_pub = self.create_publisher(JointState, contract.JOINT_STATES, 10)
        self.tf_pub = None
        try:
            # /tf from the plant itself where tf2_msgs exists (a ROS distribution;
            # no package registry has it): without it, rviz uses the markers.
            from tf2_msgs.msg import TFMessage
            self.tf_pub = self.create_publisher(TFMessage, contract.TF, 100)
        except ImportError:
            pass
        self._output = _RosOutput(self)
        # A recording observes every sample and event, off the stepping thread.
        self.recorder = Recorder(self._record, self.plant, self.plant.dt) \
            if self._record else None
        hears = Fanout(self._output, [self.recorder]) if self.recorder else self._output
        if self.mode == 'lockstep':
            self.schedule = LockstepSchedule(self.plant, hears, self.max_steps)
            self._clock_pub = self.create_publisher(Clock, contract.CLOCK, 10)
            self._clock_msg = Clock()
            # The control -> step -> state path is the lock-step round trip:
            # taken on a thread of its own, not through the executor.
            self._controls = SubscriptionWaiter(self, Float64, contract.CONTROL,
                                                contract.CONTROL_QOS, 'controls')
            self._lockstep_thread = threading.Thread(
                target=self._serve_lockstep, name=f'{self.get_name()}_lockstep', daemon=True)
        else:
            self.schedule = RealtimeSchedule(self.plant, hears, self.max_steps,
                                             self._priority, self.get_name(),
                                             log=self.get_logger())
            self.create_subscription(Float64, contract.CONTROL, self._on_control,
                                     contract.CONTROL_QOS)
        # ros2_control's topic hardware interface: its commands take the control's
        # path, the measured joints go out with every sample (.joint_topics).
        self._joint_commands = JointCommands(
            self, self._lockstep_control if self.mode == 'lockstep' else self.schedule.control)
        self._measured_joints = MeasuredJointStates(self)
        self.create_subscription(JointState, contract.RESET_TO, self._on_reset_to, 10)
        self.create_subscription(Float64MultiArray, contract.DISTURBANCE, self._on_disturbance,
                                 10)
        self.create_service(Trigger, contract.RESET, self._on_reset)
        self.create_service(Trigger, contract.ESTOP, self._on_estop)
        self._diagnostics_pub = self.create_publisher(DiagnosticArray, diagnostics.TOPIC, 10)
        self._cpu = CpuMeter()
        self.create_timer(diagnostics.PERIOD, self._publish_diagnostics)
        self.add_on_set_parameters_callback(self._validate_parameters)
        self.add_post_set_parameters_callback(self._apply_parameters)

        if self.mode == 'realtime':
            self.origin_ns = self.get_clock().now().nanoseconds
            if self.recorder is not None:
                self.recorder.stamp_origin_ns = self.origin_ns
            self.schedule.start()
            if self.schedule.priority_error:
                self.get_logger().warning(self.schedule.priority_error)
        else:
            self.schedule.start()
            self._clock_pub.publish(Clock(clock=time_msg(0)))
            self._lockstep_thread.start()
        self.get_logger().info(
            f'{self.mode} plant up: dt={self.plant.dt:g} s, {self._integrator}, '
            f'noise std={self.plant.sensor_noise_std:g}, '
            f'max_steps={self.max_steps or "unlimited"}')

    # -- parameters --------------------------------------------------------
    def _declare_parameters(self, busy_poll_us):
        d = ros_params.declare
        self.mode = ros_params.choice(self, 'mode', 'realtime', contract.RUNNING_MODES,
                                      'realtime: step on a wall-clock ticker every dt; '
                                      'lockstep: one dt step per control message.')
        dt = d(self, 'dt', 0.01, 'Control period and integration step [s].', 1e-4, 1.0,
               read_only=True)
        noise = d(self, 'sensor_noise_std', 0.01,
                  'Std of additive Gaussian noise on every state component (0 = none).',
                  0.0, 10.0)
        seed = d(self, 'seed', -1, 'Noise generator seed; -1 draws a random one.',
                 -1, 2 ** 31 - 1, read_only=True)
        max_force = d(self, 'max_force', 20.0, 'Actuator limit: |u| is saturated here [N].',
                      0.0, 1e4)
        timeout = d(self, 'control_timeout', 0.5,
                    'Plant time without a control after which u = 0 [s] (0 = never).',
                    0.0, 3600.0)
        track = d(self, 'track_limit', 2.0,
                  'Half length of the rail [m]: beyond it the plant stops and waits '
                  'for a reset.', 1e-3, 1e3, read_only=True)
        initial = d(self, 'initial_state', list(DEFAULT_INITIAL_STATE),
                    'State of every reset: [x, th1, th2, xdot, th1dot, th2dot] (SI, '
                    'absolute angles from upright).')
        self.max_steps = d(self, 'max_steps', 0, 'Exit cleanly after this many steps '
                           '(0 = unlimited).', 0, 2 ** 62, read_only=True)
        integrator = ros_params.choice(self, 'integrator', 'rk6', tuple(sorted(TABLEAUX)),
                                       'Fixed-step Runge-Kutta method.')
        substeps = d(self, 'substeps', 1, 'Integrator steps per dt.', 1, 1000, read_only=True)
        self._busy_poll = 1e-6 * d(
            self, 'busy_poll_us', busy_poll_us, 'Lock-step only: how long the control thread '
            'polls for the next control before it sleeps [us]; trades CPU for round-trip '
            'latency (0 = never poll).', 0, 100000)
        self._record = d(self, 'record', '', 'Directory to record every episode to, one MCAP '
                         'file each (empty: no recording).', read_only=True)
        self._priority = d(self, 'realtime_priority', 0,
                           'SCHED_FIFO priority of the stepping thread (0 = off; needs '
                           'CAP_SYS_NICE or an rtprio limit).', 0, 99, read_only=True)
        defaults = DIPParams()
        physics = {name: d(self, f'physics.{name}', getattr(defaults, name), doc, 0.0, 1e6,
                           read_only=True)
                   for name, doc in _PHYSICS_DOC.items()}
        try:
            params = DIPParams(**physics)
            initial = check_state(initial, track)
        except ValueError as exc:
            raise ros_params.ParameterError(str(exc)) from None
        base, scenarios = condition_params.declare(self, dt)
        try:
            self.plant = Plant(DIPDynamics(params, integrator, substeps), dt=dt,
                               initial_state=initial, max_force=max_force, track_limit=track,
                               control_timeout=timeout, sensor_noise_std=noise,
                               seed=None if seed < 0 else seed, scenarios=scenarios, base=base)
        except ValueError as exc:          # e.g. a scenario's initial state off its track
            raise ros_params.ParameterError(str(exc)) from None
        self._integrator = f'{integrator} x{substeps}'

    def _validate_parameters(self, params):
        for p in params:
            if p.name == 'initial_state':
                try:
                    check_state(p.value, self.plant.track_limit)
                except InvalidStateError as exc:
                    return SetParametersResult(successful=False, reason=f'initial_state: {exc}')
        return SetParametersResult(successful=True)

    def _apply_parameters(self, params):
        with self.schedule.lock:
            for p in params:
                if p.name == 'sensor_noise_std':
                    self.plant.sensor_noise_std = float(p.value)
                elif p.name == 'max_force':
                    self.plant.set_max_force(float(p.value))
                elif p.name == 'control_timeout':
                    self.plant.control_timeout = float(p.value)
                elif p.name == 'initial_state':
                    self.plant.initial_state = check_state(p.value, self.plant.track_limit)
                elif p.name == 'busy_poll_us':
                    self._busy_poll = 1e-6 * p.value
            # The sample of the next tick was computed with the old values.
            self.schedule.refresh()

    # -- inputs --------------------------------------------------------------
    def _finite(self, msg):
        if math.isfinite(msg.data):
            return True
        self.get_logger().warning(f'rejected non-finite control {msg.data}; holding the '
                                  'previous force', throttle_duration_sec=1.0)
        return False

    def _on_control(self, msg):
        if self._finite(msg):
            self.schedule.control(msg.data)

    def _serve_lockstep(self):
        while not self.finished.is_set() and not self.schedule.finished.is_set():
            # Polling a little before sleeping skips a thread wake-up per step
            # (bench/bench_bridge.py --poll-us compares settings).
            msg = self._controls.poll(self._busy_poll)
            if msg is None:
                self._controls.wait(0.1)
            elif self._finite(msg):
                self._lockstep_control(msg.data)

    def _lockstep_control(self, u):
        try:
            sample = self.schedule.control(u)
        except (PlantHalted, PlantFinished):
            return          # the latched episode topic already says so
        except Exception:  # noqa: B902 - the control thread must live on
            self.get_logger().error(f'control {u} failed:\n{traceback.format_exc()}')
            return
        if self._clock_pub.get_subscription_count():
            self._clock_msg.clock = time_msg(sample.index * self.dt_ns)
            self._clock_pub.publish(self._clock_msg)

    def publish_views(self, sample, stamp):
        """Publish what rviz and robot_state_publisher read, while anyone listens."""
        self._measured_joints.publish(sample, stamp)
        if self.joint_states_pub.get_subscription_count():
            self.joint_states_pub.publish(visualization.joint_state_for_urdf(sample.true, stamp))
        if sample.index % MARKER_DECIMATION:
            return
        params = self.plant.dynamics.params
        if self.markers_pub.get_subscription_count():
            self.markers_pub.publish(visualization.markers(
                sample.true, params, stamp, track_limit=self.plant.safety.track_limit))
        if self.tf_pub is not None and self.tf_pub.get_subscription_count():
            self.tf_pub.publish(visualization.transforms(sample.true, params, stamp))

    def _publish_diagnostics(self):
        with self.schedule.lock:
            status = plant_status(self.schedule)
        status['cpu_percent'] = self._cpu.percent()
        level, message = diagnostics.plant_level(status)
        self._diagnostics_pub.publish(diagnostics.array(self, status, level, message))

    def _on_disturbance(self, msg):
        if len(msg.data) != 3:
            self.get_logger().error(f'disturbance ignored: data must be [F, tau1, tau2], got '
                                    f'{len(msg.data)} values')
            return
        try:
            self.schedule.set_disturbance(*msg.data)
        except ValueError as exc:
            self.get_logger().error(f'disturbance ignored: {exc}')

    def _on_estop(self, request, response):
        response.message = self.schedule.estop('estop service')
        response.success = True
        return response

    def _on_reset(self, request, response):
        response.success, response.message = self._request_reset(None)
        return response

    def _on_reset_to(self, msg):
        try:
            state = state_of(msg)
        except ValueError as exc:
            self.get_logger().error(f'reset_to ignored: {exc}')
            return
        ok, message = self._request_reset(state)
        if not ok:
            self.get_logger().error(f'reset_to ignored: {message}')

    def _request_reset(self, state):
        try:
            if self.mode == 'lockstep':
                self.schedule.reset(state)
                return True, 'reset to t = 0'
            self.schedule.request_reset(state)
            return True, 'reset at the next tick'
        except (InvalidStateError, PlantFinished) as exc:
            return False, str(exc)

    def stop(self):
        """Stop stepping (idempotent); call before destroying the node."""
        self.finished.set()
        self.schedule.stop()
        if self.recorder is not None:
            self.recorder.close()
        self._output.report_failsafe()
        if self.mode == 'lockstep':
            self._controls.wake()
            if self._lockstep_thread.is_alive() and \
                    threading.current_thread() is not self._lockstep_thread:
                self._lockstep_thread.join(1.0)
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
