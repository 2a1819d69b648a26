"""
The plant <-> bridge contract on the ROS graph: names, QoS, episode vocabulary.

Both nodes import this module and nothing of each other.  Topic names are
relative, so a namespace (``-r __ns:=/dip2``) moves a whole plant.

The latched ``episode`` topic (``std_msgs/Header``) says what the plant is
doing: ``stamp`` is the instant of t = 0 of the current episode, ``frame_id``
one of

- the mode (``realtime`` / ``lockstep``): the episode runs;
- ``halted: <reason>``: the plant stopped (a limit, a non-finite state) and
  waits for a reset, which starts a new episode;
- ``finished``: ``max_steps`` reached, no more samples will come.
"""

from typing import NamedTuple

from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from std_msgs.msg import Header

from .messages import stamp_ns, time_msg

STATE = 'state'                 # sensor_msgs/JointState, plant ->
GROUND_TRUTH = 'ground_truth'   # sensor_msgs/JointState, plant ->
EPISODE = 'episode'             # std_msgs/Header, plant ->, latched
CONTROL = 'control'             # std_msgs/Float64, -> plant
RESET_TO = 'reset_to'           # sensor_msgs/JointState, -> plant
RESET = 'reset'                 # std_srvs/Trigger service
ESTOP = 'estop'                 # std_srvs/Trigger service
DISTURBANCE = 'disturbance'     # std_msgs/Float64MultiArray [F, tau1, tau2], -> plant
EVENTS = 'events'               # std_msgs/String (JSON), plant ->
FAULTS = 'faults'               # std_msgs/String (a fault spec or 'clear'), -> plant
EPISODE_INFO = 'episode_info'   # std_msgs/String (JSON: scenario, parameters), latched
MARKERS = 'markers'             # visualization_msgs/MarkerArray, frame world, for rviz
JOINT_STATES = 'joint_states'   # sensor_msgs/JointState, link 2 relative (URDF chain)
TF = '/tf'                      # tf2_msgs/TFMessage, world -> cart -> link1 -> link2
CLOCK = '/clock'                # rosgraph_msgs/Clock, lock-step only
# ros2_control's topic hardware interface (see .joint_topics):
JOINT_COMMANDS = 'joint_commands'                # sensor_msgs/JointState, -> plant
MEASURED_JOINT_STATES = 'measured_joint_states'  # sensor_msgs/JointState, plant ->

LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL)
# Deep enough that a bridge busy for a moment loses no sample it may need.
STATE_QOS = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
CONTROL_QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
EVENTS_QOS = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
# What JointStateTopicSystem publishes its commands with (rclcpp::QoS(1)):
# reliable, volatile, the latest only.
JOINT_COMMANDS_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE)
# What it subscribes to the states with (rclcpp::SensorDataQoS): best effort,
# depth 5; its read() takes the newest message only.
MEASURED_JOINT_STATES_QOS = QoSProfile(depth=5, reliability=ReliabilityPolicy.BEST_EFFORT)

RUNNING_MODES = ('realtime', 'lockstep')
FINISHED = 'finished'
HALTED = 'halted'


class Episode(NamedTuple):
    """The plant's status as the ``episode`` topic tells it."""

    status: str          # a mode, HALTED or FINISHED
    start_ns: int        # instant of t = 0 of the episode
    reason: str = ''     # why it halted

    @property
    def running(self):
        return self.status in RUNNING_MODES


def episode_msg(status, start_ns, reason=''):
    """Return the ``episode`` message for ``status`` (a mode, HALTED or FINISHED)."""
    frame_id = f'{HALTED}: {reason}' if status == HALTED else status
    return Header(stamp=time_msg(start_ns), frame_id=frame_id)


def parse_episode(msg):
    """Return the :class:`Episode` an ``episode`` message tells."""
    status, _, reason = msg.frame_id.partition(':')
    return Episode(status, stamp_ns(msg.stamp), reason.strip())
