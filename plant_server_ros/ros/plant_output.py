"""
The plant node's topics: samples become messages, events the latched episode.

:class:`PlantTopics` holds the publishers (names and QoS from
:mod:`.contract`); :class:`RosOutput` is the host's listener that fills and
publishes them, with everything it needs handed in, not read off the node.
"""

import json

from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import JointState
from std_msgs.msg import Header, String
from visualization_msgs.msg import MarkerArray

from . import contract, visualization
from .joint_topics import MeasuredJointStates
from .messages import joint_state, new_joint_state, time_msg
from ..runtime.plant_log import PlantLog

MARKER_DECIMATION = 5      # every 5th sample drawn for rviz (20 Hz at dt = 10 ms)


class PlantTopics:
    """The plant node's publishers."""

    def __init__(self, node, simulated_clock):
        pub = node.create_publisher
        self.state = pub(JointState, contract.STATE, contract.STATE_QOS)
        self.truth = pub(JointState, contract.GROUND_TRUTH, contract.STATE_QOS)
        self.episode = pub(Header, contract.EPISODE, contract.LATCHED)
        self.episode_info = pub(String, contract.EPISODE_INFO, contract.LATCHED)
        self.events = pub(String, contract.EVENTS, contract.EVENTS_QOS)
        self.markers = pub(MarkerArray, contract.MARKERS, 1)
        self.joint_states = pub(JointState, contract.JOINT_STATES, 10)
        self.measured_joints = MeasuredJointStates(node)     # for ros2_control's read()
        self.tf = None
        try:
            # /tf from the plant itself where tf2_msgs exists (a ROS distribution;
            # no package registry has it): without it, rviz uses the markers.
            from tf2_msgs.msg import TFMessage
            self.tf = pub(TFMessage, contract.TF, 100)
        except ImportError:
            pass
        # A simulated clock (lock-step) is the plant's to advance: /clock.
        self.clock = pub(Clock, contract.CLOCK, 10) if simulated_clock else None
        self._clock_msg = Clock()

    def publishers(self):
        """Return every publisher made here (a managed plant's cleanup destroys them)."""
        return [p for p in (self.state, self.truth, self.episode, self.episode_info,
                            self.events, self.markers, self.joint_states, self.tf, self.clock,
                            self.measured_joints.publisher) if p is not None]

    def publish_clock(self, ns):
        """Advance ``/clock`` to ``ns`` (while anyone listens)."""
        if self.clock is not None and self.clock.get_subscription_count():
            self._clock_msg.clock = time_msg(ns)
            self.clock.publish(self._clock_msg)


class RosOutput(PlantLog):
    """
    The host's listener on the ROS door.

    ``stamp_ns(index)`` gives a sample's stamp; ``view`` is the plant's
    :class:`~..runtime.views.PlantView`; ``on_shutdown`` stops the plant
    when Ctrl-C invalidated the context mid-tick; ``finished`` is set at
    ``max_steps``.
    """

    def __init__(self, log, plant, max_steps, topics, mode, stamp_ns, context, on_shutdown,
                 finished):
        super().__init__(log, plant, max_steps)
        self.topics = topics
        self.view = plant.view
        self.mode = mode
        self.stamp_ns = stamp_ns
        self.context = context
        self.on_shutdown = on_shutdown
        self.finished = finished
        self.episode_ns = 0
        self._state_msg = new_joint_state()
        self._truth_msg = new_joint_state()
        self._truth_wanted = False

    def prepare(self, sample):
        ns = self.stamp_ns(sample.index)
        joint_state(self._state_msg, ns, sample.measured, sample.force)
        # Ground truth costs a fill and a serialisation per period: only for listeners.
        try:
            self._truth_wanted = self.topics.truth.get_subscription_count() > 0
        except Exception:  # noqa: B902 - re-raised unless ROS is shutting down
            self._stop_if_shutting_down()
            self._truth_wanted = False
        if self._truth_wanted:
            joint_state(self._truth_msg, ns, sample.true, sample.force)
        return sample

    def _stop_if_shutting_down(self):
        # Ctrl-C invalidates the context at once, possibly mid-tick.
        if self.context.ok():
            raise
        self.on_shutdown()

    def publish(self, sample):
        topics = self.topics
        try:
            # The measured state goes first: the bridge's reply waits on it.
            topics.state.publish(self._state_msg)
            if self._truth_wanted:
                topics.truth.publish(self._truth_msg)
            self._publish_views(sample, self._state_msg.header.stamp)
        except Exception:  # noqa: B902 - re-raised unless ROS is shutting down
            self._stop_if_shutting_down()

    def _publish_views(self, sample, stamp):
        """Publish what rviz and robot_state_publisher read, while anyone listens."""
        topics = self.topics
        topics.measured_joints.publish(sample, stamp)
        if topics.joint_states.get_subscription_count():
            topics.joint_states.publish(visualization.joint_state_for_urdf(sample.true, stamp))
        if sample.index % MARKER_DECIMATION:
            return
        episode = self.view.episode
        if topics.markers.get_subscription_count():
            topics.markers.publish(visualization.markers(
                sample.true, episode.params, stamp, track_limit=episode.track_limit))
        if topics.tf is not None and topics.tf.get_subscription_count():
            topics.tf.publish(visualization.transforms(sample.true, episode.params, stamp))

    def on_episode(self, index):
        super().on_episode(index)
        self.episode_ns = self.stamp_ns(index)
        self.topics.episode.publish(contract.episode_msg(self.mode, self.episode_ns))
        self.topics.episode_info.publish(
            String(data=json.dumps(self.view.episode.description)))

    def on_event(self, event):
        super().on_event(event)
        self.topics.events.publish(String(data=json.dumps(
            {'t': event.t, 'kind': event.kind, 'detail': event.detail,
             'episode': self.view.episode.number})))

    def on_halt(self, reason):
        super().on_halt(reason)
        self.topics.episode.publish(
            contract.episode_msg(contract.HALTED, self.episode_ns, reason))

    def on_finish(self):
        super().on_finish()
        self.topics.episode.publish(contract.episode_msg(contract.FINISHED, 0))
        self.finished.set()
