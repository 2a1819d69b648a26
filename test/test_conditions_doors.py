"""
Test conditions through every door: ROS topics, the bridge's TCP and UDP, PlantServer.

The models themselves are tested on their own (test_sensors, test_actuator,
test_disturbances) and inside the plant (test_conditions); here each door
must carry them: a scenario set where that door sets it, a live push, an
emergency stop, the events and the episode record, the network emulation.
"""

import json
import math
import socket
import threading

from _ros_harness import bridge_port, Harness, NodeProcess, wait_until_served
from plant_server_ros import PlantServer
from plant_server_ros.clients.tcp_client import LegacyClient
from plant_server_ros.legacy.datagram import decode_state, encode_command
from plant_server_ros.legacy.protocol import ErrorCode, ProtocolError
from plant_server_ros.physics.dynamics import DIPDynamics
from plant_server_ros.ros.plant_node import PlantNode
import pytest
from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64, Float64MultiArray, String
from std_srvs.srv import Trigger
import yaml

PUSH = {'name': 'push', 'seed': 4, 'duration': 5.0,
        'disturbances': [{'kind': 'pulse', 'channel': 'force', 'amplitude': 10.0,
                          'start': 0.05, 'duration': 0.02}]}


@pytest.fixture
def scenario_file(tmp_path):
    path = tmp_path / 'push.yaml'
    path.write_text(yaml.safe_dump(PUSH))
    return path


# -- the ROS topics door -----------------------------------------------------------------
class Probe(Node):
    """Records state, events and the episode record; sends control and pushes."""

    def __init__(self, ns='/dip'):
        super().__init__('conditions_probe')
        self.states, self.events, self.infos = [], [], []
        self.create_subscription(JointState, f'{ns}/ground_truth', self.states.append, 1000)
        self.create_subscription(String, f'{ns}/events',
                                 lambda m: self.events.append(json.loads(m.data)), 100)
        from plant_server_ros.ros.contract import LATCHED
        self.create_subscription(String, f'{ns}/episode_info',
                                 lambda m: self.infos.append(json.loads(m.data)), LATCHED)
        self.control = self.create_publisher(Float64, f'{ns}/control', 100)
        self.push = self.create_publisher(Float64MultiArray, f'{ns}/disturbance', 10)
        self.estop = self.create_client(Trigger, f'{ns}/estop')


def drive(h, probe, forces):
    for u in forces:
        n = len(probe.states)
        probe.control.publish(Float64(data=float(u)))
        assert h.spin_until(lambda: len(probe.states) > n)


def test_ros_door_scenario_events_push_and_estop(scenario_file):
    h = Harness()
    try:
        plant = h.add(PlantNode(parameter_overrides=[
            Parameter('mode', value='lockstep'), Parameter('sensor_noise_std', value=0.0),
            Parameter('scenario', value=str(scenario_file)), Parameter('seed', value=1)]))
        probe = h.add(Probe())
        assert h.spin_until(lambda: probe.control.get_subscription_count() > 0
                            and plant.truth_pub.get_subscription_count() > 0
                            and probe.push.get_subscription_count() > 0)
        assert h.spin_until(lambda: probe.infos)          # latched: there from the start
        assert probe.infos[-1]['scenario']['name'] == 'push'
        drive(h, probe, [0.0] * 10)
        assert h.spin_until(lambda: {'disturbance_start', 'disturbance_end'}
                            <= {e['kind'] for e in probe.events})
        start = next(e for e in probe.events if e['kind'] == 'disturbance_start')
        assert start['t'] == pytest.approx(0.05)
        # A live push over the topic acts from the next step on, over whole periods.
        before = plant.plant.state
        probe.push.publish(Float64MultiArray(data=[3.0, 0.0, 0.0]))
        assert h.spin_until(lambda: plant.plant.live_disturbance == (3.0, 0.0, 0.0))
        drive(h, probe, [0.0])
        expected = DIPDynamics().step(before, 0.0, 0.01, (3.0, 0.0, 0.0))
        assert plant.plant.state == pytest.approx(expected, abs=1e-12)
        assert h.spin_until(lambda: any(e['kind'] == 'disturbance' for e in probe.events))
        # A bad push is refused, nothing changes.
        probe.push.publish(Float64MultiArray(data=[1.0, 2.0]))
        h.spin_for(0.2)
        assert plant.plant.live_disturbance == (3.0, 0.0, 0.0)
        # The emergency stop halts at once, with no force; the events say so.
        assert h.spin_until(probe.estop.service_is_ready)
        future = probe.estop.call_async(Trigger.Request())
        assert h.spin_until(future.done) and future.result().success
        assert 'emergency stop' in future.result().message
        assert plant.plant.fault is not None and plant.plant.last_applied_force == 0.0
        assert h.spin_until(lambda: any(e['kind'] == 'estop' for e in probe.events))
    finally:
        h.close()


# -- the bridge: TCP and UDP through the ROS nodes ---------------------------------------
def test_bridge_door_scenario_network_and_halt(tmp_path):
    scenario = dict(PUSH, network={'latency_ms': 15.0, 'jitter_ms': 5.0},
                    safety={'fall_angle': 0.3})
    path = tmp_path / 'net.yaml'
    path.write_text(yaml.safe_dump(scenario))
    plant = NodeProcess('plant_node', '-r', '__ns:=/cond_br', '-p', 'mode:=lockstep',
                        '-p', f'scenario:={path}', '-p', 'sensor_noise_std:=0.0')
    bridge = NodeProcess('bridge_node', '-r', '__ns:=/cond_br', '-p', 'port:=0')
    try:
        port = bridge_port(bridge)
        wait_until_served(port)
        bridge.wait_for('network of scenario push')
        with LegacyClient(port=port) as c:
            c.reset()
            for _ in range(10):
                c.control(0.0)
            # 15 ms fixed + uniform [0, 10] ms: every reply at least 15 ms late, not all alike.
            assert min(c.round_trips[1:]) >= 0.015
            assert max(c.round_trips[1:]) - min(c.round_trips[1:]) > 0.001
            with pytest.raises(ProtocolError) as err:      # the fall angle halts the plant
                for _ in range(300):
                    c.control(20.0)
            assert err.value.code is ErrorCode.HALTED
        assert 'pendulum fell' in plant.wait_for('plant stopped: pendulum fell').group(0)
    finally:
        assert bridge.stop() == 0
        assert plant.stop() == 0


# -- the ROS-free door: PlantServer over TCP and UDP --------------------------------------
def serve(**kwargs):
    ready = threading.Event()
    server = PlantServer(bind_addr=('127.0.0.1', 0), server_ready_event=ready, **kwargs)
    thread = threading.Thread(target=server.start)
    thread.start()
    assert ready.wait(10)
    return server, thread


def test_plant_server_door_push_estop_and_events(scenario_file):
    server, thread = serve(mode='lockstep', seed=1, sensor_noise_std=0.0,
                           scenario=str(scenario_file))
    try:
        with LegacyClient(port=server.port) as c:
            state, _ = c.reset()
            for _ in range(10):
                state, t = c.control(0.0)
            kinds = [e['kind'] for e in server.status()['events']]
            assert 'disturbance_start' in kinds and 'disturbance_end' in kinds
            assert server.status()['episode']['scenario']['name'] == 'push'
            before = server.plant.state
            server.set_disturbance(0.0, 0.2, 0.0)          # a torque at joint 1
            after, _ = c.control(0.0)
            expected = DIPDynamics().step(before, 0.0, 0.01, (0.0, 0.2, 0.0))
            assert after == pytest.approx(expected, abs=1e-12)
            server.estop()
            with pytest.raises(ProtocolError) as err:
                c.control(0.0)
            assert err.value.code is ErrorCode.HALTED
        with LegacyClient(port=server.port) as c:           # a RESET starts anew
            _, t = c.reset()
            assert t == 0.0 and server.status()['state'] == 'running'
            assert server.plant.live_disturbance == (0.0, 0.0, 0.0)
    finally:
        server.stop()
        thread.join(10)
        server.close()


def test_plant_server_udp_loss_and_corruption_are_counted(tmp_path):
    path = tmp_path / 'lossy.yaml'
    path.write_text(yaml.safe_dump({'name': 'lossy', 'seed': 9,
                                    'network': {'loss': 0.2, 'corruption': 0.2}}))
    server, thread = serve(mode='lockstep', seed=1, udp_addr=('127.0.0.1', 0),
                           scenario=str(path))
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(0.05)
    answered = bad = 0
    try:
        sock.connect(('127.0.0.1', server.udp_port))
        for seq in range(1, 201):
            sock.send(encode_command(seq, 0.0))
            try:
                decode_state(sock.recv(2048))
                answered += 1
            except socket.timeout:
                pass
            except ValueError:
                bad += 1                                 # a flipped bit: the checksum says so
        counters = server.status()['udp_counters']
    finally:
        sock.close()
        server.stop()
        thread.join(10)
        server.close()
    assert counters['lost'] + counters['corrupted'] + answered >= 195
    assert counters['lost'] == pytest.approx(40, abs=20)
    assert counters['corrupted'] == pytest.approx(0.2 * (200 - counters['lost']), abs=20)
    assert bad == counters['corrupted'] and answered == 200 - counters['lost'] - bad
    assert math.isclose(counters['accepted'], 200)
