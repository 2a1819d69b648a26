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
from ..runtime.settings import Setting, SETTINGS

# The controller's parameters (read-only), declared as the plant's are.
LAW = Setting('law', 'choice', 'lqr', 'lqr: u = -K x, K the discrete LQR of the nominal '
              'plant; pd: u = -kp . [x, th1, th2] - kd . [xdot, th1dot, th2dot].',
              'controller', choices=('lqr', 'pd'), nodes=('controller',))
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

KICK_PERIOD = 1.0   # [s] of steady time between resets while a lock-step plant is silent


def declare_law(node):
    """Declare the law's parameters; return the controller (state -> saturated force)."""
    law, dt, max_force, q, r = (ros_params.declare_setting(node, s)
                                for s in (LAW, DT, MAX_FORCE, Q, R))
    gain = controllers.lqr_gain(dt, q=q, r=r)
    # PD defaults: the LQR's own gains, split (as dip_client --controller pd).
    kp = ros_params.declare_setting(node, KP, [float(k) for k in gain[:3]])
    kd = ros_params.declare_setting(node, KD, [float(k) for k in gain[3:]])
    try:
        if law == 'lqr':
            return law, controllers.StateFeedback(gain, max_force)
        return law, controllers.pd(kp, kd, max_force)
    except ValueError as exc:
        raise ros_params.ParameterError(str(exc)) from None


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
        self._msg.data = self.law(state)
        self._pub.publish(self._msg)
        if not self.answered:           # discovery is done: say so (scripts/hil.sh waits)
            self.get_logger().info('controlling: first state answered')
        self.answered += 1

    def _on_episode(self, msg):
        self._episode = contract.parse_episode(msg)

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
    from .node_runner import run_nodes
    return run_nodes(args, [ControllerNode])


if __name__ == '__main__':
    raise SystemExit(main())
