"""
ROS 2 node ``controller``: a reference LQR or PD on ``state``, answering on ``control``.

    ros2 run plant_server_ros dip_controller --ros-args -r __ns:=/dip -p law:=pd

One control per state sample, so it serves both plant modes: in real time it
answers every tick; in lock-step each answer steps the plant once, which
publishes the next state.  It reads no clock, so ``use_sim_time`` changes
nothing.  The gains come from :mod:`..clients.controllers`, as ``dip_client``'s.
"""

import math

from rclpy.clock import Clock, ClockType
from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64, Header
from std_srvs.srv import Trigger

from . import contract, params as ros_params
from .messages import state_of
from ..clients import controllers
from ..physics.dynamics import DIPDynamics
from ..runtime.settings import Setting, SETTINGS

# The controller's parameters (read-only), declared as the plant's are.
LAW = Setting('law', 'choice', 'lqr', 'lqr: u = -K x, K the discrete LQR of the nominal '
              'plant; pd: u = -kp . [x, th1, th2] - kd . [xdot, th1dot, th2dot]; swingup: '
              'from hanging, the shipped plan tracked by a time-varying LQR, then the LQR '
              'catch (docs/swingup.md; needs estimator none).',
              'controller', choices=('lqr', 'pd', 'swingup'), nodes=('controller',))
DT = Setting('dt', 'float', SETTINGS['dt'].default,
             "Control period the LQR is designed for: the plant's dt.", 'controller', 's',
             1e-4, 1.0, nodes=('controller',))
MAX_FORCE = Setting('max_force', 'float', SETTINGS['max_force'].default,
                    'Command limit: |u| is saturated here.', 'controller', 'N', 0.0, 1e4,
                    nodes=('controller',))
Q = Setting('q', 'floats', list(controllers.DEFAULT_Q), 'LQR state weights, diagonal of Q '
            '(x, th1, th2, xdot, th1dot, th2dot), each >= 0.', 'controller', '', 0.0, math.inf,
            nodes=('controller',), length=6)
R = Setting('r', 'float', controllers.DEFAULT_R, 'LQR force weight R.', 'controller', '',
            1e-9, 1e9, nodes=('controller',))
KP = Setting('kp', 'floats', None, 'PD position gains (cart, link 1, link 2) [N/m, N/rad, '
             'N/rad]; default: the LQR gains.', 'controller', nodes=('controller',))
KD = Setting('kd', 'floats', None, 'PD rate gains (cart, link 1, link 2) [N s/m, N s/rad, '
             'N s/rad]; default: the LQR gains.', 'controller', nodes=('controller',))

ESTIMATOR = Setting('estimator', 'choice', 'kalman', 'kalman: u from a steady-state Kalman '
                    "filter's estimate of the state (the nominal linear plant, the force the "
                    'plant applied, the measured state); none: u from the measured state as '
                    'it comes. The LQR turns the default sensor noise into |u| of about 5 N '
                    '(p99 17 N, at times the 20 N limit) at rest; filtered, under 1 N.',
                    'controller',
                    choices=('kalman', 'none'), nodes=('controller',))
NOISE = Setting('sensor_noise_std', 'float', SETTINGS['sensor_noise_std'].default,
                "The plant's sensor noise std the filter is designed for (hil.launch.py passes "
                "the plant's).", 'controller', 'SI', 0.0, 10.0, nodes=('controller',))
PROCESS_NOISE = Setting('process_noise', 'float', 1e-6, 'Kalman filter: variance per period '
                        'of the model error on each state component (larger: trusts the '
                        'measurements more).', 'controller', '', 1e-12, 1.0,
                        nodes=('controller',))

KICK_PERIOD = 1.0   # [s] of steady time between resets while a lock-step plant is silent


def declare_law(node):
    """Declare the law's parameters; return the controller (state -> saturated force)."""
    law, dt, max_force, q, r = (ros_params.declare_setting(node, s)
                                for s in (LAW, DT, MAX_FORCE, Q, R))
    gain = controllers.lqr_gain(dt, q=q, r=r)
    # PD defaults: the LQR's own gains, split (as dip_client --controller pd).
    kp = ros_params.declare_setting(node, KP, [float(k) for k in gain[:3]])
    kd = ros_params.declare_setting(node, KD, [float(k) for k in gain[3:]])
    estimator, noise, process_noise = (ros_params.declare_setting(node, s)
                                       for s in (ESTIMATOR, NOISE, PROCESS_NOISE))
    if law == 'swingup' and estimator == 'kalman':
        raise ros_params.ParameterError(
            'law swingup acts on the measured state: set estimator:=none (the Kalman filter '
            'is the upright linearisation, wrong for a swing)')
    try:
        if law == 'swingup':
            from ..clients.swingup import SwingUp
            return law, SwingUp(dt=dt, max_force=max_force)
        feedback = (controllers.StateFeedback(gain, max_force) if law == 'lqr'
                    else controllers.pd(kp, kd, max_force))
    except (OSError, ValueError) as exc:
        raise ros_params.ParameterError(str(exc)) from None
    if estimator == 'kalman':
        feedback = Filtered(feedback, KalmanFilter(dt, noise, process_noise))
    return law, feedback


class KalmanFilter:
    """
    A steady-state Kalman filter of the nominal plant, linearised upright, discretised at ``dt``.

    Every state component is measured with white noise of std ``sigma``;
    ``q``: the model's error variance per period on each component.  Its
    first estimate is the first measurement; :meth:`restart` begins again.
    """

    def __init__(self, dt, sigma, q):
        import numpy as np
        import scipy.linalg
        self._np = np
        self.a, self.b = controllers.discretise(*DIPDynamics().linearize(), dt)
        self.b = self.b[:, 0]
        r = max(sigma, 1e-9) ** 2 * np.eye(6)
        p = scipy.linalg.solve_discrete_are(self.a.T, np.eye(6), q * np.eye(6), r)
        self.gain = p @ np.linalg.inv(p + r)
        self.x = None

    def restart(self):
        """Forget the estimate: the next measurement is the first."""
        self.x = None

    def __call__(self, measured, u):
        """Return the estimate after ``u`` was applied for one period and ``measured`` came."""
        y = self._np.asarray(measured, dtype=float)
        if self.x is None:
            self.x = y
        else:
            predicted = self.a @ self.x + self.b * u
            self.x = predicted + self.gain @ (y - predicted)
        return self.x


class Filtered:
    """
    A state feedback applied to a filter's estimate: ``u = law(filter(measured, applied))``.

    ``applied``: the force the plant says it applied in the period that ended
    at the sample (the state message's effort), so that the prediction holds
    whatever the latency (a control that came late, a tick that caught up,
    the fail-safe); without it, the last force this law sent.  Predicting
    with the sent force instead cut the delay margin: a steady two-period
    latency, which the unfiltered LQR rides out, made the filtered one fall.
    """

    def __init__(self, law, estimator):
        self.law, self.estimator = law, estimator
        self.gain, self.max_force = law.gain, law.max_force
        self._u = 0.0

    def restart(self):
        """Begin the estimate again (a new episode)."""
        self.estimator.restart()
        self._u = 0.0

    def __call__(self, measured, applied=None):
        if applied is None or not math.isfinite(applied):
            applied = self._u
        self._u = self.law(self.estimator(measured, applied))
        return self._u


class ControllerNode(Node):
    """Answer every ``state`` sample with one ``control``."""

    def __init__(self, node_name='controller', namespace='dip', **kwargs):
        super().__init__(node_name, namespace=namespace, **kwargs)
        law, self.law = declare_law(self)
        self.answered = 0
        self.last_state = None
        self._heard = False           # a state since the last kick check
        self._episode = None
        self._msg = Float64()
        self._pub = self.create_publisher(Float64, contract.CONTROL, contract.CONTROL_QOS)
        self.create_subscription(JointState, contract.STATE, self._on_state, contract.STATE_QOS)
        self.create_subscription(Header, contract.EPISODE, self._on_episode, contract.LATCHED)
        # A lock-step plant published its first sample when it started, maybe
        # before this node listened, and waits for a control: when it has been
        # silent for a whole period, a reset makes it publish a first state
        # again.  Steady time: /clock stands still while the plant waits.
        self._reset = self.create_client(Trigger, contract.RESET)
        self._kick = self.create_timer(KICK_PERIOD, self._kick_lockstep,
                                       clock=Clock(clock_type=ClockType.STEADY_TIME))
        gains = ', '.join(f'{k:.3f}' for k in self.law.gain)
        self.get_logger().info(f'{law} controller up: gains [{gains}], '
                               f'|u| <= {self.law.max_force:g} N')

    def _on_state(self, msg):
        try:
            state = state_of(msg)
        except ValueError as exc:
            self.get_logger().error(f'state ignored: {exc}', throttle_duration_sec=1.0)
            return
        self._heard = True
        self.last_state = state
        if isinstance(self.law, Filtered) and len(msg.effort):
            self._msg.data = self.law(state, msg.effort[0])      # what the plant applied
        else:
            self._msg.data = self.law(state)
        self._pub.publish(self._msg)
        if not self.answered:           # discovery is done: say so (scripts/hil.sh waits)
            self.get_logger().info('controlling: first state answered')
        self.answered += 1

    def _on_episode(self, msg):
        episode = contract.parse_episode(msg)
        if (self._episode is None or episode.start_ns != self._episode.start_ns) and \
                hasattr(self.law, 'restart'):
            self.law.restart()             # a reset: the state jumped
        self._episode = episode

    def _kick_lockstep(self):
        heard, self._heard = self._heard, False
        episode = self._episode
        if heard or episode is None or episode.status != 'lockstep':
            return
        if self._reset.service_is_ready():
            self.get_logger().info('lock-step plant silent: reset for a first state')
            self._reset.call_async(Trigger.Request())

    def stop(self):
        """Stop asking for resets; say how it went (the node runner calls it at exit)."""
        self._kick.cancel()
        if self.last_state is not None:
            x, th1, th2 = self.last_state[:3]
            self.get_logger().info(f'answered {self.answered} states; the last read x={x:.3f} '
                                   f'm, th1={th1:.3f} rad, th2={th2:.3f} rad')


def main(args=None):
    """Entry point of ``dip_controller``."""
    from .node_runner import run_process
    return run_process(args, [ControllerNode])


if __name__ == '__main__':
    raise SystemExit(main())
