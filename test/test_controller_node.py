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


def test_swingup_law_swings_the_lockstep_plant_up_from_hanging(harness):
    """law:=swingup from hanging at rest, on the swing-up rig's 30 N and +-1 m, lock-step."""
    import math
    from plant_server_ros.physics.state import wrap_angle
    plant = harness.add(PlantNode(parameter_overrides=overrides(
        mode='lockstep', max_steps=600, max_force=30.0, track_limit=1.0,
        initial_state=[0.0, math.pi, math.pi, 0.0, 0.0, 0.0])))
    controller = harness.add(ControllerNode(parameter_overrides=overrides(
        law='swingup', estimator='none', max_force=30.0)))
    assert harness.spin_until(plant.finished.is_set, timeout=60.0)
    assert plant.plant.fault is None, plant.plant.fault
    x, th1, th2 = plant.plant.state[:3]
    assert abs(wrap_angle(th1)) < 0.1 and abs(wrap_angle(th2)) < 0.1, plant.plant.state
    assert controller.answered >= 600


def test_swingup_law_refuses_the_upright_kalman_filter_by_name():
    h = Harness()
    try:
        with pytest.raises(ParameterError, match='estimator:=none'):
            ControllerNode(parameter_overrides=overrides(law='swingup'))
    finally:
        h.close()


def test_pd_defaults_to_the_lqr_gains_split():
    h = Harness()
    try:
        lqr = h.add(ControllerNode(node_name='lqr'))
        pd = h.add(ControllerNode(node_name='pd', parameter_overrides=overrides(law='pd')))
        np.testing.assert_array_equal(pd.law.gain, lqr.law.gain)
        np.testing.assert_allclose(lqr.law.gain, controllers.lqr_gain(0.01))
        tuned = h.add(ControllerNode(node_name='tuned', parameter_overrides=overrides(
            law='pd', kp=[1.0, 2.0, 3.0], kd=[4.0, 5.0, 6.0], max_force=7.0,
            estimator='none')))
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


class _Watcher:
    """Keep what a plant publishes: ground truth, the applied force, the episode."""

    def __init__(self, harness, ns):
        from rclpy.node import Node
        from plant_server_ros.ros import contract
        from sensor_msgs.msg import JointState
        from std_msgs.msg import Header
        self.node = harness.add(Node('balance_watcher'))
        self.truth, self.forces, self.episodes = [], [], []
        self.node.create_subscription(JointState, f'{ns}/ground_truth',
                                      lambda m: self.truth.append(tuple(m.position)), 100)
        self.node.create_subscription(JointState, f'{ns}/state',
                                      lambda m: self.forces.append(m.effort[0]), 100)
        self.node.create_subscription(
            Header, f'{ns}/episode', lambda m: self.episodes.append(contract.parse_episode(m)),
            contract.LATCHED)


def test_the_controller_balances_a_plant_from_its_start_without_saturating_at_rest(harness):
    # As hil.launch.py controller:=lqr starts them (processes, the plant first,
    # with wait_for_control), without launch: the plant holds its initial state
    # until the controller's first control, so however long the controller takes
    # to come up, the episode starts balanced; at rest the filtered LQR stays far
    # from max_force (the raw sensor noise through the gains is about 5 N mean).
    plant = NodeProcess('plant_node', '-r', '__ns:=/from_start', '-p', 'wait_for_control:=true')
    controller = None
    try:
        watcher = _Watcher(harness, '/from_start')
        plant.wait_for('plant up.*holding the initial state', timeout=60.0)
        controller = NodeProcess('controller_node', '-r', '__ns:=/from_start')
        controller.wait_for('first state answered', timeout=60.0)
        plant.wait_for(r'first control .*: the episode starts', timeout=30.0)
        assert harness.spin_until(lambda: len(watcher.forces) > 400, timeout=60.0)
        truth, forces = list(watcher.truth), list(watcher.forces)
        assert not any(e.status == 'halted' for e in watcher.episodes), watcher.episodes
        x, th1, th2 = truth[-1][:3]
        assert abs(th1) < 0.05 and abs(th2) < 0.05 and abs(x) < 0.5, truth[-1]
        rest = np.abs(forces[-200:])                  # the last 2 s of plant time
        assert rest.mean() < 2.5 and rest.max() < 0.75 * 20.0, (rest.mean(), rest.max())
        assert 'episode 2' not in plant.output, plant.output     # one episode, never halted
    finally:
        codes = [p.stop() for p in (controller, plant) if p is not None]
    assert codes == [0] * len(codes), plant.output


@pytest.mark.parametrize('delay', [0, 2])
def test_the_filtered_lqr_is_quiet_at_rest_and_keeps_the_delay_margin(delay):
    # Lock-step, the control acting ``delay`` periods late: the filter predicts with
    # the force the plant reports it applied, so it rides out the steady
    # two-period latency the raw LQR rides out (predicting with the force it
    # sent, it fell), at a fraction of the raw LQR's force noise at rest.
    from plant_server_ros.ros.controller_node import Filtered, KalmanFilter
    from plant_server_ros.runtime.host import PlantHost
    rest = {}
    for name in ('raw', 'filtered'):
        forces = []
        for seed in range(3):
            host = PlantHost({'mode': 'lockstep', 'sensor_noise_std': 0.01, 'seed': seed})
            host.start()
            law = controllers.lqr(0.01, max_force=20.0)
            if name == 'filtered':
                law = Filtered(law, KalmanFilter(0.01, 0.01, 1e-6))
            sample, queue = host.schedule.last_sample, [0.0] * delay
            for step in range(1000):
                u = law(sample.measured, sample.force) if name == 'filtered' else \
                    law(sample.measured)
                queue.append(u)
                sample = host.control(queue.pop(0)).result()     # raises if it fell
                if step >= 500:
                    forces.append(abs(u))
            host.stop()
        rest[name] = np.mean(forces)
    assert rest['filtered'] < 0.4 * rest['raw'], rest
