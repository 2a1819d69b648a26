"""
The pendulum drawn for RViz and Foxglove: markers, URDF joint states, transforms.

Three ways to see the plant, from the same geometry (:mod:`..physics.geometry`):

* :func:`markers`: a ``visualization_msgs/MarkerArray`` in the world frame
  (rail, cart, both links, a sphere at each link's tip); needs nothing else.
  The markers' ids are fixed, so each message moves them in place.
* :func:`joint_state_for_urdf`: the ``sensor_msgs/JointState`` that
  ``robot_state_publisher`` expects next to the URDF of
  :func:`..physics.geometry.urdf`: joint 2 relative to link 1.  The plant's own
  ``state`` topic carries *absolute* angles and does not suit a URDF.
* :func:`transforms`: the ``tf2_msgs/TFMessage`` of the chain, for a TF tree
  without ``robot_state_publisher``; it needs ``tf2_msgs``, which comes with a
  ROS distribution only (no wheel on any package registry):
  :func:`transform_list` gives the same transforms as a plain list.
"""

from math import cos, sin

from builtin_interfaces.msg import Time
from geometry_msgs.msg import Point, TransformStamped
from sensor_msgs.msg import JointState
from std_msgs.msg import Header
from visualization_msgs.msg import Marker, MarkerArray

from .messages import time_msg
from ..physics import geometry
from ..physics.dynamics import DIPParams
from ..runtime.settings import defaults

_TABLE = defaults()          # the settings table's defaults: declared there, once

try:
    from tf2_msgs.msg import TFMessage
except ImportError:     # off a ROS distribution: no wheel of tf2_msgs exists
    TFMessage = None

# Fixed marker ids (one namespace): a new message replaces the old markers.
MARKER_IDS = {'rail': 0, 'cart': 1, 'link1': 2, 'link2': 3, 'joint2': 4, 'tip': 5}


def _stamp(stamp):
    # A builtin_interfaces/Time as it is, or integer nanoseconds; None: zero.
    if stamp is None:
        return Time()
    if isinstance(stamp, Time):
        return stamp
    return time_msg(int(stamp))


def _marker(kind, name, header, ns, color):
    m = Marker()
    m.header = header
    m.ns = ns
    m.id = MARKER_IDS[name]
    m.type = kind
    m.action = Marker.ADD
    m.pose.orientation.w = 1.0
    m.color.r, m.color.g, m.color.b, m.color.a = color
    return m


def markers(state, params=None, stamp=None, frame_id=geometry.WORLD_FRAME, ns='dip',
            track_limit=_TABLE['track_limit']):
    """
    Return a ``visualization_msgs/MarkerArray`` drawing the pendulum at ``state``.

    ``params``: the plant's DIPParams (default: the nominal plant); ``stamp``:
    a ``builtin_interfaces/Time`` or nanoseconds; ``track_limit``: half the
    rail's length [m].  Markers (ids in :data:`MARKER_IDS`): ``rail`` and
    ``cart`` (CUBEs), ``link1`` and ``link2`` (LINE_STRIPs from their joint to
    their tip, as wide as the URDF's links), ``joint2`` and ``tip`` (SPHEREs
    at the tips of link 1 and link 2).  Positions are those of
    :func:`..physics.geometry.forward_kinematics`, in the x-z plane of
    ``frame_id`` with the pivot's height at z = 0.
    """
    p = params if params is not None else DIPParams()
    pts = geometry.forward_kinematics(state, p)
    dims = geometry.dimensions(p, track_limit)
    colors = geometry.COLORS
    header = Header(stamp=_stamp(stamp), frame_id=frame_id)

    rail = _marker(Marker.CUBE, 'rail', header, ns, colors['rail'])
    rail.pose.position.z = dims['rail_z']
    rail.scale.x, rail.scale.y, rail.scale.z = dims['rail']

    cart = _marker(Marker.CUBE, 'cart', header, ns, colors['cart'])
    cart.pose.position.x = pts['pivot'][0]
    cart.pose.position.z = -dims['cart'][2] / 2.0
    cart.scale.x, cart.scale.y, cart.scale.z = dims['cart']

    out = [rail, cart]
    for name, start, end in (('link1', 'pivot', 'joint2'), ('link2', 'joint2', 'tip')):
        link = _marker(Marker.LINE_STRIP, name, header, ns, colors[name])
        link.scale.x = 2.0 * dims['link_radius']
        link.points = [Point(x=pts[start][0], z=pts[start][1]),
                       Point(x=pts[end][0], z=pts[end][1])]
        out.append(link)
    diameter = 2.0 * dims['tip_radius']
    for name in ('joint2', 'tip'):
        ball = _marker(Marker.SPHERE, name, header, ns, colors['tip'])
        ball.pose.position.x, ball.pose.position.z = pts[name]
        ball.scale.x = ball.scale.y = ball.scale.z = diameter
        out.append(ball)
    return MarkerArray(markers=out)


def joint_state_for_urdf(state, stamp=None):
    """
    Return the ``sensor_msgs/JointState`` of ``state`` for the URDF's chain.

    Names ``cart_joint, link1_joint, link2_joint``; positions ``(x, th1,
    th2 - th1)`` and velocities ``(xdot, th1dot, th2dot - th1dot)``: joint 2
    relative to link 1, as ``robot_state_publisher`` expects.
    """
    msg = JointState()
    msg.header.stamp = _stamp(stamp)
    msg.name = list(geometry.JOINT_NAMES)
    msg.position = list(geometry.relative_angles(state))
    msg.velocity = list(geometry.relative_rates(state))
    return msg


def _transform(header_stamp, parent, child, x=0.0, z=0.0, angle=0.0):
    t = TransformStamped()
    t.header.stamp = header_stamp
    t.header.frame_id = parent
    t.child_frame_id = child
    t.transform.translation.x = x
    t.transform.translation.z = z
    # A rotation by ``angle`` about +y.
    t.transform.rotation.y = sin(angle / 2.0)
    t.transform.rotation.w = cos(angle / 2.0)
    return t


def transform_list(state, params=None, stamp=None, frame_id=geometry.WORLD_FRAME):
    """
    Return the ``geometry_msgs/TransformStamped`` list of the URDF's moving chain.

    ``frame_id`` -> ``cart`` -> ``link1`` -> ``link2`` -> ``link2_tip``, with the
    URDF's joint origins and the joint positions of :func:`joint_state_for_urdf`
    (the fixed ``rail`` is left to ``robot_state_publisher``'s static TF).
    """
    p = params if params is not None else DIPParams()
    x, a1, a2 = geometry.relative_angles(state)
    s = _stamp(stamp)
    return [
        _transform(s, frame_id, geometry.CART_LINK, x=x),
        _transform(s, geometry.CART_LINK, geometry.LINK1_LINK, angle=a1),
        _transform(s, geometry.LINK1_LINK, geometry.LINK2_LINK, z=p.link1_length, angle=a2),
        _transform(s, geometry.LINK2_LINK, geometry.TIP_LINK, z=p.link2_length),
    ]


def transforms(state, params=None, stamp=None, frame_id=geometry.WORLD_FRAME):
    """
    Return the ``tf2_msgs/TFMessage`` of :func:`transform_list`.

    Raise ImportError when ``tf2_msgs`` is missing: it comes with a ROS
    distribution only (no wheel on any package registry).
    """
    if TFMessage is None:
        raise ImportError('tf2_msgs is not installed: it comes with a ROS distribution '
                          '(no wheel of it on any package registry); transform_list() gives '
                          'the same transforms without it')
    return TFMessage(transforms=transform_list(state, params, stamp, frame_id))
