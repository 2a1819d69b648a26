"""The managed plant node: configure, activate, deactivate, cleanup, as ros2 lifecycle does."""

import time

from _ros_harness import Harness, NodeProcess
from lifecycle_msgs.msg import State, Transition
from lifecycle_msgs.srv import ChangeState, GetState
from plant_server_ros.ros import contract
from plant_server_ros.ros.managed_plant_node import INACTIVE, ManagedPlantNode
import pytest
from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import JointState
from std_msgs.msg import Header


class Lifecycle(Node):
    """What ``ros2 lifecycle get/set`` does: the node's lifecycle services."""

    def __init__(self, target='/dip/plant'):
        super().__init__('lifecycle_probe')
        self.change = self.create_client(ChangeState, f'{target}/change_state')
        self.get = self.create_client(GetState, f'{target}/get_state')
        self.states, self.episodes = [], []
        self.create_subscription(JointState, '/dip/state', self.states.append, 1000)
        self.create_subscription(Header, '/dip/episode', self.episodes.append,
                                 contract.LATCHED)


@pytest.fixture
def harness():
    h = Harness()
    yield h
    h.close()


def call(h, client, request):
    assert h.spin_until(client.service_is_ready)
    future = client.call_async(request)
    assert h.spin_until(future.done)
    return future.result()


def transition(h, probe, transition_id):
    return call(h, probe.change, ChangeState.Request(
        transition=Transition(id=transition_id))).success


def state_of(h, probe):
    return call(h, probe.get, GetState.Request()).current_state.id


def test_the_managed_plant_steps_only_while_active(harness):
    plant = harness.add(ManagedPlantNode(parameter_overrides=[
        Parameter('sensor_noise_std', value=0.0)]))
    probe = harness.add(Lifecycle())
    assert state_of(harness, probe) == State.PRIMARY_STATE_UNCONFIGURED
    assert plant.host is None                       # nothing built before configure

    assert transition(harness, probe, Transition.TRANSITION_CONFIGURE)
    assert state_of(harness, probe) == State.PRIMARY_STATE_INACTIVE
    assert plant.host is not None
    harness.spin_for(0.3)
    assert probe.states == []                       # configured, not stepping

    assert transition(harness, probe, Transition.TRANSITION_ACTIVATE)
    assert harness.spin_until(lambda: len(probe.states) > 20)

    assert transition(harness, probe, Transition.TRANSITION_DEACTIVATE)
    frozen = plant.plant.state
    harness.spin_for(0.2)
    count = len(probe.states)
    harness.spin_for(0.3)
    assert len(probe.states) == count and plant.plant.state == frozen
    assert harness.spin_until(lambda: probe.episodes and
                              contract.parse_episode(probe.episodes[-1]).reason == INACTIVE)

    assert transition(harness, probe, Transition.TRANSITION_ACTIVATE)   # a new episode
    assert harness.spin_until(lambda: len(probe.states) > count + 10)
    assert contract.parse_episode(probe.episodes[-1]).status == 'realtime'

    assert transition(harness, probe, Transition.TRANSITION_DEACTIVATE)
    assert transition(harness, probe, Transition.TRANSITION_CLEANUP)
    assert state_of(harness, probe) == State.PRIMARY_STATE_UNCONFIGURED
    assert plant.host is None and plant.topics is None
    assert plant.count_publishers('/dip/state') == 0      # released


def test_a_bad_parameter_fails_configure_and_leaves_it_unconfigured(harness):
    harness.add(ManagedPlantNode(parameter_overrides=[
        Parameter('initial_state', value=[5.0, 0.0, 0.0, 0.0, 0.0, 0.0])]))
    probe = harness.add(Lifecycle())
    assert not transition(harness, probe, Transition.TRANSITION_CONFIGURE)
    assert state_of(harness, probe) == State.PRIMARY_STATE_UNCONFIGURED


def test_plant_node_managed_starts_unconfigured_and_exits_cleanly():
    proc = NodeProcess('plant_node', '-p', 'mode:=lockstep', args=['--managed'])
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and proc.proc.poll() is None and \
                not any('plant up' in line for line in proc.lines):
            time.sleep(0.05)
        assert proc.proc.poll() is None, proc.output        # waiting for configure
        assert not any('plant up' in line for line in proc.lines)
    finally:
        assert proc.stop() == 0, proc.output


def test_configure_again_after_cleanup_keeps_the_parameters_set_meanwhile(harness):
    plant = harness.add(ManagedPlantNode(parameter_overrides=[
        Parameter('sensor_noise_std', value=0.0)]))
    probe = harness.add(Lifecycle())
    assert transition(harness, probe, Transition.TRANSITION_CONFIGURE)
    assert transition(harness, probe, Transition.TRANSITION_ACTIVATE)
    assert plant.set_parameters([Parameter('max_force', value=5.0)])[0].successful
    assert transition(harness, probe, Transition.TRANSITION_DEACTIVATE)
    assert transition(harness, probe, Transition.TRANSITION_ACTIVATE)   # a host built anew
    assert plant.plant.max_force == 5.0
    assert transition(harness, probe, Transition.TRANSITION_DEACTIVATE)
    assert transition(harness, probe, Transition.TRANSITION_CLEANUP)
    assert transition(harness, probe, Transition.TRANSITION_CONFIGURE)  # declared once
    assert plant.plant.max_force == 5.0
    assert transition(harness, probe, Transition.TRANSITION_CLEANUP)
