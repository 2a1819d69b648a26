"""
The ros2_control topic contract, at the topic level (ros2_control is on no registry).

:class:`TopicSystem` does on the wire what
``joint_state_topic_hardware_interface/JointStateTopicSystem`` does (its
read() and write(), QoS, the command threshold), configured from the shipped
``urdf/dip_ros2_control.urdf.xacro``, and runs one update per period as
``ros2_control_node`` does.
"""

import math
from pathlib import Path

from _ros_harness import Harness
from plant_server_ros.physics import geometry
from plant_server_ros.ros.plant_node import PlantNode
import pytest
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import qos_profile_sensor_data, QoSProfile
from sensor_msgs.msg import JointState

DESCRIPTION = Path(__file__).resolve().parents[1] / 'urdf' / 'dip_ros2_control.urdf.xacro'
DEFAULT_THRESHOLD = 1e-5    # JointStateTopicSystem's trigger_joint_command_threshold_


def expand(**mappings):
    """Expand the shipped description with xacro; without xacro, the test asking skips."""
    # Not at the top: a module-level skip ends the collection of the whole folder
    # under launch_testing's plugin (colcon test), see test_collection.py.
    xacro = pytest.importorskip('xacro', reason='xacro (requirements/test.txt) expands the '
                                'shipped ros2_control description')
    return xacro.process_file(str(DESCRIPTION), mappings=mappings)


def hardware(namespace='/dip'):
    """Return the shipped description's ``<ros2_control>`` as plain data."""
    doc = expand(namespace=namespace)
    (block,) = doc.getElementsByTagName('ros2_control')
    params = {p.getAttribute('name'): p.firstChild.data.strip()
              for p in block.getElementsByTagName('hardware')[0].getElementsByTagName('param')}
    plugin = block.getElementsByTagName('plugin')[0].firstChild.data.strip()
    joints = [(j.getAttribute('name'),
               [c.getAttribute('name') for c in j.getElementsByTagName('command_interface')],
               [s.getAttribute('name') for s in j.getElementsByTagName('state_interface')])
              for j in block.getElementsByTagName('joint')]
    urdf_joints = [j.getAttribute('name') for j in doc.documentElement.childNodes
                   if getattr(j, 'tagName', '') == 'joint']
    return plugin, params, joints, urdf_joints


def command_initial_values():
    """Return ``{joint/interface: initial_value}`` of the shipped command interfaces."""
    doc = expand()
    return {f'{c.parentNode.getAttribute("name")}/{c.getAttribute("name")}':
            p.firstChild.data.strip()
            for c in doc.getElementsByTagName('command_interface')
            for p in c.getElementsByTagName('param') if p.getAttribute('name') == 'initial_value'}


class TopicSystem(Node):
    """JointStateTopicSystem's read() and write() on the wire; ``command`` is the controller's."""

    def __init__(self, params, joints, threshold=None):
        super().__init__('topic_system')
        self.joints = joints
        self.threshold = float(params.get('trigger_joint_command_threshold', DEFAULT_THRESHOLD)
                               if threshold is None else threshold)
        self.states = {f'{n}/{i}': 0.0 for n, _, ifaces in joints for i in ifaces}
        self.command = 0.0
        self.latest = JointState()
        self.written = []
        self.pub = self.create_publisher(JointState, params['joint_commands_topic'],
                                         QoSProfile(depth=1))
        self.create_subscription(JointState, params['joint_states_topic'], self._on_state,
                                 qos_profile_sensor_data)

    def _on_state(self, msg):
        self.latest = msg

    def read(self):
        msg = self.latest
        for i, name in enumerate(msg.name):
            for field, iface in ((msg.position, 'position'), (msg.velocity, 'velocity'),
                                 (msg.effort, 'effort')):
                key = f'{name}/{iface}'
                if field and key in self.states and math.isfinite(field[i]):
                    self.states[key] = field[i]

    def write(self):
        commands = [(n, c) for n, cmds, _ in self.joints for c in cmds]
        diff = sum(abs(self.states[f'{n}/{c}'] - self.command) for n, c in commands)
        if diff <= self.threshold:
            return                       # "to avoid spamming": nothing published
        msg = JointState(name=[n for n, _, _ in self.joints],
                         effort=[self.command for _, c in commands if c == 'effort'])
        msg.header.stamp = self.get_clock().now().to_msg()
        self.pub.publish(msg)
        self.written.append(msg)

    def update(self):
        """One cycle of ros2_control_node: read, (the controller), write."""
        self.read()
        self.write()


@pytest.fixture
def harness():
    h = Harness()
    yield h
    h.close()


def start(h, threshold=None, **plant_params):
    plugin, params, joints, _ = hardware()
    plant = h.add(PlantNode(parameter_overrides=[Parameter(k, value=v)
                                                 for k, v in plant_params.items()]))
    system = h.add(TopicSystem(params, joints, threshold))
    assert h.spin_until(lambda: system.pub.get_subscription_count() > 0
                        and plant.topics.measured_joints._pub.get_subscription_count() > 0)
    return plant, system


def run_cycles(h, system, seconds, until=None, period=0.01):
    """Run the update loop at 1 / period of wall time: ``until`` holds, then ``seconds``."""
    timer = system.create_timer(period, system.update)
    if until is not None:
        assert h.spin_until(until, timeout=5.0)
    h.spin_for(seconds)
    system.destroy_timer(timer)


def failsafe_trips(plant):
    """Return how often the fail-safe tripped in this episode (the node's log counts)."""
    return plant._ros_output.failsafe_trips


def test_shipped_description_configures_the_topic_interface():
    plugin, params, joints, urdf_joints = hardware('/ns')
    assert plugin == 'joint_state_topic_hardware_interface/JointStateTopicSystem'
    assert params['joint_commands_topic'] == '/ns/joint_commands'
    assert params['joint_states_topic'] == '/ns/measured_joint_states'
    assert float(params['trigger_joint_command_threshold']) < 0.0     # write every cycle
    assert [n for n, _, _ in joints] == list(geometry.JOINT_NAMES)
    assert set(geometry.JOINT_NAMES) <= set(urdf_joints)              # dip.urdf's joints
    assert [(n, c) for n, cmds, _ in joints for c in cmds] == [('cart_joint', 'effort')]
    assert all(s == ['position', 'velocity', 'effort'] for _, _, s in joints)
    # Not NaN (ros2_control's default) before a controller commands: see the xacro.
    assert command_initial_values() == {'cart_joint/effort': '0.0'}


def test_a_held_command_lands_saturates_and_never_trips_the_fail_safe(harness):
    plant, system = start(harness, sensor_noise_std=0.0, control_timeout=0.2, max_force=4.0,
                          track_limit=50.0)
    system.command = 3.0
    run_cycles(harness, system, 0.0, until=lambda: system.states['cart_joint/effort'] == 3.0)
    trips, written = failsafe_trips(plant), len(system.written)
    run_cycles(harness, system, 1.0)            # five fail-safe timeouts of a held command
    assert system.states['cart_joint/effort'] == 3.0     # what read() reports back
    assert plant.plant.commanded_force == 3.0
    assert not plant.plant.control_timed_out and failsafe_trips(plant) == trips
    # The shipped threshold (-1): a write every cycle although command == effort.
    assert len(system.written) - written > 50
    system.command = 30.0
    run_cycles(harness, system, 0.3)
    assert system.states['cart_joint/effort'] == 4.0     # saturated at max_force
    assert plant.plant.commanded_force == 4.0
    assert not plant.plant.control_timed_out and failsafe_trips(plant) == trips


def test_the_default_threshold_falls_silent_and_would_trip_the_fail_safe(harness):
    """Why the shipped description sets -1: the interface's default goes quiet."""
    plant, system = start(harness, threshold=DEFAULT_THRESHOLD, sensor_noise_std=0.0,
                          control_timeout=0.2, track_limit=50.0)
    system.command = 3.0
    run_cycles(harness, system, 0.0, until=lambda: system.states['cart_joint/effort'] == 3.0)
    trips, written = failsafe_trips(plant), len(system.written)
    run_cycles(harness, system, 1.0)
    # Quiet while the effort read back matches, so the fail-safe trips every
    # control_timeout; its zero force differs from the command, a write follows.
    assert len(system.written) - written < 20     # of 100 cycles
    assert failsafe_trips(plant) >= trips + 2


def test_lockstep_steps_once_per_written_command(harness):
    plant, system = start(harness, mode='lockstep', sensor_noise_std=0.0)
    system.command = 1.0
    for k in range(1, 21):
        system.update()
        assert harness.spin_until(lambda: plant.plant.total_steps == k, timeout=2.0)
    assert len(system.written) == 20 and plant.plant.commanded_force == 1.0


def test_published_states_parse_as_the_interface_reads_them(harness):
    plant, system = start(harness, mode='lockstep', sensor_noise_std=0.0)
    system.command = 2.0
    for k in range(1, 11):
        system.update()
        assert harness.spin_until(lambda: plant.plant.total_steps == k, timeout=2.0)
    truth = plant.plant.state
    assert harness.spin_until(lambda: list(system.latest.position)[:1] == [truth[0]])
    msg = system.latest
    _, _, joints, urdf_joints = hardware()
    assert list(msg.name) == [n for n, _, _ in joints]
    assert set(msg.name) <= set(urdf_joints)
    assert len(msg.position) == len(msg.velocity) == len(msg.effort) == len(msg.name)
    system.read()
    s = system.states
    assert (s['cart_joint/position'], s['link1_joint/position'],
            s['link2_joint/position']) == pytest.approx(geometry.relative_angles(truth))
    assert (s['cart_joint/velocity'], s['link1_joint/velocity'],
            s['link2_joint/velocity']) == pytest.approx(geometry.relative_rates(truth))
    assert (s['cart_joint/effort'], s['link1_joint/effort']) == (2.0, 0.0)


def test_unknown_joints_warn_once_and_bad_efforts_are_refused(harness):
    plant, system = start(harness, mode='lockstep', sensor_noise_std=0.0)
    warnings = []
    logger = plant.get_logger()

    class Recorder:
        def __getattr__(self, name):
            return getattr(logger, name)

        def warning(self, text, **kwargs):
            warnings.append(text)

    plant.get_logger = Recorder
    names = ['cart_joint', 'link1_joint', 'link2_joint', 'x']
    for msg in (JointState(name=names, effort=[1.0, 0.0, 0.0, 0.0]),
                JointState(name=names, effort=[1.0, 0.0, 0.0, 0.0]),
                JointState(name=names, effort=[math.nan, 0.0, 0.0, 0.0]),
                JointState(name=names, effort=[math.inf]),
                JointState(name=['link1_joint'], effort=[5.0]),     # not the cart
                JointState(name=['cart_joint'])):                    # no effort
        system.pub.publish(msg)
        harness.spin_for(0.1)               # depth 1: one message at a time
    assert plant.plant.total_steps == 2 and plant.plant.commanded_force == 1.0
    assert sum("unknown joint(s) 'x'" in w for w in warnings) == 1
    assert any('non-finite' in w for w in warnings)


def test_a_flood_of_unknown_names_is_one_line_and_a_doubled_cart_is_refused():
    from plant_server_ros.ros.joint_topics import cart_effort, JointCommands

    class Log:
        lines = []

        def warning(self, text, **kwargs):
            self.lines.append(text)

        error = warning

    class FakeNode:
        log = Log()

        def create_subscription(self, *args):
            return None

        def get_logger(self):
            return self.log

    forces = []
    commands = JointCommands(FakeNode(), forces.append)
    flood = ['cart_joint'] + [f'j{k}' for k in range(2000)]
    for _ in range(3):
        commands._on_command(JointState(name=flood, effort=[1.0]))
    assert forces == [1.0, 1.0, 1.0]
    assert len(Log.lines) == 3 and 'and 1995 more' in Log.lines[0]
    assert len(commands._warned) <= 64                # remembered names stay few
    with pytest.raises(ValueError, match='cart_joint is named 2 times'):
        cart_effort(JointState(name=['cart_joint', 'cart_joint'], effort=[1.0, -1.0]))
