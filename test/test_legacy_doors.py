"""
The legacy TCP protocol end to end, through both doors, as a legacy client sees it.

Door ``bridge``: plant and bridge nodes as separate processes.  Door
``plant_server``: the ROS-free ``PlantServer`` in this process.  Every
behaviour test runs against both, so they answer byte for byte alike.
Every bad-input case runs against the live door and then checks that it
still serves a full controller session, and (for the hostile connections
that arrive while a controller runs) that the controller saw each of its
requests answered in order.
"""

import logging
import math
import os
import random
import socket
import struct
import threading
import time

from _frames import frame
from _ros_harness import bridge_port, Harness, NodeProcess, wait_until_served
import numpy as np
from plant_server_ros import PlantServer
from plant_server_ros.clients import cli as client_cli, controllers
from plant_server_ros.clients.tcp_client import LegacyClient
from plant_server_ros.legacy.protocol import (encode_control, encode_reset, ErrorCode,
                                              FRAME_SIZE, parse_reply, ProtocolError)
import pytest
from rcl_interfaces.srv import SetParameters
from rclpy.node import Node
from rclpy.parameter import Parameter

IDLE_TIMEOUT = 1.0
INITIAL = (0.0, 0.05, -0.03, 0.0, 0.0, 0.0)


def start_pair(mode, namespace):
    plant = NodeProcess('plant_node', '-r', f'__ns:={namespace}', '-p', f'mode:={mode}',
                        '-p', 'seed:=3', '-p', 'sensor_noise_std:=0.01')
    bridge = NodeProcess('bridge_node', '-r', f'__ns:={namespace}', '-p', 'port:=0',
                         '-p', f'idle_timeout:={IDLE_TIMEOUT}', '-p', 'reply_timeout:=2.0')
    try:
        port = bridge_port(bridge)
        wait_until_served(port)
    except BaseException:
        bridge.stop()
        plant.stop()
        raise
    return plant, bridge, port


DOORS = {}   # port -> what serves it (a bridge process or a PlantServer)


def running_pair(mode, namespace):
    """Yield the port of a running plant + bridge; both must then exit cleanly."""
    plant, bridge, port = start_pair(mode, namespace)
    DOORS[port] = bridge
    yield port
    assert bridge.stop() == 0, bridge.output
    assert plant.stop() == 0, plant.output


class LogLines(logging.Handler):
    """Keep a PlantServer's log lines, as a bridge process's output is kept."""

    def __init__(self):
        super().__init__()
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())

    @property
    def output(self):
        return '\n'.join(self.lines)


def running_server(mode):
    """Yield the port of a running PlantServer (same settings as the pair)."""
    log = logging.getLogger(f'test.plant_server.{mode}')
    lines = LogLines()
    log.addHandler(lines)
    ready = threading.Event()
    server = PlantServer(bind_addr=('127.0.0.1', 0), mode=mode, seed=3,
                         sensor_noise_std=0.01, idle_timeout=IDLE_TIMEOUT,
                         server_ready_event=ready, log=log)
    server.output = lines
    thread = threading.Thread(target=server.start)
    thread.start()
    assert ready.wait(10)
    DOORS[server.port] = server
    yield server.port
    server.stop()
    thread.join(10)
    server.close()
    log.removeHandler(lines)
    assert not thread.is_alive()


def door_output(port):
    door = DOORS[port]
    return door.output.output if isinstance(door, PlantServer) else door.output


@pytest.fixture(scope='module', params=['bridge', 'plant_server'])
def lockstep_pair(request):
    if request.param == 'bridge':
        yield from running_pair('lockstep', '/e2e_ls')
    else:
        yield from running_server('lockstep')


def args_for(port, *extra):
    return client_cli.build_parser().parse_args(['--port', str(port), *extra])


def assert_serves(port, steps=200):
    """Check that a fresh client resets and balances for ``steps`` periods."""
    code, summary = client_cli.run(args_for(port, '--steps', str(steps)))
    assert code == 0 and summary['steps'] == steps


def raw_connect(port):
    sock = socket.create_connection(('127.0.0.1', port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def read_error(sock):
    """Read one frame, which must be an ERROR, then EOF; return its code."""
    buf = b''
    while len(buf) < FRAME_SIZE:
        chunk = sock.recv(FRAME_SIZE - len(buf))
        assert chunk, 'connection closed without an ERROR frame'
        buf += chunk
    with pytest.raises(ProtocolError) as err:
        parse_reply(buf)
    assert sock.recv(1) == b'', 'the server must close after ERROR'
    sock.close()
    return err.value.code


# -- behaviour -------------------------------------------------------------------
def test_balances_10_s_lockstep_with_noise(lockstep_pair):
    code, s = client_cli.run(args_for(lockstep_pair, '--seconds', '10'))
    assert code == 0
    assert s['steps'] == 1000 and s['final_t'] == pytest.approx(10.0)
    assert s['max_abs_theta1'] < 0.3 and s['max_abs_theta2'] < 0.3


def test_reset_to_configured_and_given_state(lockstep_pair):
    with LegacyClient(port=lockstep_pair) as c:
        c.control(3.0)
        state, t = c.reset()
        assert t == 0.0
        np.testing.assert_allclose(state, INITIAL, atol=0.06)   # noise std 0.01
        state, t = c.control(0.0)
        assert t == pytest.approx(0.01)
        given = (0.1, 0.2, -0.1, 0.0, 0.0, 0.0)
        state, t = c.reset(given)
        assert t == 0.0
        np.testing.assert_allclose(state, given, atol=0.06)


def test_second_client_busy_first_undisturbed(lockstep_pair):
    with LegacyClient(port=lockstep_pair) as first:
        first.reset()
        for _ in range(10):
            first.control(0.0)
        assert read_error(raw_connect(lockstep_pair)) is ErrorCode.BUSY
        ts = [first.control(0.0)[1] for _ in range(10)]
        np.testing.assert_allclose(np.diff(ts), 0.01, atol=1e-9)


def test_ten_thousand_requests_answered_once_in_order(lockstep_pair):
    controller = controllers.lqr(0.01)
    with LegacyClient(port=lockstep_pair) as c:
        state, t = c.reset()
        times = [t]
        for i in range(10_000):
            state, t = c.control(controller(state), client_time=float(i))
            times.append(t)
        steps = np.diff(times)
        assert np.all(np.abs(steps - 0.01) < 1e-9), 'plant time must advance by dt per reply'
        c.sock.settimeout(0.3)
        with pytest.raises(socket.timeout):
            c.sock.recv(1)                       # no extra reply pending
    assert max(abs(state[1]), abs(state[2])) < 0.3


# -- bad input -------------------------------------------------------------------


@pytest.mark.parametrize('raw, code', [
    (frame(55, 1), ErrorCode.BAD_SIZE),
    (frame(64, 1), ErrorCode.BAD_SIZE),
    (frame(56, 2), ErrorCode.BAD_TYPE),
    (frame(56, 4), ErrorCode.BAD_TYPE),
    (frame(56, 7), ErrorCode.BAD_TYPE),
    (frame(56, 1, math.nan), ErrorCode.NOT_FINITE),
    (frame(56, 1, math.inf), ErrorCode.NOT_FINITE),
    (frame(56, 1, -math.inf), ErrorCode.NOT_FINITE),
    (frame(56, 3, 0, math.nan, 0, 0, 0, 0, 1.0), ErrorCode.NOT_FINITE),
    (frame(56, 3, 5.0, 0, 0, 0, 0, 0, 1.0), ErrorCode.BAD_STATE),
    (frame(56, 3, 0, 0, 0, 0, 0, 0, 2.0), ErrorCode.BAD_STATE),
], ids=['size55', 'size64', 'type2', 'type4', 'type7', 'nan', 'inf', '-inf', 'reset-nan',
        'reset-off-track', 'reset-selector'])
def test_bad_frame_gets_its_error_and_the_door_survives(lockstep_pair, raw, code):
    sock = raw_connect(lockstep_pair)
    sock.sendall(encode_control(0.0))           # a good request first: it is answered
    assert len(sock.recv(FRAME_SIZE, socket.MSG_WAITALL)) == FRAME_SIZE
    sock.sendall(raw)
    assert read_error(sock) is code
    assert_serves(lockstep_pair)


def test_partial_frame_then_silence_times_out(lockstep_pair):
    sock = raw_connect(lockstep_pair)
    sock.sendall(encode_reset()[:20])
    start = time.monotonic()
    assert read_error(sock) is ErrorCode.TIMEOUT
    assert time.monotonic() - start == pytest.approx(IDLE_TIMEOUT, abs=0.5)
    assert_serves(lockstep_pair)


def test_silence_from_the_start_times_out(lockstep_pair):
    assert read_error(raw_connect(lockstep_pair)) is ErrorCode.TIMEOUT
    assert_serves(lockstep_pair)


def test_client_killed_mid_frame(lockstep_pair):
    sock = raw_connect(lockstep_pair)
    sock.sendall(encode_control(1.0)[:30])
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
    sock.close()                                  # RST, as a killed process leaves it
    assert_serves(lockstep_pair)


def test_random_bytes(lockstep_pair):
    rng = random.Random(4)
    for _ in range(5):
        sock = raw_connect(lockstep_pair)
        sock.sendall(bytes(rng.getrandbits(8) for _ in range(FRAME_SIZE * 3)))
        assert read_error(sock) in (ErrorCode.BAD_SIZE, ErrorCode.BAD_TYPE)
    assert_serves(lockstep_pair)


def test_flood_of_connections_while_a_controller_runs(lockstep_pair):
    controller = controllers.lqr(0.01)
    replies, errors = [], []
    started, flooded = threading.Event(), threading.Event()

    def control_loop():
        try:
            with LegacyClient(port=lockstep_pair) as c:
                state, t = c.reset()
                started.set()
                # At least 1500 steps, and on until the flood is over (a fast door
                # would otherwise be done before the last connection arrives).
                while len(replies) < 1500 or not flooded.is_set():
                    state, t = c.control(controller(state))
                    replies.append(t)
        except Exception as exc:  # noqa: B902 - reported by the assertion below
            errors.append(exc)
            started.set()

    runner = threading.Thread(target=control_loop)
    runner.start()
    assert started.wait(10)
    socks = [socket.create_connection(('127.0.0.1', lockstep_pair), timeout=10)
             for _ in range(200)]
    codes = [read_error(s) for s in socks]
    flooded.set()
    runner.join(60)
    assert not errors
    assert codes == [ErrorCode.BUSY] * 200
    assert len(replies) >= 1500
    np.testing.assert_allclose(np.diff(replies), 0.01, atol=1e-9)
    assert_serves(lockstep_pair)                 # the controller left: next one is served


# -- real time -------------------------------------------------------------------
@pytest.fixture(scope='module', params=['bridge', 'plant_server'])
def realtime_pair(request):
    if request.param == 'bridge':
        yield from running_pair('realtime', '/e2e_rt')
    else:
        yield from running_server('realtime')


def test_balances_3_s_in_real_time(realtime_pair):
    start = time.monotonic()
    code, s = client_cli.run(args_for(realtime_pair, '--seconds', '3'))
    assert code == 0 and s['max_abs_theta1'] < 0.3
    assert s['final_t'] >= 3.0
    assert time.monotonic() - start >= 2.9        # paced by the plant, not by the client
    assert s['rtt_p50_us'] < 20_000


def test_stopping_the_bridge_sends_finished_and_frees_the_port():
    plant = NodeProcess('plant_node', '-r', '__ns:=/e2e_fin', '-p', 'mode:=lockstep')
    bridge = NodeProcess('bridge_node', '-r', '__ns:=/e2e_fin', '-p', 'port:=0')
    try:
        port = bridge_port(bridge)
        wait_until_served(port)
        c = LegacyClient(port=port)
        c.reset()
        assert bridge.stop() == 0
        c.sock.sendall(encode_control(0.0))
        with pytest.raises(ProtocolError) as err:
            parse_reply(c.recv_frame())
        assert err.value.code is ErrorCode.FINISHED
        c.close()
        # A new bridge takes the same port at once (TIME_WAIT does not hold it).
        bridge = NodeProcess('bridge_node', '-r', '__ns:=/e2e_fin', '-p', f'port:={port}')
        assert bridge_port(bridge) == port
        wait_until_served(port)
    finally:
        bridge.stop()
        plant.stop()


def test_node_processes_are_isolated():
    """A node subprocess runs on loopback discovery in this run's domain (and is seen there)."""
    bridge = NodeProcess('bridge_node', '-r', '__ns:=/e2e_env', '-p', 'port:=0')
    try:
        bridge_port(bridge)                         # started: past the exec, its own environment
        with open(f'/proc/{bridge.proc.pid}/environ', 'rb') as f:
            env = dict(v.decode().partition('=')[::2] for v in f.read().split(b'\0') if v)
        assert env.get('ROS_AUTOMATIC_DISCOVERY_RANGE') == 'LOCALHOST'
        assert env.get('ROS_DOMAIN_ID') == os.environ['ROS_DOMAIN_ID']
        h = Harness()
        try:
            probe = h.add(Node('env_probe'))
            assert h.spin_until(lambda: ('bridge', '/e2e_env')
                                in probe.get_node_names_and_namespaces())
        finally:
            h.close()
    finally:
        assert bridge.stop() == 0, bridge.output


def test_extra_latency_delays_each_reply(lockstep_pair):
    door = DOORS[lockstep_pair]
    h = Harness()

    def set_latency(ms):
        if isinstance(door, PlantServer):          # the in-process server's own knob
            door.sessions.extra_latency = ms / 1000.0
            return
        # An integer is accepted for a double parameter (ros2 param set ... 20).
        future = client.call_async(SetParameters.Request(parameters=[
            Parameter('extra_latency_ms', value=int(ms)).to_parameter_msg()]))
        assert h.spin_until(future.done) and future.result().results[0].successful

    try:
        node = h.add(Node('latency_setter'))
        client = node.create_client(SetParameters, '/e2e_ls/bridge/set_parameters')
        if not isinstance(door, PlantServer):
            assert h.spin_until(client.service_is_ready)
        set_latency(20)
        with LegacyClient(port=lockstep_pair) as c:
            c.reset()
            for _ in range(5):
                c.control(0.0)
            assert min(c.round_trips) >= 0.020
        set_latency(0)
        with LegacyClient(port=lockstep_pair) as c:
            c.reset()
            assert c.round_trips[-1] < 0.020
    finally:
        h.close()


def test_no_plant_gives_plant_unavailable_after_the_startup_grace():
    bridge = NodeProcess('bridge_node', '-r', '__ns:=/e2e_alone', '-p', 'port:=0',
                         '-p', 'reply_timeout:=0.1', '-p', 'startup_grace:=0.8')
    try:
        port = bridge_port(bridge)
        sock = raw_connect(port)
        sock.sendall(encode_control(1.0))
        start = time.monotonic()
        assert read_error(sock) is ErrorCode.PLANT_UNAVAILABLE
        assert time.monotonic() - start == pytest.approx(0.8, abs=0.3)
    finally:
        assert bridge.stop() == 0


def test_client_that_never_reads_is_dropped(lockstep_pair):
    """Pipelined requests, replies never read: the bridge must not block for ever."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(('127.0.0.1', lockstep_pair))
    frames = encode_control(0.0) * 20_000

    def flood():
        try:
            sock.sendall(frames)
        except OSError:
            pass                                    # dropped by the bridge: expected

    sender = threading.Thread(target=flood, daemon=True)
    sender.start()
    deadline = time.monotonic() + 60
    while True:                                     # BUSY until the bridge gives up on it
        try:
            assert_serves(lockstep_pair, steps=20)
            break
        except AssertionError:
            assert time.monotonic() < deadline, 'the stalled client was never dropped'
            time.sleep(0.5)
    sock.close()
    sender.join(10)
    assert 'has not read its replies' in door_output(lockstep_pair)


def test_force_beyond_the_limit_is_saturated_not_refused(lockstep_pair):
    from plant_server_ros.physics.dynamics import DIPDynamics
    with LegacyClient(port=lockstep_pair) as c:
        start, _ = c.reset([0.0] * 6)
        state, t = c.control(1e6)                # max_force is 20 N
    assert t == pytest.approx(0.01)
    expected = DIPDynamics().step((0.0,) * 6, 20.0, 0.01)
    assert state[3] == pytest.approx(expected[3], abs=0.06)   # noise std 0.01


def test_client_summary_and_csv(lockstep_pair, tmp_path, capsys):
    csv_file = tmp_path / 'run.csv'
    code, summary = client_cli.run(args_for(lockstep_pair, '--steps', '50', '--csv',
                                            str(csv_file), '--controller', 'pd'))
    assert code == 0
    out = capsys.readouterr().out
    assert 'steps: 50' in out and 'round trip: p50' in out and 'result: balanced' in out
    rows = csv_file.read_text().splitlines()
    assert rows[0].startswith('t,x,theta1,theta2') and len(rows) == 51


def test_client_exits_1_when_the_pendulum_falls(lockstep_pair):
    code, summary = client_cli.run(args_for(
        lockstep_pair, '--steps', '300', '--reset-state', '0,0.5,-0.4,0,0,0',
        '--fall-angle', '0.6'))
    assert code == 1 and summary['fell']


# -- a halted plant ------------------------------------------------------------------
def test_halted_lockstep_plant_answers_halted_at_once(lockstep_pair):
    assert_halted_at_once_then_a_reset_starts_anew(lockstep_pair, lockstep=True)


def test_halted_realtime_plant_answers_halted_at_once(realtime_pair):
    assert_halted_at_once_then_a_reset_starts_anew(realtime_pair, lockstep=False)


def assert_halted_at_once_then_a_reset_starts_anew(port, lockstep):
    with LegacyClient(port=port) as c:
        c.reset()
        with pytest.raises(ProtocolError) as err:
            for _ in range(500):                 # 20 N pushes the cart off the 2 m track
                state, t = c.control(20.0)
                last_reply = time.monotonic()
        halted_after = time.monotonic() - last_reply
        assert err.value.code is ErrorCode.HALTED
        assert abs(state[0]) > 1.9 and t < 2.0
        # Within one period of the sample that left the track (the reply timeout is
        # seconds): say two periods of slack for a loaded machine, plus DDS.
        assert halted_after < 0.2, halted_after
        assert c.sock.recv(1) == b'', 'the server closes after ERROR'
    with LegacyClient(port=port) as c:           # a new connection's RESET: a new episode
        state, t = c.reset()
        assert t == 0.0 and abs(state[0]) < 0.1
        state, t = c.control(0.0)
        if lockstep:
            assert t == pytest.approx(0.01)
        else:
            # The new episode's clock, not the old one's (about 1 s when it halted):
            # in real time the reply is the newest sample, a few periods on when the
            # machine or DDS is slow (0.03 s seen under load through the bridge).
            assert 0.0 < t < 0.5, t


def test_a_client_before_discovery_waits_for_the_plant_then_reply_timeout_applies():
    """Start-up grace: the first request waits for a plant not yet found, not 1 s."""
    bridge = NodeProcess('bridge_node', '-r', '__ns:=/e2e_grace', '-p', 'port:=0',
                         '-p', 'reply_timeout:=0.5', '-p', 'startup_grace:=15.0')
    plant = None
    try:
        port = bridge_port(bridge)
        with LegacyClient(port=port, timeout=30) as c:
            c.sock.sendall(encode_reset())          # before any plant exists
            time.sleep(1.0)                         # longer than reply_timeout
            plant = NodeProcess('plant_node', '-r', '__ns:=/e2e_grace', '-p', 'mode:=lockstep')
            state, t = parse_reply(c.recv_frame())   # answered once the plant is found
            assert t == 0.0
            assert c.control(0.0)[1] == pytest.approx(0.01)
            # Seen once: a plant that goes away is reported within reply_timeout.
            assert plant.stop() == 0
            start = time.monotonic()
            with pytest.raises(ProtocolError) as err:
                c.control(0.0)
            assert err.value.code is ErrorCode.PLANT_UNAVAILABLE
            assert time.monotonic() - start < 3.0
    finally:
        assert bridge.stop() == 0
        if plant is not None:
            plant.stop()
