"""
ROS 2 node ``plant``: steps the plant on a wall-clock ticker or in lock-step.

Topics (relative, default namespace ``dip``):
  ``state`` (sensor_msgs/JointState, noisy), ``ground_truth`` (JointState),
  ``episode`` (std_msgs/Header, latched: stamp = instant of t = 0 of the
  current episode, frame_id = mode, or ``finished`` once max_steps is
  reached), ``control`` (std_msgs/Float64 in),
  ``reset_to`` (JointState in: reset to that state), ``/clock`` in lock-step.
Service: ``reset`` (std_srvs/Trigger).
"""

import math
import threading
import time

from rcl_interfaces.msg import SetParametersResult
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64, Header
from std_srvs.srv import Trigger

from . import ros_params
from .dynamics import DIPDynamics, DIPParams
from .integrators import TABLEAUX
from .plant import check_state, InvalidStateError, Plant
from .ros_messages import joint_state, new_joint_state, NS_PER_S, state_of, time_msg
from .ros_wait import SubscriptionWaiter
from .ticker import Ticker

DEFAULT_INITIAL_STATE = [0.0, 0.05, -0.03, 0.0, 0.0, 0.0]
MODES = ('realtime', 'lockstep')
FINISHED = 'finished'   # frame_id of the last ``episode`` message
# Periods that may be published in one catch-up burst; older due periods are
# still integrated (the plant keeps wall time) but not published.
MAX_PUBLISHED_BACKLOG = 10
LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL)
STATE_QOS = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)

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


class PlantNode(Node):
    """The plant as a ROS node; all physics and bookkeeping live in :class:`Plant`."""

    def __init__(self, node_name='plant', namespace='dip', **kwargs):
        super().__init__(node_name, namespace=namespace, **kwargs)
        self._declare_parameters()
        self._lock = threading.Lock()
        self.finished = threading.Event()
        self._pending_reset = None
        self._prepared_ns = None     # stamp of the sample computed ahead, if any
        self._truth_wanted = False
        self._timeout_logged = False
        self._clock_msg = Clock()

        self._state_msg = new_joint_state()
        self._truth_msg = new_joint_state()
        self._state_pub = self.create_publisher(JointState, 'state', STATE_QOS)
        self._truth_pub = self.create_publisher(JointState, 'ground_truth', STATE_QOS)
        self._episode_pub = self.create_publisher(Header, 'episode', LATCHED)
        self._clock_pub = (self.create_publisher(Clock, '/clock', 10)
                           if self.mode == 'lockstep' else None)
        if self.mode == 'lockstep':
            # The control -> step -> state path is the lock-step round trip:
            # taken on a thread of its own, not through the executor (ros_wait).
            self._controls = SubscriptionWaiter(self, Float64, 'control', 10, 'controls')
            self._lockstep_thread = threading.Thread(
                target=self._serve_lockstep, name=f'{self.get_name()}_lockstep', daemon=True)
        else:
            self.create_subscription(Float64, 'control', self._on_control, 10)
        self.create_subscription(JointState, 'reset_to', self._on_reset_to, 10)
        self.create_service(Trigger, 'reset', self._on_reset)
        self.add_on_set_parameters_callback(self._validate_parameters)
        self.add_post_set_parameters_callback(self._apply_parameters)

        self._dt_ns = round(self.plant.dt * NS_PER_S)
        self._ticker = None
        if self.mode == 'realtime':
            self._ticker = Ticker(self.plant.dt, self._on_tick, realtime_priority=self._priority,
                                  name=f'{self.get_name()}_ticker')
            # Tick k is due at monotonic t0 + k dt and stamped origin + k dt.
            t0 = time.monotonic()
            self._origin_ns = self.get_clock().now().nanoseconds
            self._announce_episode(self._origin_ns)
            self._publish_sample(self._origin_ns)
            self._last_index = 0
            self._prepare_next(self._origin_ns + self._dt_ns)
            self._ticker.start(t0)
            if self._ticker.priority_error:
                self.get_logger().warning(self._ticker.priority_error)
        else:
            self._episode_ns = 0
            self._announce_episode(0)
            self._clock_pub.publish(Clock(clock=time_msg(0)))
            self._publish_sample(0)
            self._lockstep_thread.start()
        self.get_logger().info(
            f'{self.mode} plant up: dt={self.plant.dt:g} s, {self._integrator}, '
            f'noise std={self.plant.sensor_noise_std:g}, '
            f'max_steps={self.max_steps or "unlimited"}')

    # -- parameters --------------------------------------------------------
    def _declare_parameters(self):
        d = ros_params.declare
        self.mode = ros_params.choice(self, 'mode', 'realtime', MODES,
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
            self, 'busy_poll_us', 150, 'Lock-step only: how long the control thread polls '
            'for the next control before it sleeps [us]; trades CPU for round-trip '
            'latency (0 = never poll).', 0, 100000)
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
        self.plant = Plant(DIPDynamics(params, integrator, substeps), dt=dt,
                           initial_state=initial, max_force=max_force, track_limit=track,
                           control_timeout=timeout, sensor_noise_std=noise,
                           seed=None if seed < 0 else seed)
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
        with self._lock:
            for p in params:
                if p.name == 'sensor_noise_std':
                    self.plant.sensor_noise_std = p.value
                elif p.name == 'max_force':
                    self.plant.set_max_force(p.value)
                elif p.name == 'control_timeout':
                    self.plant.control_timeout = p.value
                elif p.name == 'initial_state':
                    self.plant.initial_state = check_state(p.value, self.plant.track_limit)
                elif p.name == 'busy_poll_us':
                    self._busy_poll = 1e-6 * p.value

    # -- inputs --------------------------------------------------------------
    def _on_control(self, msg):
        if not math.isfinite(msg.data):
            self.get_logger().warning(f'rejected non-finite control {msg.data}; holding the '
                                      'previous force', throttle_duration_sec=1.0)
            return
        with self._lock:
            if self.mode == 'lockstep':
                self.plant.set_control(msg.data)
            else:
                # The force acts from its arrival in the current period on; the
                # sample of the next tick is recomputed with it (see _on_tick).
                period_start = self._ticker.t0 + self._last_index * self.plant.dt
                self.plant.set_control(msg.data, at=time.monotonic() - period_start)
            if self._timeout_logged:
                self._timeout_logged = False
                self.get_logger().info('control received again')
            if self.mode == 'lockstep':
                self._lockstep_step()
            elif self._prepared_ns is not None:
                self._prepare_next(self._prepared_ns)

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
            target = None if state is None else check_state(state, self.plant.track_limit)
        except InvalidStateError as exc:
            return False, str(exc)
        with self._lock:
            if self.mode == 'lockstep':
                self.plant.reset(target)
                self._episode_ns = self.plant.total_steps * self._dt_ns
                self._announce_episode(self._episode_ns)
                self._publish_sample(self._episode_ns)
                return True, 'reset to t = 0'
            # Real time: the reset sample takes the next tick's instant, so that
            # stamps stay strictly increasing on the dt grid.
            self._pending_reset = (target,)
        return True, 'reset at the next tick'

    # -- stepping ------------------------------------------------------------
    def _on_tick(self, index, due):
        try:
            self._tick(index, due)
        except Exception:  # noqa: B902 - re-raised unless ROS is shutting down
            # Ctrl-C invalidates the context at once, possibly mid-tick.
            if self.context.ok():
                raise
            self._ticker.request_stop()

    def _tick(self, index, due):
        # The sample of tick k is computed ahead, during period k-1 (and again
        # whenever a control arrives in it), so at the deadline only the
        # publish is left: the stamp-to-wire delay stays small.
        with self._lock:
            for k in range(index - due + 1, index + 1):
                if self.finished.is_set():
                    return
                ns = self._origin_ns + k * self._dt_ns
                publish = index - k < MAX_PUBLISHED_BACKLOG
                if self._pending_reset is not None:
                    self.plant.reset(self._pending_reset[0])
                    self._pending_reset = None
                    self._announce_episode(ns)
                    self._prepare_sample(ns, self.plant.state, 0.0)
                elif self._prepared_ns == ns:
                    if publish:
                        self._publish_prepared()
                    publish = False
                    self._advance()                 # commits the state just published
                elif self._advance():               # catching up: nothing computed ahead
                    self._prepare_sample(ns, self.plant.state, self.plant.last_applied_force)
                else:
                    continue
                if publish:
                    self._publish_prepared()
                self._prepared_ns = None
                self._last_index = k
                self._check_max_steps()
            self._prepare_next(self._origin_ns + (index + 1) * self._dt_ns)
        if due > 1:
            self.get_logger().warning(
                f'tick late by {due - 1} period(s): caught up '
                f'({self._ticker.overruns} overruns so far)', throttle_duration_sec=5.0)

    def _prepare_next(self, ns):
        """Compute the sample due at ``ns`` (not committed), unless nothing will come."""
        self._prepared_ns = None
        plant = self.plant
        if self.finished.is_set() or self._pending_reset is not None or plant.fault is not None:
            return
        if self.max_steps and plant.total_steps >= self.max_steps:
            return
        state, force = plant.preview()
        if all(math.isfinite(v) for v in state):
            self._prepare_sample(ns, state, force)

    def _serve_lockstep(self):
        while not self.finished.is_set():
            # Polling a little before sleeping skips a thread wake-up per step
            # (bench/bench_bridge.py --poll-us compares settings).
            msg = self._controls.poll(self._busy_poll)
            if msg is None:
                self._controls.wait(0.1)
            else:
                self._on_control(msg)

    def _lockstep_step(self):
        if self.finished.is_set() or not self._advance():
            return
        now_ns = self.plant.total_steps * self._dt_ns
        self._publish_sample(now_ns)
        if self._clock_pub.get_subscription_count():
            self._clock_msg.clock = time_msg(now_ns)
            self._clock_pub.publish(self._clock_msg)
        self._check_max_steps()

    def _advance(self):
        """Step the plant once; log faults and fail-safe; False when nothing moved."""
        plant = self.plant
        if not plant.step():
            return False
        if plant.control_timed_out and not self._timeout_logged:
            self._timeout_logged = True
            self.get_logger().warning(
                f'no control for {plant.control_timeout:g} s: applying u = 0 (fail-safe)')
        if plant.fault is not None:
            self.get_logger().error(f'plant stopped: {plant.fault}; waiting for a reset')
            if not all(math.isfinite(s) for s in plant.state):
                return False
        return True

    def _check_max_steps(self):
        if self.max_steps and self.plant.total_steps >= self.max_steps and \
                not self.finished.is_set():
            self.get_logger().info(f'max_steps={self.max_steps} reached: stopping')
            self._episode_pub.publish(Header(frame_id=FINISHED))
            self.finished.set()
            if self._ticker is not None:
                self._ticker.request_stop()

    def _prepare_sample(self, ns, state, force):
        joint_state(self._state_msg, ns, self.plant.measure(state), force)
        # Ground truth costs a fill and a serialisation per period: only for listeners.
        self._truth_wanted = self._truth_pub.get_subscription_count() > 0
        if self._truth_wanted:
            joint_state(self._truth_msg, ns, state, force)
        self._prepared_ns = ns

    def _publish_prepared(self):
        # The measured state goes first: the bridge's reply waits on it.
        self._state_pub.publish(self._state_msg)
        if self._truth_wanted:
            self._truth_pub.publish(self._truth_msg)

    def _publish_sample(self, ns):
        self._prepare_sample(ns, self.plant.state, self.plant.last_applied_force)
        self._publish_prepared()
        self._prepared_ns = None

    def _announce_episode(self, ns):
        header = Header(stamp=time_msg(ns), frame_id=self.mode)
        self._episode_pub.publish(header)

    def stop(self):
        """Stop stepping (idempotent); call before destroying the node."""
        self.finished.set()
        if self._ticker is not None:
            self._ticker.stop()
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
