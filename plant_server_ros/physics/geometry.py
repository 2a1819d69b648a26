"""
Where the parts of the cart-pendulum are, and its URDF (no ROS in here).

Frames
------
The world frame has x along the rail and z up; the cart's pivot (joint 1)
moves along the x axis at height 0, so heights are measured from the pivot,
as in :mod:`.dynamics`.  With absolute angles from the upright vertical (a
positive angle tilts the link's far end toward +x) the tip of link 1 is at
``(x + L1 sin th1, L1 cos th1)`` and the tip of link 2 at that plus
``(L2 sin th2, L2 cos th2)``.

A rotation by ``+th`` about +y turns +z toward +x (``R_y(th) (0, 0, 1) =
(sin th, 0, cos th)``), so both revolute joints of the URDF turn about
``0 1 0``.  A URDF chain measures joint 2 relative to link 1: its joint
positions are :func:`relative_angles` of the state, ``(x, th1, th2 - th1)``.

Sizes of the drawn parts (cart, rail, link thickness) follow from the link
lengths (:func:`dimensions`), so that the markers and the URDF agree.
"""

from math import cos, sin
from xml.sax.saxutils import quoteattr

from .dynamics import DIPParams

ROBOT_NAME = 'dip'
WORLD_FRAME = 'world'
# Links of the URDF, root first: the rail hangs off the world, the cart
# slides on the world's x axis, and the links follow each other.
RAIL_LINK = 'rail'
CART_LINK = 'cart'
LINK1_LINK = 'link1'
LINK2_LINK = 'link2'
TIP_LINK = 'link2_tip'
# Joint names are those of the plant's JointState messages (ros.messages).
CART_JOINT = 'cart_joint'
LINK1_JOINT = 'link1_joint'
LINK2_JOINT = 'link2_joint'
JOINT_NAMES = (CART_JOINT, LINK1_JOINT, LINK2_JOINT)
# Joint limits written into the URDF for the actuator and the joints'
# rates; they describe the plant to tools, nothing enforces them.
CART_EFFORT = 100.0     # N
CART_VELOCITY = 10.0    # m/s
JOINT_EFFORT = 10.0     # N m
JOINT_VELOCITY = 100.0  # rad/s

# Colours (r, g, b, a) shared by the URDF materials and the markers.
COLORS = {
    'rail': (0.55, 0.55, 0.55, 1.0),
    'cart': (0.20, 0.40, 0.80, 1.0),
    'link1': (0.95, 0.55, 0.10, 1.0),
    'link2': (0.20, 0.70, 0.30, 1.0),
    'tip': (0.85, 0.15, 0.15, 1.0),
}


def forward_kinematics(state, params=None):
    """
    Return the points of the pendulum for ``state``, in the world's (x, z) plane.

    Keys: ``pivot`` (joint 1, on the cart), ``joint2`` (tip of link 1),
    ``tip`` (tip of link 2), ``com1`` and ``com2`` (centres of mass of the
    links); each value an ``(x, z)`` pair of floats, ``z`` measured from the
    pivot.  ``state`` needs ``x, th1, th2`` first (velocities are ignored).
    """
    p = params if params is not None else DIPParams()
    x, th1, th2 = float(state[0]), float(state[1]), float(state[2])
    s1, c1, s2, c2 = sin(th1), cos(th1), sin(th2), cos(th2)
    big_l1 = p.link1_length
    jx, jz = x + big_l1 * s1, big_l1 * c1
    return {
        'pivot': (x, 0.0),
        'joint2': (jx, jz),
        'tip': (jx + p.link2_length * s2, jz + p.link2_length * c2),
        'com1': (x + p.link1_com * s1, p.link1_com * c1),
        'com2': (jx + p.link2_com * s2, jz + p.link2_com * c2),
    }


def relative_angles(state):
    """Return the URDF chain's joint positions ``(x, th1, th2 - th1)`` of ``state``."""
    x, th1, th2 = float(state[0]), float(state[1]), float(state[2])
    return (x, th1, th2 - th1)


def relative_rates(state):
    """Return the URDF chain's joint velocities ``(xdot, th1dot, th2dot - th1dot)``."""
    v, w1, w2 = float(state[3]), float(state[4]), float(state[5])
    return (v, w1, w2 - w1)


def dimensions(params, track_limit):
    """
    Return the sizes [m] of the drawn parts, from the link lengths and the rail.

    ``params``: a DIPParams (None: nominal); ``track_limit``: the rail's half
    length [m], the plant's setting.

    ``cart``: box (length along x, width along y, height); its top face holds
    the pivot, so its centre is ``cart[2] / 2`` below it.  ``rail``: box
    ``2 track_limit`` long under the cart, centred at height ``rail_z``.
    ``link_radius``: radius of both links; ``tip_radius``: of the tip spheres.
    """
    p = params if params is not None else DIPParams()
    if not track_limit > 0.0:
        raise ValueError(f'track_limit must be > 0, got {track_limit!r}')
    reach = p.link1_length + p.link2_length
    cart = (0.3 * reach, 0.2 * reach, 0.12 * reach)
    rail_height = 0.03 * reach
    return {
        'cart': cart,
        'rail': (2.0 * float(track_limit), 0.1 * reach, rail_height),
        'rail_z': -cart[2] - rail_height / 2.0,
        'link_radius': 0.025 * reach,
        'tip_radius': 0.05 * reach,
    }


def _f(value):
    # 15 significant digits: exact for any length typed in decimal (0.4, not
    # 0.40000000000000002), within 1e-15 relative of any other.
    return format(float(value), '.15g')


def _xyz(*values):
    return ' '.join(_f(v) for v in values)


def _box_inertia(mass, size):
    a, b, c = size
    return (mass * (b * b + c * c) / 12.0, mass * (a * a + c * c) / 12.0,
            mass * (a * a + b * b) / 12.0)


def _inertial(mass, com_z, ixx, iyy, izz, indent='    '):
    return (f'{indent}<inertial>\n'
            f'{indent}  <origin xyz="{_xyz(0, 0, com_z)}" rpy="0 0 0"/>\n'
            f'{indent}  <mass value="{_f(mass)}"/>\n'
            f'{indent}  <inertia ixx="{_f(ixx)}" ixy="0.0" ixz="0.0" iyy="{_f(iyy)}" '
            f'iyz="0.0" izz="{_f(izz)}"/>\n'
            f'{indent}</inertial>\n')


def _visual(geometry, z, material, indent='    '):
    return (f'{indent}<visual>\n'
            f'{indent}  <origin xyz="{_xyz(0, 0, z)}" rpy="0 0 0"/>\n'
            f'{indent}  <geometry>{geometry}</geometry>\n'
            f'{indent}  <material name="{material}"/>\n'
            f'{indent}</visual>\n')


def _joint(name, kind, parent, child, xyz=(0.0, 0.0, 0.0), axis=None, limit=None):
    text = (f'  <joint name="{name}" type="{kind}">\n'
            f'    <parent link="{parent}"/>\n'
            f'    <child link="{child}"/>\n'
            f'    <origin xyz="{_xyz(*xyz)}" rpy="0 0 0"/>\n')
    if axis is not None:
        text += f'    <axis xyz="{_xyz(*axis)}"/>\n'
    if limit is not None:
        attrs = ' '.join(f'{k}="{_f(v)}"' for k, v in limit.items())
        text += f'    <limit {attrs}/>\n'
    return text + '  </joint>\n'


def urdf(params, track_limit, name=ROBOT_NAME):
    """
    Return the URDF (XML text) of the cart-pendulum for ``params`` (None: nominal).

    ``track_limit``: half the rail's length [m], the plant's setting
    (``urdf/dip.urdf`` is made with the settings table's default).

    Tree: ``world`` -> ``rail`` (fixed, drawn under the cart), ``world`` ->
    ``cart`` (prismatic ``cart_joint`` along +x, limits +/-``track_limit``),
    ``cart`` -> ``link1`` (``link1_joint`` about +y at the pivot), ``link1``
    -> ``link2`` (``link2_joint`` about +y at the tip of link 1, relative to
    link 1), ``link2`` -> ``link2_tip`` (fixed, at the tip of link 2).  The
    link joints are ``continuous`` (URDF's revolute joint without position
    limits): the pendulum may turn over.  Each link points along its +z and
    carries its mass, centre of mass and inertia (``link*_inertia`` about the
    centre of mass, about x and y; the thin rod's own axis gets m r^2 / 2).
    """
    p = params if params is not None else DIPParams()
    d = dimensions(p, track_limit)
    cart, rail, r = d['cart'], d['rail'], d['link_radius']
    out = ['<?xml version="1.0"?>\n',
           '<!-- Generated by plant_server_ros.physics.geometry.urdf(): do not edit. -->\n',
           f'<robot name={quoteattr(name)}>\n']
    for material, (cr, cg, cb, ca) in COLORS.items():
        out.append(f'  <material name="{material}"><color rgba="{_xyz(cr, cg, cb, ca)}"/>'
                   '</material>\n')
    out.append(f'  <link name="{WORLD_FRAME}"/>\n')
    out.append(f'  <link name="{RAIL_LINK}">\n'
               + _visual(f'<box size="{_xyz(*rail)}"/>', d['rail_z'], 'rail')
               + '  </link>\n')
    box = f'<box size="{_xyz(*cart)}"/>'
    out.append(f'  <link name="{CART_LINK}">\n'
               + _visual(box, -cart[2] / 2.0, 'cart')
               + '    <collision>\n'
               f'      <origin xyz="{_xyz(0, 0, -cart[2] / 2.0)}" rpy="0 0 0"/>\n'
               f'      <geometry>{box}</geometry>\n'
               '    </collision>\n'
               + _inertial(p.cart_mass, -cart[2] / 2.0, *_box_inertia(p.cart_mass, cart))
               + '  </link>\n')
    for link, length, mass, com, inertia, color in (
            (LINK1_LINK, p.link1_length, p.link1_mass, p.link1_com, p.link1_inertia, 'link1'),
            (LINK2_LINK, p.link2_length, p.link2_mass, p.link2_com, p.link2_inertia, 'link2')):
        rod = f'<cylinder radius="{_f(r)}" length="{_f(length)}"/>'
        out.append(f'  <link name="{link}">\n'
                   + _visual(rod, length / 2.0, color)
                   + '    <collision>\n'
                   f'      <origin xyz="{_xyz(0, 0, length / 2.0)}" rpy="0 0 0"/>\n'
                   f'      <geometry>{rod}</geometry>\n'
                   '    </collision>\n'
                   + _inertial(mass, com, inertia, inertia, mass * r * r / 2.0)
                   + '  </link>\n')
    out.append(f'  <link name="{TIP_LINK}">\n'
               + _visual(f'<sphere radius="{_f(d["tip_radius"])}"/>', 0.0, 'tip')
               + '  </link>\n')
    joint_limit = {'effort': JOINT_EFFORT, 'velocity': JOINT_VELOCITY}
    out += [
        _joint(f'{RAIL_LINK}_joint', 'fixed', WORLD_FRAME, RAIL_LINK),
        _joint(CART_JOINT, 'prismatic', WORLD_FRAME, CART_LINK, axis=(1, 0, 0),
               limit={'lower': -track_limit, 'upper': track_limit,
                      'effort': CART_EFFORT, 'velocity': CART_VELOCITY}),
        _joint(LINK1_JOINT, 'continuous', CART_LINK, LINK1_LINK, axis=(0, 1, 0),
               limit=joint_limit),
        _joint(LINK2_JOINT, 'continuous', LINK1_LINK, LINK2_LINK,
               xyz=(0.0, 0.0, p.link1_length), axis=(0, 1, 0), limit=joint_limit),
        _joint(f'{TIP_LINK}_joint', 'fixed', LINK2_LINK, TIP_LINK,
               xyz=(0.0, 0.0, p.link2_length)),
        '</robot>\n',
    ]
    return ''.join(out)
