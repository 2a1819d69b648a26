"""The reference controller node (``dip_controller``) with the plant node, in one process."""

from _ros_harness import Harness, NodeProcess
import numpy as np
from plant_server_ros.clients import controllers
from plant_server_ros.ros.controller_node import ControllerNode
from plant_server_ros.ros.params import ParameterError
from plant_server_ros.ros.plant_node import PlantNode
import pytest
from rclpy.parameter import Parameter


def overrides(**params):
    return [Parameter(k, value=v) for k, v in params.items()]


@pytest.fixture
def harness():
    h = Harness()
    yield h
    h.close()


def balanced(plant, angle=0.1, cart=0.5):
    """Upright and near the middle (the measurement noise keeps it moving a little)."""
    x, th1, th2 = plant.plant.state[:3]
    return plant.plant.fault is None and abs(th1) < angle and abs(th2) < angle and abs(x) < cart


def test_lqr_balances_the_realtime_plant(harness):
    """The controller as it is deployed: a process of its own (no GIL shared with the plant)."""
    plant = harness.add(PlantNode(namespace='rt_ctl', parameter_overrides=overrides(
        initial_state=[0.05, 0.05, -0.03, 0.0, 0.0, 0.0])))
    controller = NodeProcess('controller_node', '-r', '__ns:=/rt_ctl')
    try:
        controller.wait_for('first state answered', timeout=30.0)
        # The episode starts once the controller answers, as dip_client's RESET.
        episode = plant.plant.episode
        plant.schedule.reset()
        assert harness.spin_until(lambda: plant.plant.episode > episode)
        steps = plant.plant.total_steps
        harness.spin_for(3.0)
        assert plant.plant.fault is None, plant.plant.fault   # e.g. fell, off the track
        assert plant.plant.total_steps - steps > 250          # the plant kept real time
        assert balanced(plant), plant.plant.state
        assert not plant.plant.control_timed_out
    finally:
        code = controller.stop()
    assert code == 0, controller.output
    answered = int(controller.wait_for(r'answered (\d+) states').group(1))
    assert answered > 250                                 # every tick was answered


@pytest.mark.parametrize('use_sim_time', [False, True])
def test_balances_the_lockstep_plant_one_control_per_state(harness, use_sim_time):
    # The plant publishes its first state before the controller listens: the
    # controller's reset brings a first state, then each answer is one step.
    plant = harness.add(PlantNode(parameter_overrides=overrides(
        mode='lockstep', max_steps=500, initial_state=[0.05, 0.05, -0.03, 0.0, 0.0, 0.0])))
    controller = harness.add(ControllerNode(parameter_overrides=overrides(
        use_sim_time=use_sim_time)))
    assert harness.spin_until(plant.finished.is_set, timeout=30.0)
    assert plant.plant.total_steps == 500
    assert controller.answered in (500, 501)     # the last answer finds a finished plant
    assert balanced(plant), plant.plant.state


def test_pd_defaults_to_the_lqr_gains_split():
    h = Harness()
    try:
        lqr = h.add(ControllerNode(node_name='lqr'))
        pd = h.add(ControllerNode(node_name='pd', parameter_overrides=overrides(law='pd')))
        np.testing.assert_array_equal(pd.law.gain, lqr.law.gain)
        np.testing.assert_allclose(lqr.law.gain, controllers.lqr_gain(0.01))
        tuned = h.add(ControllerNode(node_name='tuned', parameter_overrides=overrides(
            law='pd', kp=[1.0, 2.0, 3.0], kd=[4.0, 5.0, 6.0], max_force=7.0)))
        assert list(tuned.law.gain) == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
        assert tuned.law((1.0, 1.0, 1.0, 0.0, 0.0, 0.0)) == -6.0
        assert tuned.law((10.0, 0.0, 0.0, 0.0, 0.0, 0.0)) == -7.0      # saturated
    finally:
        h.close()


@pytest.mark.parametrize('params, word', [
    ({'law': 'mpc'}, 'law'), ({'q': [1.0, 2.0]}, "'q'"), ({'max_force': -1.0}, 'max_force'),
    ({'kp': [1.0]}, 'PD gains'), ({'r': 0.0}, "'r'")])
def test_bad_parameters_are_refused_naming_them(params, word):
    h = Harness()
    try:
        with pytest.raises(ParameterError, match=word):
            ControllerNode(parameter_overrides=overrides(**{'law': 'pd', **params}))
    finally:
        h.close()


def test_dip_controller_exits_2_on_a_bad_parameter():
    node = NodeProcess('controller_node', '-r', '__ns:=/ctl_bad', '-p', 'law:=mpc')
    try:
        node.proc.wait(30)
    finally:
        code = node.stop()
    assert code == 2 and "parameter 'law'" in node.output and 'Traceback' not in node.output
