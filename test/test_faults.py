"""
Faults (conditions/faults.py): the exact effect of each, on every door, reproducibly.

Every effect is checked sample by sample in lock-step against what the fault
must produce: the force on the cart (the sample's ``force``, and the state
integrated with it), the measurement, the parameters the dynamics use.
"""

from dataclasses import replace
import json
import math
import re
import socket
import threading

from plant_server_ros import PlantServer
from plant_server_ros.clients.tcp_client import LegacyClient
from plant_server_ros.conditions.faults import Fault, FaultError, FaultSet, from_text, \
    parse_list, parse_live
from plant_server_ros.conditions.scenario import load, Scenario, ScenarioError, ScenarioPlayer
from plant_server_ros.legacy.datagram import decode_state, encode_command
from plant_server_ros.physics.dynamics import DIPDynamics, DIPParams
from plant_server_ros.runtime.host import PlantHost
from plant_server_ros.runtime.lockstep import LockstepSchedule
from plant_server_ros.runtime.plant import Plant
import pytest
import yaml

DT = 0.01
START = (0.0, 0.05, -0.03, 0.0, 0.0, 0.0)


def host_with(faults, seed=1, noise=0.0, recorder=None, **values):
    scenario = {'name': 'faulty', 'seed': seed, 'initial_state': list(START), 'faults': faults}
    host = PlantHost({'mode': 'lockstep', 'sensor_noise_std': noise, 'seed': seed, **values},
                     scenario=scenario, recorder=recorder)
    host.start()
    return host


def run(host, forces):
    return [host.control(u).result(1.0) for u in forces]


def expected_states(forces, params=None, start=START):
    """Return the states the plant must reach under ``forces`` (each held one period)."""
    dynamics = DIPDynamics(params)
    states, state = [], start
    for f in forces:
        state = dynamics.step(state, f, DT)
        states.append(state)
    return states


# -- refusals, by name, where the spec is given -------------------------------------------
@pytest.mark.parametrize('spec, words', [
    ({'kind': 'melt', 'target': 'motor'}, "kind: unknown fault kind 'melt'"),
    ({'kind': 'gain', 'target': 'wheel', 'value': 0.5}, "target: gain cannot target 'wheel'"),
    ({'kind': 'gain', 'target': 'motor', 'value': 1.5}, 'value: a motor gain'),
    ({'kind': 'gain', 'target': 'motor', 'value': -0.1}, 'in [0, 1]'),
    ({'kind': 'loss', 'target': 'motor', 'duration': -1.0}, 'duration: must be > 0'),
    ({'kind': 'loss', 'target': 'motor', 'start': -1.0}, 'start: must be >= 0'),
    ({'kind': 'bias', 'target': 'motor'}, 'value: a bias fault with pattern constant needs it'),
    ({'kind': 'loss', 'target': 'motor', 'pattern': 'ramp', 'over': 1}, 'pattern: loss is on'),
    ({'kind': 'bias', 'target': 'motor', 'value': 1, 'pattern': 'ramp'}, 'over: a bias fault'),
    ({'kind': 'bias', 'target': 'motor', 'value': 1, 'colour': 2}, 'colour: not a key'),
    ({'kind': 'drift', 'target': 'link1_mass', 'value': 0.0}, 'value: link1_mass must be > 0'),
    ({'kind': 'nonfinite', 'target': 'x', 'value': 3}, 'value: a nonfinite channel'),
    ({'kind': 'bias', 'target': 'motor', 'value': 1, 'pattern': 'intermittent', 'on': 0.1,
      'off': [0.3, 0.1]}, 'off: [low, high] needs low <= high'),
    ({'kind': 'spikes', 'target': 'x', 'rate': 0, 'size': 1}, 'rate: must be > 0'),
])
def test_nonsense_is_refused_naming_the_key(spec, words):
    with pytest.raises(FaultError) as err:
        Fault.from_dict(spec)
    assert words in str(err.value)
    assert '\n' not in str(err.value)


def test_a_scenario_file_refuses_a_bad_fault_naming_file_index_and_key(tmp_path):
    path = tmp_path / 'bad.yaml'
    path.write_text(yaml.safe_dump({'faults': [
        {'kind': 'loss', 'target': 'motor'},
        {'kind': 'gain', 'target': 'motor', 'value': 2.0}]}))
    with pytest.raises(ScenarioError) as err:
        load(str(path))
    assert str(path) in str(err.value) and 'faults[1].value' in str(err.value)


def test_a_live_injection_refuses_by_name_and_changes_nothing():
    host = host_with([])
    try:
        with pytest.raises(FaultError, match='duration: must be > 0'):
            host.inject('motor loss for -2s')
        with pytest.raises(FaultError, match='kind: unknown'):
            host.inject({'kind': 'wobble', 'target': 'motor'})
        assert host.plant.faults is None
        assert run(host, [3.0])[0].force == 3.0
    finally:
        host.stop()


def test_text_lines_and_live_messages():
    assert from_text('motor gain 0.5 for 2s') == {'target': 'motor', 'kind': 'gain',
                                                  'value': 0.5, 'duration': 2.0}
    assert from_text('motor loss pattern=intermittent on=0.2 off=0.1..0.5 at 1s') == {
        'target': 'motor', 'kind': 'loss', 'pattern': 'intermittent', 'on': 0.2,
        'off': [0.1, 0.5], 'start': 1.0}
    assert parse_live('clear') == 'clear'
    spec = {'kind': 'loss', 'target': 'motor'}
    assert parse_live(json.dumps(spec)) == spec
    assert parse_live('{kind: freeze, target: x}') == {'kind': 'freeze', 'target': 'x'}
    assert Fault.from_dict(from_text('x nonfinite nan')).value == 'nan'


# -- patterns: pure functions of the time into the fault ----------------------------------
def levels(spec, times, seed=0):
    import random
    faults = FaultSet(parse_list([spec]), DT, random.Random(seed), DIPDynamics())
    return [faults.running[0].level(t) for t in times]


def test_patterns_exactly():
    times = [0.0, 0.5, 1.0, 1.5, 2.0, 3.0]
    base = {'kind': 'bias', 'target': 'motor', 'value': 1.0, 'start': 1.0}
    assert levels(base, times) == [0, 0, 1, 1, 1, 1]
    assert levels({**base, 'duration': 1.0}, times) == [0, 0, 1, 1, 0, 0]
    assert levels({**base, 'pattern': 'ramp', 'over': 2.0}, times) == \
        [0, 0, 0, 0.25, 0.5, 1.0]
    sine = levels({**base, 'pattern': 'sine', 'frequency': 0.5}, times)
    assert sine == pytest.approx([0, 0, 0, 0.5, 1.0, 0.0], abs=1e-12)
    # On [0, 0.5), off [0.5, 1.5), on [1.5, 2.0), off from 2.0 (into the fault).
    assert levels({**base, 'pattern': 'intermittent', 'on': 0.5, 'off': 1.0},
                  [1.0, 1.49, 1.5, 2.49, 2.5, 2.99, 3.0]) == [1, 1, 0, 0, 1, 1, 0]


def test_random_intermittent_durations_are_seeded_and_within_range():
    spec = {'kind': 'loss', 'target': 'motor', 'pattern': 'intermittent', 'on': [0.05, 0.2],
            'off': [0.1, 0.3]}
    times = [k * DT for k in range(500)]
    assert levels(spec, times, seed=3) == levels(spec, times, seed=3)
    assert levels(spec, times, seed=3) != levels(spec, times, seed=4)
    import random
    faults = FaultSet(parse_list([spec]), DT, random.Random(3), DIPDynamics())
    running = faults.running[0]
    running.level(5.0)
    gaps = [b - a for a, b in zip(running.toggles, running.toggles[1:])]
    assert all(0.05 <= g <= 0.2 for g in gaps[0::2]) and all(0.1 <= g <= 0.3 for g in gaps[1::2])


# -- actuator faults: the force of each period, exactly ----------------------------------
def motor(kind, **keys):
    return {'kind': kind, 'target': 'motor', **keys}


@pytest.mark.parametrize('fault, commands, forces', [
    (motor('bias', value=1.5, start=0.02), [2.0] * 4, [2.0, 2.0, 3.5, 3.5]),
    (motor('gain', value=0.5, start=0.01, duration=0.02), [4.0] * 4, [4.0, 2.0, 2.0, 4.0]),
    (motor('stuck', start=0.02), [1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 2.0, 2.0]),
    (motor('loss', start=0.01), [5.0] * 3, [5.0, 0.0, 0.0]),
    (motor('reversed', start=0.0), [5.0, -2.0], [-5.0, 2.0]),
    (motor('overload', limit=5.0, hold=0.03, cooldown=0.02), [8.0] * 10 + [4.0] * 2,
     [8.0, 8.0, 8.0, 0.0, 0.0, 8.0, 8.0, 8.0, 0.0, 0.0, 4.0, 4.0]),
    (motor('loss', pattern='intermittent', on=0.02, off=0.01, start=0.01), [1.0] * 6,
     [1.0, 0.0, 0.0, 1.0, 0.0, 0.0]),
    (motor('gain', value=0.0, pattern='ramp', over=0.04), [4.0] * 5, [4.0, 3.0, 2.0, 1.0, 0.0]),
])
def test_actuator_fault_force_and_state_exactly(fault, commands, forces):
    host = host_with([fault])
    try:
        samples = run(host, commands)
        assert [s.force for s in samples] == forces
        assert [s.true for s in samples] == expected_states(forces)
    finally:
        host.stop()


def test_overload_trips_and_recovers_as_events():
    host = host_with([motor('overload', limit=5.0, hold=0.03, cooldown=0.02)])
    try:
        run(host, [8.0] * 6)
        kinds = [(round(e.t, 6), e.kind) for e in host.events if e.kind.startswith('overload')]
        assert kinds == [(0.03, 'overload_trip'), (0.05, 'overload_recover')]
    finally:
        host.stop()


def test_faults_apply_in_the_order_listed():
    host = host_with([motor('gain', value=0.5), motor('bias', value=1.0)])
    try:
        assert run(host, [4.0])[0].force == 3.0               # 4 * 0.5 + 1
    finally:
        host.stop()


# -- sensor faults: the measurement of each sample, exactly -------------------------------
def channel(kind, target='x', **keys):
    return {'kind': kind, 'target': target, **keys}


def test_sensor_jump_gain_nonfinite_and_freeze_exactly():
    host = host_with([channel('jump', value=0.01, start=0.02),
                      channel('gain', target='theta1', value=1.1, start=0.01, duration=0.02),
                      channel('nonfinite', target='theta2_dot', value='inf', start=0.03),
                      channel('freeze', target='x_dot', start=0.02)])
    try:
        samples = run(host, [2.0] * 5)
        for k, s in enumerate(samples, start=1):
            t = k * DT
            m, true = s.measured, s.true
            assert m[0] == (true[0] + 0.01 if t >= 0.02 - 1e-9 else true[0])
            assert m[1] == (true[1] * 1.1 if 0.01 - 1e-9 <= t < 0.03 - 1e-9 else true[1])
            assert m[2] == true[2] and m[4] == true[4]
            assert (m[5] == math.inf) == (t >= 0.03 - 1e-9)
        assert samples[1].measured[3] == samples[0].measured[3] == samples[0].true[3]
        assert samples[4].measured[3] == samples[0].true[3]       # frozen since 0.02
        assert samples[4].true[3] != samples[0].true[3]
    finally:
        host.stop()


def test_spikes_are_outliers_of_the_given_size_and_seeded():
    spec = [channel('spikes', target='theta1', rate=20.0, size=0.2)]

    def offsets(seed):
        host = host_with(spec, seed=seed)
        try:
            return [s.measured[1] - s.true[1] for s in run(host, [0.0] * 300)]
        finally:
            host.stop()
    first = offsets(5)
    assert first == offsets(5)
    assert first != offsets(6)
    spikes = [o for o in first if o != 0.0]
    assert all(abs(abs(o) - 0.2) < 1e-12 or abs(o) > 0.39 for o in spikes)
    assert 25 <= len(spikes) <= 100        # rate 20/s over 3 s: about 55


def test_a_fault_changes_no_other_stream():
    noisy = {'noise': 0.01}

    def noise(faults):
        host = host_with(faults, seed=7, **noisy)
        try:
            return [tuple(m - t for m, t in zip(s.measured[2:], s.true[2:]))
                    for s in run(host, [0.0] * 50)]
        finally:
            host.stop()
    # Spikes on x draw from their own stream: theta2's noise is the same with them.
    without = noise([])
    with_spikes = noise([channel('spikes', rate=50.0, size=1.0)])
    assert [w[0] for w in without] == pytest.approx([w[0] for w in with_spikes], abs=1e-15)


# -- parameter drift: what the dynamics use, period by period -----------------------------
def test_friction_ramp_and_payload_step_exactly():
    host = host_with([{'kind': 'drift', 'target': 'cart_friction', 'value': 0.6,
                       'pattern': 'ramp', 'over': 0.04},
                      {'kind': 'drift', 'target': 'link2_mass', 'value': 0.3, 'start': 0.02}])
    try:
        used, states = [], []
        for _ in range(6):
            states.append(host.control(1.0).result(1.0).true)
            used.append((host.plant.dynamics.params.cart_friction,
                         host.plant.dynamics.params.link2_mass))
        frictions = [0.2, 0.3, 0.4, 0.5, 0.6, 0.6]
        masses = [0.15, 0.15, 0.3, 0.3, 0.3, 0.3]
        # Flat lists: pytest 9's approx takes no nested tuples.
        assert [v for pair in used for v in pair] == pytest.approx(
            [v for pair in zip(frictions, masses) for v in pair], abs=1e-15)
        state = START
        for k in range(6):
            params = replace(DIPParams(), cart_friction=used[k][0], link2_mass=used[k][1])
            state = DIPDynamics(params).step(state, 1.0, DT)
            assert states[k] == state
        # The episode's own parameters are what its record says, not the drifted ones.
        assert host.plant.describe_episode()['parameters']['cart_friction'] == 0.2
    finally:
        host.stop()


# -- events, live injection, clearing ----------------------------------------------------
def test_scheduled_and_live_faults_are_events_alike():
    host = host_with([motor('gain', value=0.5, start=0.02, duration=0.01),
                      motor('loss', pattern='intermittent', on=0.01, off=0.01, start=0.05)])
    try:
        run(host, [1.0] * 3)
        live = host.inject('motor bias 2 for 0.02s')
        assert live.start == pytest.approx(0.03) and live.live
        samples = run(host, [1.0] * 5)
        assert [s.force for s in samples] == [3.0, 3.0, 0.0, 1.0, 0.0]
        marks = [(round(e.t, 6), e.kind, e.detail.startswith('live:')) for e in host.events
                 if e.kind.startswith('fault')]
        assert marks == [(0.02, 'fault_start', False), (0.03, 'fault_end', False),
                         (0.03, 'fault_start', True), (0.05, 'fault_start', False),
                         (0.05, 'fault_end', True), (0.06, 'fault_off', False),
                         (0.07, 'fault_on', False), (0.08, 'fault_off', False)]
        host.clear_faults()
        assert run(host, [1.0])[0].force == 1.0
        last = host.events[-1]
        assert last.kind == 'fault_end' and last.detail.endswith('(cleared)')
    finally:
        host.stop()


def test_a_reset_ends_live_faults_and_replays_the_scenarios():
    host = host_with([motor('loss', start=0.01)])
    try:
        host.inject({'kind': 'bias', 'target': 'motor', 'value': 1.0})
        assert [s.force for s in run(host, [2.0, 2.0])] == [3.0, 1.0]
        host.reset()
        assert [s.force for s in run(host, [2.0, 2.0])] == [2.0, 0.0]
    finally:
        host.stop()


def test_no_fault_keeps_the_plain_path():
    host = host_with([])
    try:
        assert host.plant.faults is None and host.plant._plain
    finally:
        host.stop()


# -- the doors: PlantServer in-process, TCP, UDP, the live view, ROS ---------------------
SCENARIO = {'name': 'faulty', 'seed': 2, 'initial_state': list(START), 'faults': [
    motor('gain', value=0.5, start=0.02), channel('jump', value=0.01, start=0.05)]}


def door_expectation(n, u=2.0):
    forces = [u * (0.5 if k * DT >= 0.02 - 1e-9 else 1.0) for k in range(n)]
    states = expected_states(forces)
    measured = [tuple(s[0] + 0.01 if (k + 1) * DT >= 0.05 - 1e-9 else s[0] for _ in [0])
                + s[1:] for k, s in enumerate(states)]
    return measured


@pytest.fixture
def faulty_file(tmp_path):
    path = tmp_path / 'faulty.yaml'
    path.write_text(yaml.safe_dump(SCENARIO))
    return path


def serve(**kwargs):
    ready = threading.Event()
    server = PlantServer(bind_addr=('127.0.0.1', 0), server_ready_event=ready, **kwargs)
    thread = threading.Thread(target=server.start)
    thread.start()
    assert ready.wait(10)
    return server, thread


def test_tcp_door_carries_scheduled_and_live_faults(faulty_file):
    server, thread = serve(mode='lockstep', seed=1, sensor_noise_std=0.0,
                           scenario=str(faulty_file))
    try:
        with LegacyClient(port=server.port) as c:
            c.reset()
            got = [c.control(2.0)[0] for _ in range(8)]
            assert got == door_expectation(8)
            server.inject({'kind': 'loss', 'target': 'motor'})      # in-process, live
            before = server.plant.state
            c.control(2.0)
            assert server.plant.state == DIPDynamics().step(before, 0.0, DT)
            server.clear_faults()
            ends = [e for e in server.status()['events'] if e['kind'] == 'fault_end']
            assert len(ends) == 3 and all('cleared' in e['detail'] for e in ends)
            before = server.plant.state
            c.control(2.0)
            assert server.plant.state == DIPDynamics().step(before, 2.0, DT)
    finally:
        server.stop()
        thread.join(10)
        server.close()


def test_udp_door_carries_faults(faulty_file):
    server, thread = serve(mode='lockstep', seed=1, sensor_noise_std=0.0,
                           udp_addr=('127.0.0.1', 0), scenario=str(faulty_file))
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(2.0)
    try:
        sock.connect(('127.0.0.1', server.udp_port))
        got = []
        for seq in range(1, 10):
            sock.send(encode_command(seq, 2.0))
            got.append(decode_state(sock.recv(2048))[1])
        # seq 1 starts the episode: its reply is the first step's, as on TCP.
        assert got[:8] == door_expectation(8)
    finally:
        sock.close()
        server.stop()
        thread.join(10)
        server.close()


def test_live_view_and_dip_fault_inject_on_a_plant_server(capsys):
    pytest.importorskip('websockets')
    from plant_server_ros.clients import fault_cli
    server, thread = serve(mode='lockstep', seed=1, sensor_noise_std=0.0, web=0)
    try:
        port = int(server.web_url.rstrip('/').rsplit(':', 1)[1])
        assert fault_cli.main(['--port', str(port), 'motor', 'gain', '0.25', 'for', '2s']) == 0
        assert 'motor gain 0.25' in capsys.readouterr().out
        assert server.host.control(2.0).result(1.0).force == 0.5
        assert fault_cli.main(['--port', str(port), 'motor', 'gain', '1.5']) == 2
        assert 'value: a motor gain' in capsys.readouterr().err
        reply = fault_cli.send('127.0.0.1', port, {'cmd': 'fault', 'spec': {'kind': 'x'}})
        assert reply['type'] == 'error' and 'kind: unknown' in reply['error']
        assert fault_cli.main(['--port', str(port), 'clear']) == 0
        kinds = [e['kind'] for e in server.status()['events']]
        assert 'fault_start' in kinds and kinds[-1] == 'fault_end'
    finally:
        server.stop()
        thread.join(10)
        server.close()


def test_live_injection_in_real_time_acts_from_the_next_period():
    server, thread = serve(mode='realtime', seed=1, sensor_noise_std=0.0)
    try:
        server.host.control(3.0).result(1.0)
        with server.host.lock:                    # no tick between reading the time and it
            now = server.plant.time
            fault = server.inject('motor loss')
        assert fault.start == pytest.approx(now + DT)       # the next boundary not yet begun
        samples = [server.host.control(3.0).result(1.0) for _ in range(4)]
        # The period under way keeps its force; every period from the fault's start has none.
        assert all(s.force == (0.0 if s.t > fault.start + 1e-9 else 3.0) for s in samples)
        assert samples[-1].force == 0.0
        detail = [e for e in server.status()['events'] if e['kind'] == 'fault_start']
        assert detail and detail[-1]['detail'].startswith('live: motor loss')
    finally:
        server.stop()
        thread.join(10)
        server.close()


def test_ros_door_scenario_faults_and_the_faults_topic(faulty_file):
    harness = pytest.importorskip('_ros_harness')
    from plant_server_ros.ros.messages import state_of
    from plant_server_ros.ros.plant_node import PlantNode
    from rclpy.node import Node
    from rclpy.parameter import Parameter
    from sensor_msgs.msg import JointState
    from std_msgs.msg import Float64, String

    class Probe(Node):
        def __init__(self):
            super().__init__('faults_probe')
            self.states, self.truth, self.events = [], [], []
            self.create_subscription(JointState, '/dip/state', self.states.append, 1000)
            self.create_subscription(JointState, '/dip/ground_truth', self.truth.append, 1000)
            self.create_subscription(String, '/dip/events',
                                     lambda m: self.events.append(json.loads(m.data)), 100)
            self.control = self.create_publisher(Float64, '/dip/control', 100)
            self.faults = self.create_publisher(String, '/dip/faults', 10)

    h = harness.Harness()
    try:
        plant = h.add(PlantNode(parameter_overrides=[
            Parameter('mode', value='lockstep'), Parameter('sensor_noise_std', value=0.0),
            Parameter('scenario', value=str(faulty_file)), Parameter('seed', value=1)]))
        probe = h.add(Probe())
        assert h.spin_until(lambda: probe.control.get_subscription_count() > 0
                            and plant.truth_pub.get_subscription_count() > 0
                            and plant.state_pub.get_subscription_count() > 0
                            and probe.faults.get_subscription_count() > 0)
        h.spin_for(0.2)
        probe.states.clear()
        for _ in range(8):
            n = len(probe.states)
            probe.control.publish(Float64(data=2.0))
            assert h.spin_until(lambda: len(probe.states) > n)
        assert [state_of(m) for m in probe.states] == door_expectation(8)
        probe.faults.publish(String(data='{"kind": "gain", "target": "motor", "value": 3}'))
        assert h.spin_until(lambda: any(e['kind'] == 'fault_refused' for e in probe.events))
        refused = next(e for e in probe.events if e['kind'] == 'fault_refused')
        assert 'value: a motor gain' in refused['detail']
        probe.faults.publish(String(data='motor loss'))
        assert h.spin_until(lambda: any(e['kind'] == 'fault_start' and 'live' in e['detail']
                                        for e in probe.events))
        n = len(probe.truth)
        probe.control.publish(Float64(data=2.0))
        assert h.spin_until(lambda: len(probe.truth) > n)
        assert probe.truth[-1].effort[0] == 0.0
        # The bridge's live view (what dip_fault reaches on the ROS side) sends to the topic.
        from plant_server_ros.ros.live_view_door import BridgeLiveView
        door = BridgeLiveView(h.add(Node('faults_door', namespace='/dip')))
        assert h.spin_until(lambda: door._faults.get_subscription_count() > 0)
        door.clear_faults()
        assert h.spin_until(lambda: any('(cleared)' in e['detail'] for e in probe.events))
        door.fault(Fault.from_dict({'kind': 'bias', 'target': 'motor', 'value': 1.5}))
        assert h.spin_until(lambda: any(e['detail'].startswith('live: motor bias 1.5')
                                        for e in probe.events))
        n = len(probe.truth)
        probe.control.publish(Float64(data=2.0))
        assert h.spin_until(lambda: len(probe.truth) > n)
        assert probe.truth[-1].effort[0] == 2.0 + 1.5   # the clear took the scenario's gain too
    finally:
        h.close()


def test_the_recording_keeps_scheduled_and_live_faults_and_the_faulted_force(tmp_path):
    pytest.importorskip('mcap')
    pytest.importorskip('mcap_ros2')
    from plant_server_ros.analysis.export import load_episode
    from plant_server_ros.observers.recording import Recorder
    host = host_with([motor('gain', value=0.5, start=0.02)], record=str(tmp_path),
                     recorder=Recorder)
    try:
        run(host, [2.0] * 3)
        host.inject('x jump 0.01 for 0.02s')
        run(host, [2.0] * 3)
    finally:
        host.stop()
    files = sorted(tmp_path.glob('*.mcap'))
    assert len(files) == 1
    episode = load_episode(files[0])
    marks = [(round(float(e['t']), 6), e['kind'], e['detail']) for e in episode['events']
             if e['kind'].startswith('fault')]
    assert marks == [(0.02, 'fault_start', 'motor gain 0.5 constant from 0.02 s'),
                     (0.03, 'fault_start', 'live: x jump 0.01 constant from 0.03 s for 0.02 s'),
                     (0.05, 'fault_end', 'live: x jump 0.01 constant from 0.03 s for 0.02 s')]
    assert list(episode['u']) == [2.0, 2.0, 1.0, 1.0, 1.0, 1.0]


def test_a_noise_burst_is_seeded_scaled_by_its_level_and_measured_again_alike():
    spec = [channel('noise', target='theta1', std=0.01, pattern='ramp', over=0.05, start=0.01,
                    duration=0.1)]

    def offsets(seed):
        host = host_with(spec, seed=seed)
        try:
            return [s.measured[1] - s.true[1] for s in run(host, [0.0] * 15)]
        finally:
            host.stop()
    first = offsets(3)
    assert first == offsets(3) and first != offsets(4)
    # Samples at t = 0.01, 0.02, ...: level 0 at the ramp's start, none from 0.11 on.
    assert first[0] == 0.0 and first[10:] == [0.0] * 5
    assert all(o != 0.0 for o in first[1:10])
    # Real time measures a sample ahead and again: the same draw both times.
    host = host_with(spec, seed=3)
    try:
        plant = host.plant
        plant.set_control(0.0)
        plant.step()
        plant.set_control(0.0)
        state, _ = plant.preview()
        once = plant.measure_ahead(state, 0.02, 7)
        assert plant.measure_ahead(state, 0.02, 7) == once
        assert host.status()['faults'] == ['theta1 noise std=0.01 ramp over=0.05 from 0.01 s '
                                           'for 0.1 s']
    finally:
        host.stop()


def test_seeded_patterns_reproduce_bit_for_bit_through_tcp(tmp_path):
    path = tmp_path / 'seeded.yaml'
    path.write_text(yaml.safe_dump({'name': 'seeded', 'seed': 31, 'faults': [
        motor('loss', pattern='intermittent', on=[0.01, 0.03], off=[0.01, 0.05]),
        channel('spikes', target='theta2', rate=30.0, size=0.05),
        channel('noise', target='x', std=0.001, pattern='sine', frequency=2.0)]}))

    def episode():
        server, thread = serve(mode='lockstep', sensor_noise_std=0.0, scenario=str(path))
        try:
            with LegacyClient(port=server.port) as c:
                c.reset()
                return [c.control(1.0)[0] for _ in range(100)], \
                    [e['kind'] for e in server.status()['events']]
        finally:
            server.stop()
            thread.join(10)
            server.close()
    first, kinds = episode()
    assert episode() == (first, kinds)
    assert 'fault_off' in kinds and 'fault_on' in kinds


def test_colcon_installs_dip_fault_and_the_faults_campaign(colcon_install):
    assert (colcon_install / 'lib' / 'plant_server_ros' / 'dip_fault').is_file()
    campaign = colcon_install / 'share' / 'plant_server_ros' / 'config' / 'scenarios' / \
        'faults.yaml'
    names = [s.name for s in load(str(campaign))]
    assert names == ['fault_half_torque', 'fault_encoder_jump', 'fault_rising_friction'] + \
        ['fault_intermittent_motor'] * 3


# -- bounds: one period's work is bounded whatever a spec asks ------------------------------
@pytest.mark.parametrize('line, key', [
    ('x spikes rate=1e9 size=0.01 for 0.1s', 'rate: must be <= 1000'),
    ('motor loss pattern=intermittent on=1e-300 off=1e-300 for 0.001s', 'on: must be >= 0.001'),
    ('motor loss pattern=intermittent on=0.1 off=0.0005..0.2', 'off: must be >= 0.001'),
    ('motor gain 0.5 pattern=sine frequency=1e300', 'frequency: must be <= 10000'),
    ('motor bias 1e300', 'value: must be <= 1e+06'),
    ('x jump 0.01 for 1e300', 'duration: must be <= 1e+09'),
    ('x noise std=1e12', 'std: must be <= 1e+06'),
])
def test_a_spec_beyond_the_bounds_is_refused_by_name(line, key):
    with pytest.raises(FaultError, match=re.escape(key)):
        Fault.from_dict(from_text(line))


def test_a_scenario_with_an_absurd_fault_rate_is_refused_when_loaded():
    with pytest.raises(ScenarioError, match=r'faults\[0\]\.rate: must be <= 1000'):
        Scenario.from_dict({'faults': [{'kind': 'spikes', 'target': 'x', 'rate': 1e12,
                                        'size': 0.1}]})
    with pytest.raises(ScenarioError, match='at most 100 faults'):
        Scenario.from_dict({'faults': [{'kind': 'jump', 'target': 'x', 'value': 0.1}] * 101})


def test_faults_at_the_bounds_keep_a_long_episode_small():
    # The fastest spikes and switching the bounds allow, for 200 s of plant time:
    # what the fault set keeps stays a few entries (no list grows with the episode).
    scene = Scenario.from_dict({'faults': [
        {'kind': 'spikes', 'target': 'theta1', 'rate': 1000.0, 'size': 1e-6},
        {'kind': 'loss', 'target': 'motor', 'pattern': 'intermittent', 'on': 0.001,
         'off': [0.001, 0.002]}]})
    plant = Plant(seed=1, sensor_noise_std=0.0, scenarios=ScenarioPlayer([scene]))
    sched = LockstepSchedule(plant)
    sched.start()
    longest = 0
    for _ in range(20000):
        sched.control(0.0)
        longest = max(longest, *(len(r.toggles) + len(r.arrivals)
                                 for r in plant.faults.running))
    assert plant.time >= 199.9
    assert longest <= 100


def test_live_injections_past_the_bound_are_refused_and_the_plant_goes_on():
    server, thread = serve(mode='lockstep', seed=1, sensor_noise_std=0.0)
    try:
        for _ in range(100):
            server.inject('x jump 0.001')
        with pytest.raises(FaultError, match='at most 100 faults at once'):
            server.inject('x jump 0.001')
        assert server.host.control(1.0).result(1.0).t > 0.0
        server.host.clear_faults()
        server.inject('x jump 0.001')                 # room again
    finally:
        server.stop()
        thread.join(10)
        server.close()


def test_dip_fault_sends_the_token_and_says_in_one_line_why_it_could_not(capsys):
    pytest.importorskip('websockets')
    from plant_server_ros.clients import fault_cli
    server, thread = serve(mode='lockstep', seed=1, sensor_noise_std=0.0, web=0,
                           web_token='sekret')
    try:
        port = server.web.port
        assert fault_cli.main(['--port', str(port), 'x', 'jump', '0.01']) == 1
        assert 'wants its token (--token)' in capsys.readouterr().err
        assert fault_cli.main(['--port', str(port), '--token', 'no', 'x', 'jump', '0.01']) == 1
        assert 'token is wrong' in capsys.readouterr().err
        assert fault_cli.main(['--port', str(port), '--token', 'sekret', 'x', 'jump',
                               '0.01']) == 0
        assert 'x jump 0.01' in capsys.readouterr().out
        assert fault_cli.main(['--port', str(server.port), 'clear']) == 1   # the TCP door
        err = capsys.readouterr().err
        assert err.count('\n') == 1 and 'does not speak the live view' in err
        with pytest.raises(SystemExit) as exit_:
            fault_cli.main(['--port', '70000', 'clear'])
        assert exit_.value.code == 2
        assert 'must be in [0, 65535]' in capsys.readouterr().err
    finally:
        server.stop()
        thread.join(10)
        server.close()
