"""Plant state <-> ROS messages (``sensor_msgs/JointState``, time stamps)."""

from builtin_interfaces.msg import Time
from sensor_msgs.msg import JointState

# Joints of a URDF of the cart-pendulum: a prismatic cart and two revolute
# links.  Positions are [x, th1, th2] with *absolute* link angles from upright.
JOINT_NAMES = ('cart_joint', 'link1_joint', 'link2_joint')

NS_PER_S = 1_000_000_000


def time_msg(ns):
    """Return a ``builtin_interfaces/Time`` for ``ns`` nanoseconds."""
    return Time(sec=ns // NS_PER_S, nanosec=ns % NS_PER_S)


def stamp_ns(stamp):
    """Return nanoseconds of a ``builtin_interfaces/Time``."""
    return stamp.sec * NS_PER_S + stamp.nanosec


def joint_state(msg, ns, state, force):
    """Fill ``msg`` (a reusable JointState) with ``state`` and ``force`` at ``ns``."""
    stamp = msg.header.stamp
    stamp.sec, stamp.nanosec = divmod(ns, NS_PER_S)
    msg.position = [state[0], state[1], state[2]]
    msg.velocity = [state[3], state[4], state[5]]
    msg.effort = [force, 0.0, 0.0]
    return msg


def new_joint_state(frame_id=''):
    """Return a JointState with the plant's joint names, ready for :func:`joint_state`."""
    msg = JointState()
    msg.header.frame_id = frame_id
    msg.name = list(JOINT_NAMES)
    return msg


def state_of(msg):
    """Return the 6-state of a JointState (positions then velocities); ValueError if short."""
    if len(msg.position) != 3 or len(msg.velocity) != 3:
        raise ValueError('JointState needs 3 positions and 3 velocities '
                         f'(got {len(msg.position)} and {len(msg.velocity)})')
    return tuple(msg.position) + tuple(msg.velocity)


def target_of(msg):
    """
    Return the 6-state a ``reset_to`` JointState asks for, matched by joint name.

    Names in another order are taken by name; an unknown or a missing name
    is refused (ValueError naming it).  A message with no names is read by
    position, as :func:`state_of` does.
    """
    if not msg.name:
        return state_of(msg)
    names = list(msg.name)
    unknown = [n for n in names if n not in JOINT_NAMES]
    missing = [n for n in JOINT_NAMES if n not in names]
    if unknown or missing or len(set(names)) != len(names):
        raise ValueError(f'joint names must be {", ".join(JOINT_NAMES)} once each; '
                         f'unknown {unknown}, missing {missing}')
    if len(msg.position) != len(names) or len(msg.velocity) != len(names):
        raise ValueError(f'{len(names)} names need as many positions and velocities '
                         f'(got {len(msg.position)} and {len(msg.velocity)})')
    at = [names.index(n) for n in JOINT_NAMES]
    return tuple(msg.position[i] for i in at) + tuple(msg.velocity[i] for i in at)


def state_msg(state, stamp):
    """Return a JointState carrying ``state`` (a reset target), stamped ``stamp``."""
    msg = new_joint_state()
    msg.header.stamp = stamp
    msg.position = list(state[:3])
    msg.velocity = list(state[3:6])
    return msg
