"""The drawn pendulum against the physics' geometry: kinematics, markers, URDF, configs."""

import importlib
import json
import math
from pathlib import Path
import xml.etree.ElementTree as ET

import numpy as np
from plant_server_ros.physics import geometry
from plant_server_ros.physics.dynamics import DIPParams
from plant_server_ros.ros import messages
from plant_server_ros.runtime.settings import SETTINGS
import pytest
from rclpy.serialization import deserialize_message, serialize_message
import yaml


def _import_visualization():
    # The geometry's tests run without visualization_msgs; the markers' skip.
    try:
        return importlib.import_module('plant_server_ros.ros.visualization')
    except ImportError:
        return None


visualization = _import_visualization()
needs_markers = pytest.mark.skipif(
    visualization is None,
    reason='visualization_msgs is not installed (requirements/ros.txt: ros-visualization-msgs)')
Marker = getattr(visualization, 'Marker', None)
MarkerArray = getattr(visualization, 'MarkerArray', None)
REPO = Path(__file__).resolve().parents[1]
# Not the nominal plant: lengths and centres of mass all differ, so a swapped
# or hard-coded one shows.
TRACK = SETTINGS['track_limit'].default      # urdf/dip.urdf's rail
PARAMS = DIPParams(link1_length=0.55, link2_length=0.35, link1_com=0.25, link2_com=0.2,
                   cart_mass=2.0, link1_mass=0.3, link2_mass=0.1,
                   link1_inertia=0.01, link2_inertia=0.002)


def random_states(n, seed=7, track_limit=2.0):
    """Return ``n`` random states: any angles (turned over too), any rates."""
    rng = np.random.default_rng(seed)
    states = np.empty((n, 6))
    states[:, 0] = rng.uniform(-track_limit, track_limit, n)
    states[:, 1:3] = rng.uniform(-2.0 * math.pi, 2.0 * math.pi, (n, 2))
    states[:, 3:] = rng.normal(0.0, 3.0, (n, 3))
    return [tuple(s) for s in states]


def by_id(array):
    """Return the markers of a MarkerArray by the names of visualization.MARKER_IDS."""
    names = {i: name for name, i in visualization.MARKER_IDS.items()}
    return {names[m.id]: m for m in array.markers}


# --- forward kinematics ---------------------------------------------------------------

def test_forward_kinematics_by_hand():
    p = DIPParams()     # L1 0.4, L2 0.3, l1 0.2, l2 0.15
    pts = geometry.forward_kinematics((0.5, math.pi / 2, 0.0, 1.0, 2.0, 3.0), p)
    expected = {'pivot': (0.5, 0.0), 'joint2': (0.9, 0.0), 'tip': (0.9, 0.3),
                'com1': (0.7, 0.0), 'com2': (0.9, 0.15)}
    assert set(pts) == set(expected)
    for key, point in expected.items():
        assert pts[key] == pytest.approx(point, abs=1e-15), key
    # Link 1 hanging down, link 2 pointing to -x.
    pts = geometry.forward_kinematics((-1.0, math.pi, -math.pi / 2, 0, 0, 0), p)
    assert pts['joint2'] == pytest.approx((-1.0, -0.4), abs=1e-15)
    assert pts['tip'] == pytest.approx((-1.3, -0.4), abs=1e-15)
    assert pts['com2'] == pytest.approx((-1.15, -0.4), abs=1e-15)
    # 30 degrees toward +x, then 60 degrees toward -x.
    r3 = math.sqrt(3.0)
    pts = geometry.forward_kinematics((0.0, math.pi / 6, -math.pi / 3, 0, 0, 0), p)
    assert pts['joint2'] == pytest.approx((0.2, 0.2 * r3), abs=1e-15)
    assert pts['com1'] == pytest.approx((0.1, 0.1 * r3), abs=1e-15)
    assert pts['tip'] == pytest.approx((0.2 - 0.15 * r3, 0.2 * r3 + 0.15), abs=1e-15)
    assert pts['com2'] == pytest.approx((0.2 - 0.075 * r3, 0.2 * r3 + 0.075), abs=1e-15)


def test_forward_kinematics_matches_the_dynamics_centres_of_mass():
    # The potential energy the dynamics uses: g (m1 z1 + m2 z2) with
    # z1 = l1 cos th1, z2 = L1 cos th1 + l2 cos th2 (test_dynamics derives it).
    for state in random_states(20):
        pts = geometry.forward_kinematics(state, PARAMS)
        th1, th2 = state[1], state[2]
        assert pts['com1'][1] == pytest.approx(PARAMS.link1_com * math.cos(th1), abs=1e-15)
        assert pts['com2'][1] == pytest.approx(
            PARAMS.link1_length * math.cos(th1) + PARAMS.link2_com * math.cos(th2), abs=1e-15)
        link2 = np.subtract(pts['tip'], pts['joint2'])
        assert np.hypot(*link2) == pytest.approx(PARAMS.link2_length, abs=1e-14)


def test_relative_angles_and_rates():
    state = (0.3, 0.2, -0.5, 1.5, -2.0, 4.0)
    assert geometry.relative_angles(state) == pytest.approx((0.3, 0.2, -0.7), abs=1e-15)
    assert geometry.relative_rates(state) == pytest.approx((1.5, -2.0, 6.0), abs=1e-15)
    assert geometry.relative_angles((0.0, 1.0, 1.0)) == (0.0, 1.0, 0.0)


def test_dimensions_follow_the_parameters():
    d = geometry.dimensions(PARAMS, track_limit=1.25)
    assert d['rail'][0] == 2.5
    assert d['cart'] == pytest.approx(
        tuple(k * (PARAMS.link1_length + PARAMS.link2_length) for k in (0.3, 0.2, 0.12)))
    assert d['rail_z'] < -d['cart'][2] < 0.0    # the rail under the cart, the cart under the pivot
    with pytest.raises(ValueError):
        geometry.dimensions(PARAMS, track_limit=0.0)


# --- markers ----------------------------------------------------------------------------

@needs_markers
def test_markers_are_drawn_where_the_kinematics_puts_the_links():
    for state in random_states(50):
        array = visualization.markers(state, PARAMS, stamp=1_500_000_000)
        m = by_id(array)
        pts = geometry.forward_kinematics(state, PARAMS)
        tip = m['link2'].points[-1]
        assert abs(tip.x - pts['tip'][0]) <= 1e-12 and abs(tip.z - pts['tip'][1]) <= 1e-12
        assert tip.y == 0.0
        start = m['link1'].points[0]
        assert (start.x, start.y, start.z) == (state[0], 0.0, 0.0)
        # The two links meet at joint 2, where its sphere is.
        assert m['link1'].points[-1] == m['link2'].points[0]
        j = m['joint2'].pose.position
        assert (j.x, j.z) == pytest.approx(pts['joint2'], abs=1e-12)
        ball = m['tip'].pose.position
        assert (ball.x, ball.z) == pytest.approx(pts['tip'], abs=1e-12)
        assert m['cart'].pose.position.x == state[0]
        # Each link as long as its physical length.
        for name, length in (('link1', PARAMS.link1_length), ('link2', PARAMS.link2_length)):
            a, b = m[name].points
            assert len(m[name].points) == 2
            assert math.dist((a.x, a.y, a.z), (b.x, b.y, b.z)) == pytest.approx(
                length, abs=1e-12), name


@needs_markers
def test_markers_update_in_place_with_fixed_ids():
    a = visualization.markers((0.0, 0.1, 0.2, 0, 0, 0), PARAMS, stamp=5, ns='plant',
                              frame_id='map', track_limit=1.5)
    b = visualization.markers((1.0, -2.0, 3.0, 0, 0, 0), PARAMS, stamp=6, ns='plant',
                              frame_id='map', track_limit=1.5)
    ids = [m.id for m in a.markers]
    assert ids == [m.id for m in b.markers]
    assert sorted(ids) == sorted(visualization.MARKER_IDS.values())
    assert len(set(ids)) == len(ids)
    for m in a.markers:
        assert m.ns == 'plant' and m.header.frame_id == 'map'
        assert m.action == Marker.ADD
        assert (m.header.stamp.sec, m.header.stamp.nanosec) == (0, 5)
        q = m.pose.orientation
        assert (q.x, q.y, q.z, q.w) == (0.0, 0.0, 0.0, 1.0)     # a valid quaternion
        assert m.color.a == 1.0
    m = by_id(a)
    assert [m[k].type for k in ('rail', 'cart', 'link1', 'link2', 'joint2', 'tip')] == [
        Marker.CUBE, Marker.CUBE, Marker.LINE_STRIP, Marker.LINE_STRIP, Marker.SPHERE,
        Marker.SPHERE]


@needs_markers
def test_marker_scales_come_from_the_parameters():
    d = geometry.dimensions(PARAMS, track_limit=1.5)
    m = by_id(visualization.markers((0.0, 0.0, 0.0), PARAMS, track_limit=1.5))
    assert m['rail'].scale.x == 3.0
    assert (m['rail'].scale.x, m['rail'].scale.y, m['rail'].scale.z) == d['rail']
    assert m['rail'].pose.position.z == d['rail_z']
    assert (m['cart'].scale.x, m['cart'].scale.y, m['cart'].scale.z) == d['cart']
    # The cart's top face holds the pivot.
    assert m['cart'].pose.position.z + m['cart'].scale.z / 2.0 == pytest.approx(0.0, abs=1e-15)
    assert m['link1'].scale.x == m['link2'].scale.x == 2.0 * d['link_radius']
    assert m['tip'].scale.x == m['tip'].scale.y == m['tip'].scale.z == 2.0 * d['tip_radius']
    # Upright: the links stand on the pivot, one above the other.
    # Flat lists: pytest 9's approx refuses nested tuples.
    assert [c for p in m['link2'].points for c in (p.x, p.z)] == pytest.approx(
        [0.0, PARAMS.link1_length, 0.0, PARAMS.link1_length + PARAMS.link2_length])
    # Another plant, other sizes.
    small = DIPParams(link1_length=0.1, link2_length=0.05)
    m2 = by_id(visualization.markers((0.0, 0.0, 0.0), small))
    assert m2['cart'].scale.x < m['cart'].scale.x
    assert m2['link2'].points[-1].z == pytest.approx(0.15)


@needs_markers
def test_markers_serialize_and_take_a_time_message():
    stamp = messages.time_msg(3_000_000_007)
    array = visualization.markers((0.2, 0.1, -0.1, 0, 0, 0), stamp=stamp)
    assert all(m.header.stamp == stamp for m in array.markers)
    back = deserialize_message(serialize_message(array), MarkerArray)
    for sent, got in zip(array.markers, back.markers, strict=True):
        for field in ('header', 'ns', 'id', 'type', 'action', 'pose', 'scale', 'points'):
            assert getattr(got, field) == getattr(sent, field), field
        # Colours travel as float32.
        assert (got.color.r, got.color.g, got.color.b, got.color.a) == pytest.approx(
            (sent.color.r, sent.color.g, sent.color.b, sent.color.a), abs=1e-7)
    # Default parameters: the nominal plant.
    m = by_id(array)
    a, b = m['link1'].points
    assert math.dist((a.x, a.z), (b.x, b.z)) == pytest.approx(DIPParams().link1_length)


# --- joint states for the URDF -----------------------------------------------------------

@needs_markers
def test_joint_state_for_urdf_is_relative():
    msg = visualization.joint_state_for_urdf((0.3, 0.2, -0.5, 1.5, -2.0, 4.0), 2_000_000_001)
    assert list(msg.name) == list(messages.JOINT_NAMES) == [
        'cart_joint', 'link1_joint', 'link2_joint']
    assert list(msg.position) == pytest.approx([0.3, 0.2, -0.7], abs=1e-15)
    assert list(msg.velocity) == pytest.approx([1.5, -2.0, 6.0], abs=1e-15)
    assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == (2, 1)
    serialize_message(msg)


# --- the URDF ---------------------------------------------------------------------------

def rotation(axis, angle):
    """Return the rotation matrix about unit ``axis`` by ``angle`` (Rodrigues)."""
    k = np.asarray(axis, float) / np.linalg.norm(axis)
    kx = np.array([[0.0, -k[2], k[1]], [k[2], 0.0, -k[0]], [-k[1], k[0], 0.0]])
    return np.eye(3) + math.sin(angle) * kx + (1.0 - math.cos(angle)) * kx @ kx


def rpy_matrix(rpy):
    """Return URDF's fixed-axis roll-pitch-yaw rotation, Rz(y) Ry(p) Rx(r)."""
    r, p, y = rpy
    return rotation((0, 0, 1), y) @ rotation((0, 1, 0), p) @ rotation((1, 0, 0), r)


def floats(text, default):
    """Return the floats of an XML attribute (``default`` when absent)."""
    return np.array([float(v) for v in text.split()]) if text is not None else np.array(default)


def chain_poses(root, positions):
    """
    Return every link's world pose ``(R, t)`` from the URDF's joints and ``positions``.

    Computed from the XML alone: origin (xyz, rpy) then the joint's motion
    along/about its axis, as URDF defines it.
    """
    joints = {j.find('child').get('link'): j for j in root.findall('joint')}
    poses = {}

    def pose(link):
        if link in poses:
            return poses[link]
        joint = joints.get(link)
        if joint is None:
            poses[link] = (np.eye(3), np.zeros(3))
            return poses[link]
        rp, tp = pose(joint.find('parent').get('link'))
        origin = joint.find('origin')
        xyz = floats(origin.get('xyz') if origin is not None else None, [0.0, 0.0, 0.0])
        rpy = floats(origin.get('rpy') if origin is not None else None, [0.0, 0.0, 0.0])
        r, t = rp @ rpy_matrix(rpy), tp + rp @ xyz
        kind = joint.get('type')
        if kind != 'fixed':
            axis_el = joint.find('axis')
            axis = floats(axis_el.get('xyz') if axis_el is not None else None, [1.0, 0.0, 0.0])
            q = positions[joint.get('name')]
            if kind == 'prismatic':
                t = t + r @ (axis / np.linalg.norm(axis)) * q
            else:
                r = r @ rotation(axis, q)
        poses[link] = (r, t)
        return poses[link]

    for link in root.findall('link'):
        pose(link.get('name'))
    return poses


def test_positive_rotation_about_y_tilts_up_toward_plus_x():
    for angle in (0.3, -1.1, 2.5):
        tip = rotation((0, 1, 0), angle) @ np.array([0.0, 0.0, PARAMS.link1_length])
        pts = geometry.forward_kinematics((0.0, angle, 0.0), PARAMS)
        assert tip == pytest.approx([pts['joint2'][0], 0.0, pts['joint2'][1]], abs=1e-15)


def test_urdf_parses_with_the_three_joints():
    root = ET.fromstring(geometry.urdf(PARAMS, track_limit=1.5))
    assert root.tag == 'robot' and root.get('name') == 'dip'
    joints = {j.get('name'): j for j in root.findall('joint')}
    assert {'cart_joint', 'link1_joint', 'link2_joint'} <= set(joints)
    cart, j1, j2 = (joints[n] for n in messages.JOINT_NAMES)
    assert cart.get('type') == 'prismatic'
    assert floats(cart.find('axis').get('xyz'), None) == pytest.approx([1, 0, 0])
    limit = cart.find('limit')
    assert (float(limit.get('lower')), float(limit.get('upper'))) == (-1.5, 1.5)
    assert float(limit.get('effort')) > 0 and float(limit.get('velocity')) > 0
    for joint in (j1, j2):
        # A revolute joint without position limits: the pendulum may turn over.
        assert joint.get('type') == 'continuous'
        assert floats(joint.find('axis').get('xyz'), None) == pytest.approx([0, 1, 0])
    assert (cart.find('parent').get('link'), cart.find('child').get('link')) == (
        'world', 'cart')
    assert (j1.find('parent').get('link'), j1.find('child').get('link')) == ('cart', 'link1')
    assert (j2.find('parent').get('link'), j2.find('child').get('link')) == ('link1', 'link2')
    assert floats(j2.find('origin').get('xyz'), None) == pytest.approx(
        [0, 0, PARAMS.link1_length])
    # A tree: every link but the root is the child of exactly one joint.
    links = [link.get('name') for link in root.findall('link')]
    children = [j.find('child').get('link') for j in root.findall('joint')]
    assert len(links) == len(set(links))
    assert sorted(children) == sorted(set(links) - {'world'})
    # Every material a visual names is defined.
    defined = {m.get('name') for m in root.findall('material')}
    assert {m.get('name') for m in root.iter('material')} == defined


def test_urdf_visuals_and_inertials_come_from_the_parameters():
    root = ET.fromstring(geometry.urdf(PARAMS, TRACK))
    links = {link.get('name'): link for link in root.findall('link')}
    d = geometry.dimensions(PARAMS, TRACK)
    for name, length, mass, com, inertia in (
            ('link1', PARAMS.link1_length, PARAMS.link1_mass, PARAMS.link1_com,
             PARAMS.link1_inertia),
            ('link2', PARAMS.link2_length, PARAMS.link2_mass, PARAMS.link2_com,
             PARAMS.link2_inertia)):
        visual = links[name].find('visual')
        cylinder = visual.find('geometry/cylinder')
        assert float(cylinder.get('length')) == length
        assert float(cylinder.get('radius')) == pytest.approx(d['link_radius'])
        # Centred half way up: the cylinder spans the link from its joint to its tip.
        assert floats(visual.find('origin').get('xyz'), None) == pytest.approx([0, 0, length / 2])
        inertial = links[name].find('inertial')
        assert float(inertial.find('mass').get('value')) == mass
        assert floats(inertial.find('origin').get('xyz'), None) == pytest.approx([0, 0, com])
        tensor = inertial.find('inertia')
        assert float(tensor.get('iyy')) == inertia        # the planar model's inertia
        assert float(tensor.get('ixx')) == inertia
        assert 0.0 < float(tensor.get('izz')) < inertia
    cart = links['cart']
    assert float(cart.find('inertial/mass').get('value')) == PARAMS.cart_mass
    assert floats(cart.find('visual/geometry/box').get('size'), None) == pytest.approx(d['cart'])
    rail = floats(links['rail'].find('visual/geometry/box').get('size'), None)
    assert rail[0] == 4.0


def test_urdf_chain_kinematics_equal_the_core_kinematics():
    for params in (DIPParams(), PARAMS):
        root = ET.fromstring(geometry.urdf(params, TRACK))
        links = {link.get('name'): link for link in root.findall('link')}
        for state in random_states(25, seed=11):
            positions = dict(zip(messages.JOINT_NAMES, geometry.relative_angles(state)))
            poses = chain_poses(root, positions)
            pts = geometry.forward_kinematics(state, params)

            def world(link, local=(0.0, 0.0, 0.0)):
                r, t = poses[link]
                p = t + r @ np.asarray(local, float)
                assert abs(p[1]) < 1e-15          # the pendulum moves in the x-z plane
                return p[[0, 2]]

            assert world('cart') == pytest.approx(pts['pivot'], abs=1e-12)
            assert world('link1') == pytest.approx(pts['pivot'], abs=1e-12)
            assert world('link2') == pytest.approx(pts['joint2'], abs=1e-12)
            assert world('link2_tip') == pytest.approx(pts['tip'], abs=1e-12)
            for link, com in (('link1', 'com1'), ('link2', 'com2')):
                local = floats(links[link].find('inertial/origin').get('xyz'), None)
                assert world(link, local) == pytest.approx(pts[com], abs=1e-12), link
            # The far end of link 2's cylinder is the tip.
            visual = links['link2'].find('visual')
            top = floats(visual.find('origin').get('xyz'), None) + [
                0.0, 0.0, float(visual.find('geometry/cylinder').get('length')) / 2.0]
            assert world('link2', top) == pytest.approx(pts['tip'], abs=1e-12)


def test_urdf_parser_reads_it():
    urdf_mod = pytest.importorskip('urdf_parser_py.urdf',
                                   reason='urdf_parser_py is not installed (optional)')
    robot = urdf_mod.URDF.from_xml_string(geometry.urdf(PARAMS, TRACK))
    assert robot.get_root() == 'world'
    assert robot.get_chain('world', 'link2_tip', links=False) == [
        'cart_joint', 'link1_joint', 'link2_joint', 'link2_tip_joint']


# --- transforms -------------------------------------------------------------------------

def quaternion_matrix(q):
    """Return the rotation matrix of a unit quaternion message."""
    x, y, z, w = q.x, q.y, q.z, q.w
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


@needs_markers
def test_transform_chain_equals_the_kinematics():
    for state in random_states(25, seed=3):
        chain = visualization.transform_list(state, PARAMS, stamp=9)
        assert [(t.header.frame_id, t.child_frame_id) for t in chain] == [
            ('world', 'cart'), ('cart', 'link1'), ('link1', 'link2'), ('link2', 'link2_tip')]
        r, p = np.eye(3), np.zeros(3)
        frames = {}
        for t in chain:
            tr = t.transform.translation
            p = p + r @ np.array([tr.x, tr.y, tr.z])
            r = r @ quaternion_matrix(t.transform.rotation)
            frames[t.child_frame_id] = p[[0, 2]]
            assert t.header.stamp.nanosec == 9
        pts = geometry.forward_kinematics(state, PARAMS)
        assert frames['link1'] == pytest.approx(pts['pivot'], abs=1e-12)
        assert frames['link2'] == pytest.approx(pts['joint2'], abs=1e-12)
        assert frames['link2_tip'] == pytest.approx(pts['tip'], abs=1e-12)


@needs_markers
def test_transforms_without_tf2_msgs_raise_import_error(monkeypatch):
    monkeypatch.setattr(visualization, 'TFMessage', None)
    with pytest.raises(ImportError, match='tf2_msgs'):
        visualization.transforms((0.0, 0.1, 0.2), PARAMS)


@needs_markers
@pytest.mark.skipif(getattr(visualization, 'TFMessage', None) is None,
                    reason='tf2_msgs is not installed: it comes with a ROS distribution only '
                    '(no wheel on any package registry)')
def test_transforms_message():
    msg = visualization.transforms((0.1, 0.2, 0.3, 0, 0, 0), PARAMS, stamp=1)
    assert [t.child_frame_id for t in msg.transforms] == ['cart', 'link1', 'link2', 'link2_tip']
    serialize_message(msg)


# --- viewer configurations --------------------------------------------------------------

def test_foxglove_layout_loads():
    layout = json.loads((REPO / 'foxglove' / 'dip_layout.json').read_text())
    configs = layout['configById']

    def panels(node):
        if isinstance(node, str):
            return [node]
        return panels(node['first']) + panels(node['second'])

    used = panels(layout['layout'])
    assert sorted(used) == sorted(configs)
    scenes = [k for k in used if k.startswith('3D!')]
    assert len(scenes) == 1
    assert configs[scenes[0]]['topics']['/dip/markers']['visible'] is True
    plotted = [p['value'] for k in used if k.startswith('Plot!') for p in configs[k]['paths']]
    assert sorted(plotted) == sorted(['/dip/state.position[1]', '/dip/state.position[2]',
                                      '/dip/state.position[0]', '/dip/state.effort[0]'])


def test_rviz_config_shows_the_markers():
    config = yaml.safe_load((REPO / 'rviz' / 'dip.rviz').read_text())
    manager = config['Visualization Manager']
    assert manager['Global Options']['Fixed Frame'] == 'world'
    displays = {d['Class']: d for d in manager['Displays']}
    marker = displays['rviz_default_plugins/MarkerArray']
    assert marker['Topic']['Value'] == '/dip/markers'
    assert marker['Enabled'] is True
    robot = displays['rviz_default_plugins/RobotModel']
    assert robot['Enabled'] is False
    assert robot['Description Source'] == 'Topic'
    assert robot['Description Topic']['Value'].endswith('robot_description')
    assert robot['Description Topic']['Durability Policy'] == 'Transient Local'


def test_the_installed_urdf_is_the_generated_one():
    installed = Path(__file__).resolve().parents[1] / 'urdf' / 'dip.urdf'
    assert installed.read_text() == geometry.urdf(None, TRACK), \
        'urdf/dip.urdf is stale: regenerate it with geometry.urdf(None, track_limit)'
