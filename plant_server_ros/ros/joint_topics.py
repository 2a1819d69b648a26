"""
The ros2_control topic contract: ``joint_commands`` in, ``measured_joint_states`` out.

ros2_control's ``joint_state_topic_hardware_interface/JointStateTopicSystem``
(formerly ``topic_based_ros2_control``) turns a robot into two topics.  Its
``write()`` publishes a ``sensor_msgs/JointState`` with *every* joint of the
``<ros2_control>`` block in ``name`` and one entry per command interface in
``effort`` (for the DIP: ``effort = [F]``, no positions or velocities), QoS
depth 1, reliable.  Its ``read()`` takes the newest JointState of its states
topic (SensorDataQoS) and copies each known name's position, velocity and
effort into the state interfaces.

Why a states topic of its own and not ``state`` or ``joint_states``: the
state interfaces of a URDF joint are that joint's coordinates, and
``joint_state_broadcaster`` republishes them for ``robot_state_publisher``,
so link 2 must be *relative* to link 1 (``state`` has absolute angles); and a
controller must see what the sensors read (noise, delay, quantisation), not
the ground truth that ``joint_states`` (for rviz) carries.

The fail-safe (``control_timeout``) holds for this topic as for ``control``:
silence for that long means the controller is gone.  The interface falls
silent on purpose while the command equals the effort it reads back
(``trigger_joint_command_threshold``, 1e-5 by default), so the shipped URDF
sets that threshold to -1: the interface then writes every cycle.
"""

import math

from sensor_msgs.msg import JointState

from . import contract
from ..physics import geometry

CART = geometry.CART_JOINT
MAX_REMEMBERED = 64      # unknown joint names warned of once each; past them, once a second


def cart_effort(msg):
    """
    Return ``(force, unknown names)`` of a joint command; ``force`` None if there is none.

    ``effort`` matches ``name`` entry by entry, as a JointState says; the
    interface's own short form, with one effort for the one joint that has an
    effort command interface, is the cart's when the cart is named.
    """
    names = list(msg.name)
    unknown = [n for n in names if n not in geometry.JOINT_NAMES]
    if names.count(CART) > 1:
        raise ValueError(f'{CART} is named {names.count(CART)} times: cannot tell which '
                         'effort is its')
    if CART not in names or not msg.effort:
        return None, unknown
    if len(msg.effort) == len(names):
        return float(msg.effort[names.index(CART)]), unknown
    if len(msg.effort) == 1:
        return float(msg.effort[0]), unknown
    raise ValueError(f'{len(msg.effort)} efforts for {len(names)} joints: cannot tell '
                     f"which is {CART}'s")


class JointCommands:
    """Subscribe to ``joint_commands``; hand the cart's finite effort to ``apply``."""

    def __init__(self, node, apply):
        self._node = node
        self._apply = apply
        self._warned = set()
        self._subscription = node.create_subscription(
            JointState, contract.JOINT_COMMANDS, self._on_command, contract.JOINT_COMMANDS_QOS)

    def destroy(self):
        """Unsubscribe (a managed plant's cleanup)."""
        self._node.destroy_subscription(self._subscription)

    def _on_command(self, msg):
        log = self._node.get_logger()
        try:
            force, unknown = cart_effort(msg)
        except ValueError as exc:
            log.error(f'joint command ignored: {exc}', throttle_duration_sec=1.0)
            return
        new = [n for n in dict.fromkeys(unknown) if n not in self._warned]
        if new:
            # One line per message whatever it names, each name once while few are
            # remembered; past MAX_REMEMBERED names, once a second (a flood of names
            # is neither a flood of lines nor a set that grows without end).
            shown = ', '.join(repr(n[:40]) for n in new[:5]) + \
                (f' and {len(new) - 5} more' if len(new) > 5 else '')
            text = (f'joint_commands: ignoring unknown joint(s) {shown} (the plant has '
                    f'{", ".join(geometry.JOINT_NAMES)})')
            if len(self._warned) < MAX_REMEMBERED:
                self._warned.update(new[:MAX_REMEMBERED - len(self._warned)])
                log.warning(text)
            else:
                log.warning(text, throttle_duration_sec=1.0)
        if force is None:
            return
        if not math.isfinite(force):
            log.warning(f'rejected non-finite joint command {force}; holding the previous '
                        'force', throttle_duration_sec=1.0)
            return
        self._apply(force)


class MeasuredJointStates:
    """Publish the measured state as the URDF's joints, for the interface's ``read()``."""

    def __init__(self, node):
        self.publisher = self._pub = node.create_publisher(
            JointState, contract.MEASURED_JOINT_STATES, contract.MEASURED_JOINT_STATES_QOS)
        self._msg = JointState()
        self._msg.name = list(geometry.JOINT_NAMES)

    def publish(self, sample, stamp):
        """Publish ``sample`` (measured, link 2 relative; effort: the applied force)."""
        if not self._pub.get_subscription_count():
            return
        msg = self._msg
        msg.header.stamp = stamp
        msg.position = list(geometry.relative_angles(sample.measured))
        msg.velocity = list(geometry.relative_rates(sample.measured))
        msg.effort = [float(sample.force), 0.0, 0.0]
        self._pub.publish(msg)
