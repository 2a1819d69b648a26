"""The plant node with real rclpy: topics, service, modes, parameters, exit."""

import math
import socket
import time

from _ros_harness import Harness, NodeProcess
import numpy as np
from plant_server_ros.ros.messages import stamp_ns, state_of
from plant_server_ros.ros.plant_node import PlantNode
import pytest
from rcl_interfaces.srv import SetParameters
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64
from std_srvs.srv import Trigger


class Probe(Node):
    """A controller-side node: records state and ground truth, sends control."""

    def __init__(self, ns='/dip'):
        super().__init__('probe')
        self.states, self.truths = [], []
        self.create_subscription(JointState, f'{ns}/state', self.states.append, 1000)
        self.create_subscription(JointState, f'{ns}/ground_truth', self.truths.append, 1000)
        self.control = self.create_publisher(Float64, f'{ns}/control', 100)
        self.reset = self.create_client(Trigger, f'{ns}/reset')

    def send(self, u):
        self.control.publish(Float64(data=float(u)))


def make_plant(h, **params):
    overrides = [Parameter(k, value=v) for k, v in params.items()]
    return h.add(PlantNode(parameter_overrides=overrides))


@pytest.fixture
def harness():
    h = Harness()
    yield h
    h.close()


def lockstep(h, **params):
    plant = make_plant(h, mode='lockstep', **params)
    probe = h.add(Probe())
    assert h.spin_until(lambda: probe.control.get_subscription_count() > 0
                        and plant.state_pub.get_subscription_count() > 0)
    return plant, probe


def drive(h, probe, forces):
    """Send each force and wait for the state it produced (lock-step)."""
    for u in forces:
        n = len(probe.truths)
        probe.send(u)
        assert h.spin_until(lambda: len(probe.truths) > n and len(probe.states) > n)


@pytest.mark.parametrize('force', [5.0, -5.0])
def test_control_moves_cart_its_way(harness, force):
    plant, probe = lockstep(harness, sensor_noise_std=0.0)
    drive(harness, probe, [force] * 20)
    last = probe.truths[-1]
    assert math.copysign(1.0, last.position[0]) == math.copysign(1.0, force)
    assert math.copysign(1.0, last.velocity[0]) == math.copysign(1.0, force)
    assert last.effort[0] == force
    assert list(last.name) == ['cart_joint', 'link1_joint', 'link2_joint']


def test_noise_statistics_against_ground_truth(harness):
    plant, probe = lockstep(harness, sensor_noise_std=0.05, seed=11)
    drive(harness, probe, [0.0] * 400)
    pairs = {stamp_ns(m.header.stamp): m for m in probe.truths}
    err = np.array([np.subtract(state_of(m), state_of(pairs[stamp_ns(m.header.stamp)]))
                    for m in probe.states])
    assert len(err) >= 400
    assert np.all(np.abs(err.mean(axis=0)) < 0.05 * 4 / math.sqrt(len(err)))
    np.testing.assert_allclose(err.std(axis=0), 0.05, rtol=0.1)


def test_reset_service_returns_to_initial_state_at_t0(harness):
    plant, probe = lockstep(harness, sensor_noise_std=0.0)
    drive(harness, probe, [3.0] * 10)
    assert harness.spin_until(lambda: probe.reset.service_is_ready())
    future = probe.reset.call_async(Trigger.Request())
    assert harness.spin_until(future.done)
    assert future.result().success
    assert harness.spin_until(lambda: state_of(probe.truths[-1]) == plant.plant.initial_state)
    assert plant.plant.time == 0.0


def test_lockstep_stamps_strictly_increase_across_resets(harness):
    plant, probe = lockstep(harness, sensor_noise_std=0.0)
    for _ in range(2):
        drive(harness, probe, [1.0] * 5)
        assert harness.spin_until(lambda: probe.reset.service_is_ready())
        n = len(probe.states)
        future = probe.reset.call_async(Trigger.Request())
        assert harness.spin_until(future.done) and future.result().success
        assert harness.spin_until(lambda: len(probe.states) > n)
    drive(harness, probe, [1.0] * 3)
    stamps = [stamp_ns(m.header.stamp) for m in probe.states]
    assert len(stamps) >= 5 + 1 + 5 + 1 + 3     # the start sample may precede matching
    assert all(b > a for a, b in zip(stamps, stamps[1:])), stamps


# rclpy's own handler warns the talker through the deprecated logger.warn.
@pytest.mark.filterwarnings('ignore:Deprecated in favor of:DeprecationWarning')
def test_a_control_publisher_whose_qos_cannot_match_is_warned_of(harness, capfd):
    plant = make_plant(harness, mode='lockstep')
    talker = harness.add(Node('best_effort_talker'))
    best_effort = QoSProfile(depth=10, reliability=ReliabilityPolicy.BEST_EFFORT)
    talker.create_publisher(Float64, '/dip/control', best_effort)
    seen = ''

    def plant_lines():                      # the talker's own rclpy warns of it too
        return [x for x in seen.splitlines() if '[dip.plant]' in x and 'incompatible' in x]

    def warned():
        nonlocal seen
        seen += capfd.readouterr().err
        return plant_lines()
    assert harness.spin_until(warned, timeout=30.0), seen     # a 1 s graph look, under load
    line = plant_lines()[0]
    assert '/best_effort_talker publishes on /dip/control' in line
    assert 'Best effort publisher and reliable subscription' in line
    assert 'publish reliable, volatile' in line
    assert plant.state_pub is not None      # the plant runs on


def run_lockstep_episode(forces, seed):
    h = Harness()
    try:
        plant, probe = lockstep(h, sensor_noise_std=0.02, seed=seed)
        drive(h, probe, forces)
        return [state_of(m) for m in probe.states[-len(forces):]]
    finally:
        h.close()


def test_lockstep_same_seed_same_controls_bit_identical():
    forces = list(np.sin(np.arange(50) / 5.0) * 4.0)
    first = run_lockstep_episode(forces, seed=5)
    second = run_lockstep_episode(forces, seed=5)
    assert first == second
    assert first != run_lockstep_episode(forces, seed=6)


def test_lockstep_publishes_clock_one_dt_per_control(harness):
    plant, probe = lockstep(harness, sensor_noise_std=0.0, dt=0.02)
    clocks = []
    probe.create_subscription(Clock, '/clock', clocks.append, 100)
    assert harness.spin_until(lambda: plant._clock_pub.get_subscription_count() > 0)
    drive(harness, probe, [0.0] * 5)
    assert harness.spin_until(lambda: len(clocks) >= 5)
    steps = np.diff([stamp_ns(c.clock) for c in clocks[-5:]])
    assert list(steps) == [20_000_000] * 4


def test_fail_safe_zero_force_after_timeout(harness):
    plant = make_plant(harness, sensor_noise_std=0.0, control_timeout=0.1)
    probe = harness.add(Probe())
    assert harness.spin_until(lambda: probe.control.get_subscription_count() > 0)
    probe.send(4.0)
    assert harness.spin_until(lambda: probe.truths and probe.truths[-1].effort[0] == 4.0)
    assert harness.spin_until(lambda: probe.truths[-1].effort[0] == 0.0, timeout=2.0)
    assert plant.plant.control_timed_out


def test_nan_and_inf_never_reach_the_state(harness):
    plant, probe = lockstep(harness, sensor_noise_std=0.0)
    drive(harness, probe, [2.0])
    for bad in (math.nan, math.inf, -math.inf):
        probe.send(bad)
    harness.spin_for(0.3)
    drive(harness, probe, [2.0])
    assert plant.plant.commanded_force == 2.0
    assert all(math.isfinite(v) for m in probe.truths for v in state_of(m))
    assert plant.plant.total_steps == 2   # the rejected messages stepped nothing


def test_bad_parameter_refused_with_reason(harness):
    plant = make_plant(harness, mode='lockstep')
    results = plant.set_parameters([Parameter('max_force', value=-1.0)])
    assert not results[0].successful
    assert 'max_force' in results[0].reason or 'range' in results[0].reason
    results = plant.set_parameters([Parameter('initial_state', value=[0.0] * 5)])
    assert not results[0].successful and '6' in results[0].reason
    results = plant.set_parameters([Parameter('dt', value=0.02)])
    assert not results[0].successful and 'read-only' in results[0].reason
    results = plant.set_parameters([Parameter('max_force', value=5.0)])
    assert results[0].successful and plant.plant.max_force == 5.0


def test_remote_parameter_change_applies(harness):
    plant, probe = lockstep(harness)
    client = probe.create_client(SetParameters, '/dip/plant/set_parameters')
    assert harness.spin_until(client.service_is_ready)
    req = SetParameters.Request(parameters=[Parameter('sensor_noise_std', value=0.0)
                                            .to_parameter_msg()])
    future = client.call_async(req)
    assert harness.spin_until(future.done)
    assert future.result().results[0].successful
    assert plant.plant.sensor_noise_std == 0.0


def exit_of(*ros_args, module='plant_node'):
    """Run a node until it exits by itself; its exit code and output."""
    node = NodeProcess(module, *ros_args)
    try:
        node.proc.wait(15)
    finally:
        code = node.stop()
    return code, node.output


def test_invalid_startup_parameter_exits_with_clear_error():
    code, out = exit_of('-p', 'dt:=5.0')
    assert code == 2
    assert "parameter 'dt'" in out and 'Traceback' not in out


def test_max_steps_exits_cleanly():
    start = time.monotonic()
    code, out = exit_of('-p', 'max_steps:=50', '-p', 'dt:=0.005')
    assert code == 0, out
    assert 'max_steps=50 reached' in out
    assert time.monotonic() - start < 15


def test_bridge_on_a_port_in_use_exits_2_with_one_line():
    taken = socket.socket()
    taken.bind(('127.0.0.1', 0))
    taken.listen(1)
    try:
        code, out = exit_of('-r', '__ns:=/busy_port', '-p', f'port:={taken.getsockname()[1]}',
                            module='bridge_node')
    finally:
        taken.close()
    assert code == 2, out
    assert 'port in use' in out and 'Traceback' not in out


def test_leaving_the_track_stops_publishing_until_reset(harness):
    plant, probe = lockstep(harness, sensor_noise_std=0.0, track_limit=0.01,
                            control_timeout=0.0)
    for _ in range(200):
        n = len(probe.truths)
        probe.send(20.0)
        if not harness.spin_until(lambda: len(probe.truths) > n, timeout=1.0):
            break                                  # the plant stopped publishing
    assert plant.plant.fault is not None and 'track' in plant.plant.fault
    assert all(math.isfinite(v) for m in probe.truths for v in state_of(m))
    n = len(probe.truths)
    probe.send(20.0)
    harness.spin_for(0.3)
    assert len(probe.truths) == n                  # frozen: nothing more published
    future = probe.reset.call_async(Trigger.Request())
    assert harness.spin_until(future.done) and future.result().success
    assert harness.spin_until(lambda: len(probe.truths) > n)
    assert plant.plant.fault is None


def test_diagnostics_say_running_then_halted(harness):
    from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
    plant = harness.add(PlantNode(namespace='diag_ns'))
    probe = harness.add(Node('diagnostics_probe'))
    arrays = []
    probe.create_subscription(DiagnosticArray, '/diagnostics', arrays.append, 10)

    def latest():
        mine = [s for a in arrays for s in a.status if s.name == 'diag_ns/plant']
        return mine[-1] if mine else None

    assert harness.spin_until(lambda: latest() is not None, timeout=5.0)
    status = latest()
    values = {kv.key: kv.value for kv in status.values}
    assert status.level == DiagnosticStatus.OK
    assert values['mode'] == 'realtime' and values['scenario'] == 'default'
    assert float(values['tick_lateness_p99_us']) >= 0.0 and int(values['overruns']) >= 0
    plant.schedule.estop('test')
    arrays.clear()
    assert harness.spin_until(lambda: latest() is not None, timeout=5.0)
    assert latest().level == DiagnosticStatus.ERROR and 'emergency stop' in latest().message


def test_markers_draw_the_ground_truth_they_were_stamped_with(harness):
    from plant_server_ros.physics.geometry import forward_kinematics
    from visualization_msgs.msg import MarkerArray
    plant, probe = lockstep(harness, sensor_noise_std=0.0)
    drawn = []
    probe.create_subscription(MarkerArray, '/dip/markers', drawn.append, 100)
    assert harness.spin_until(lambda: plant.markers_pub.get_subscription_count() > 0)
    drive(harness, probe, [2.0] * 12)
    assert harness.spin_until(lambda: len(drawn) >= 2)
    truths = {stamp_ns(m.header.stamp): state_of(m) for m in probe.truths}
    for array in drawn:
        link2 = next(m for m in array.markers if m.id == 3)
        state = truths[stamp_ns(link2.header.stamp)]
        tip = forward_kinematics(state)['tip']
        assert (link2.points[-1].x, link2.points[-1].z) == pytest.approx(tip, abs=1e-12)


def test_record_parameter_writes_the_episode_as_mcap(tmp_path):
    pytest.importorskip('mcap_ros2', reason='mcap-ros2-support (requirements/record.txt) '
                        'is not installed')
    from plant_server_ros.analysis.export import load_episode
    h = Harness()
    try:
        plant, probe = lockstep(h, sensor_noise_std=0.0, record=str(tmp_path))
        drive(h, probe, [1.0] * 30)
        last = state_of(probe.truths[-1])
    finally:
        h.close()                                   # stops the node: the file is closed
    files = sorted(tmp_path.glob('*.mcap'))
    assert len(files) == 1
    episode = load_episode(files[0])
    assert len(episode['t']) == 31 and tuple(episode['x'][-1]) == last
    assert list(episode['u']) == [1.0] * 30


def test_plant_publishes_tf_where_tf2_msgs_exists(harness):
    tf2 = pytest.importorskip('tf2_msgs.msg', reason='tf2_msgs comes with a ROS 2 '
                              'distribution only (no package registry has it): /tf is off')
    plant, probe = lockstep(harness, sensor_noise_std=0.0)
    frames = []
    probe.create_subscription(tf2.TFMessage, '/tf', frames.append, 100)
    assert harness.spin_until(lambda: plant.tf_pub.get_subscription_count() > 0)
    drive(harness, probe, [1.0] * 10)
    assert harness.spin_until(lambda: frames)
    assert [t.child_frame_id for t in frames[-1].transforms][:3] == ['cart', 'link1', 'link2']


def test_plant_log_changes_severity_without_upsetting_rclpy():
    """Log each severity from a call site of its own (rclpy refuses a site that changes)."""
    import rclpy.logging
    from plant_server_ros.runtime.plant import Plant
    from plant_server_ros.runtime.plant_log import PlantLog
    plant = Plant()
    log = PlantLog(rclpy.logging.get_logger('severity_test'), plant)
    log.on_failsafe(True, False)                 # INFO: nobody has driven the plant yet
    log.on_episode(1)
    log.on_failsafe(True, True)                  # WARN from the same method
    plant.fault_kind = 'scenario_done'
    log.on_halt('scenario complete')             # INFO
    plant.fault_kind = 'halt'
    log.on_halt('cart left the track')           # ERROR
    log.on_late(1, 1, False)                     # DEBUG
    log._late_reported = -1e9
    log.on_late(1, 2, True)                      # WARN


def test_both_nodes_declare_exactly_the_settings_of_the_table(harness):
    from plant_server_ros.ros.bridge_node import BridgeNode
    from plant_server_ros.runtime.settings import of_node
    plant = make_plant(harness)
    bridge = harness.add(BridgeNode(parameter_overrides=[Parameter('port', value=0)]))
    rclpy_own = {'use_sim_time', 'start_type_description_service'}
    for node, extra in ((plant, rclpy_own), (bridge, rclpy_own | {'bound_port'})):
        declared = set(node._parameters)
        assert declared == {s.name for s in of_node(node.get_name())} | extra
        descriptor = node.describe_parameter('max_force' if node is plant else 'port')
        assert descriptor.read_only is (node is bridge)
    # Doubles take integers, arrays of doubles too (a params file's [0, 0, ...]).
    results = plant.set_parameters([Parameter('max_force', value=5),
                                    Parameter('initial_state', value=[0, 0, 0, 0, 0, 0])])
    assert all(r.successful for r in results), [r.reason for r in results]
    assert plant.plant.max_force == 5.0


def test_an_integer_for_a_double_parameter_stays_a_double(harness):
    # ros2 param set /dip/plant max_force 20 sends an integer; -p max_force:=20 and
    # a params file's "max_force: 20" too: the parameter stays a double.
    plant = make_plant(harness, max_force=20, initial_state=[0, 0, 0, 0, 0, 0])
    double, doubles = Parameter.Type.DOUBLE, Parameter.Type.DOUBLE_ARRAY
    assert plant.get_parameter('max_force').type_ == double
    assert plant.get_parameter('initial_state').type_ == doubles
    results = plant.set_parameters([Parameter('max_force', value=15),
                                    Parameter('initial_state', value=[0, 0, 0, 0, 0, 0])])
    assert all(r.successful for r in results), [r.reason for r in results]
    assert plant.get_parameter('max_force').type_ == double
    assert plant.get_parameter('max_force').value == 15.0
    assert plant.get_parameter('initial_state').type_ == doubles
    assert plant.plant.max_force == 15.0
    # Still a number in range, by name.
    refused = plant.set_parameters([Parameter('max_force', value='x')])[0]
    assert not refused.successful and 'max_force' in refused.reason


def test_a_mass_must_be_positive_and_its_descriptor_says_so(harness):
    from plant_server_ros.ros.params import ParameterError
    descriptor = make_plant(harness).describe_parameter('physics.cart_mass')
    assert 'greater than 0' in descriptor.additional_constraints     # ros2 param describe
    for zero in (0, 0.0):
        with pytest.raises(ParameterError, match=r'physics.cart_mass.*\(0, '):
            make_plant(harness, **{'physics.cart_mass': zero})


def test_reset_to_is_matched_by_joint_name(harness):
    from plant_server_ros.ros.messages import target_of
    msg = JointState(name=['link2_joint', 'cart_joint', 'link1_joint'],
                     position=[0.3, 0.1, 0.2], velocity=[0.6, 0.4, 0.5])
    assert target_of(msg) == (0.1, 0.2, 0.3, 0.4, 0.5, 0.6)
    for names in (['cart_joint', 'link1_joint', 'elbow'], ['cart_joint', 'link1_joint']):
        with pytest.raises(ValueError, match='joint names'):
            target_of(JointState(name=names, position=[0.0] * len(names),
                                 velocity=[0.0] * len(names)))
    plant, probe = lockstep(harness, sensor_noise_std=0.0)
    reset_to = probe.create_publisher(JointState, '/dip/reset_to', 10)
    assert harness.spin_until(lambda: reset_to.get_subscription_count() > 0)
    reset_to.publish(msg)
    assert harness.spin_until(lambda: plant.plant.state == (0.1, 0.2, 0.3, 0.4, 0.5, 0.6))


def test_a_request_after_the_bridges_link_closed_is_finished_not_a_crash(harness):
    # dip_hil at max_steps: the bridge closes its link (its subscription is gone)
    # while a client's next CONTROL is on its way; that request must be answered
    # FINISHED, not fail on the destroyed subscription (an RCLError: CI's
    # test_max_steps_ends_the_run_and_clients_get_finished under load).
    from plant_server_ros.legacy.backend import PlantFinished
    from plant_server_ros.ros.plant_link import PlantLink
    node = harness.add(Node('link_closed'))
    link = PlantLink(node)
    link._plant_ready = True            # as after the plant was first seen
    link.close()
    with pytest.raises(PlantFinished, match='shutting down'):
        link.control(0.0)
    with pytest.raises(PlantFinished, match='shutting down'):
        link.reset()


@pytest.mark.parametrize('start_by', ['control', 'reset'])
def test_a_plant_that_waits_for_control_holds_its_initial_state_until_then(harness, start_by):
    # wait_for_control (hil.launch.py controller:=...): the real-time plant publishes
    # its initial state and does not step until the first control (or a reset).
    plant = make_plant(harness, wait_for_control=True, sensor_noise_std=0.0)
    probe = harness.add(Probe())
    assert harness.spin_until(lambda: len(probe.states) >= 20, timeout=30.0)
    assert plant.plant.total_steps == 0 and plant.plant.time == 0.0
    initial = tuple(plant.values['initial_state'])
    assert all(state_of(m) == pytest.approx(initial) for m in probe.states)
    if start_by == 'control':
        assert harness.spin_until(lambda: probe.control.get_subscription_count() > 0)
        probe.send(0.0)
    else:
        assert harness.spin_until(probe.reset.service_is_ready)
        future = probe.reset.call_async(Trigger.Request())
        assert harness.spin_until(future.done) and future.result().success
    assert harness.spin_until(lambda: plant.plant.total_steps > 10, timeout=30.0)
    assert plant.plant.episode == 1           # the held episode, started: not a second one


def test_the_graph_shows_the_plants_control_subscription_on_the_plant(harness):
    # ros2 node info /dip/plant lists /dip/control (it lived on a hidden helper
    # node, _plant_controls, before), in both modes.
    for mode, ns in (('realtime', 'info_rt'), ('lockstep', 'info_ls')):
        harness.add(PlantNode(namespace=ns, parameter_overrides=[
            Parameter('mode', value=mode)]))
    probe = harness.add(Node('graph_probe'))

    def subscriptions(ns):
        return {t for t, _ in probe.get_subscriber_names_and_types_by_node('plant', f'/{ns}')}
    assert harness.spin_until(lambda: all(
        f'/{ns}/control' in subscriptions(ns) for ns in ('info_rt', 'info_ls')), timeout=30.0)
    names = {name for name, _ in probe.get_node_names_and_namespaces()}
    assert not any(name.startswith('_plant') for name in names), names
