"""
The UDP datagrams of docs/PROTOCOL.md (second part), checked from the page alone.

A minimal client is written here with ``struct``, ``zlib`` and ``socket``
only, as any other language would; it drives the ROS-free ``PlantServer``
(lock-step and real time) and the bridge node (lock-step, plant and bridge
as separate processes).  The package's own codec is checked against the
page's test vectors too.
"""

import contextlib
import math
from pathlib import Path
import re
import socket
import struct
import threading
import time
import zlib

import numpy as np
from plant_server_ros import PlantServer
from plant_server_ros.clients import cli as client_cli, controllers
from plant_server_ros.clients.tcp_client import LegacyClient
from plant_server_ros.legacy import datagram
from plant_server_ros.legacy.protocol import encode_control, ErrorCode, ProtocolError
import pytest

DT = 0.01
INITIAL = (0.0, 0.05, -0.03, 0.0, 0.0, 0.0)
COMMAND_VECTOR = '000000013ff800000000000067d2e743'
STATE_VECTOR = ('0000000100000000000000003fa999999999999abf9eb851eb851eb8000000000000000000'
                '000000000000000000000000000000d1d717e4')
BRIDGE_IDLE = 1.0
NAMESPACE = '/udp_e2e'


# -- the datagrams, from the page alone ---------------------------------------------------
def crc(body):
    return zlib.crc32(body) & 0xFFFFFFFF


def seal(body):
    return body + struct.pack('!I', crc(body))


def pack_command(seq, u):
    return seal(struct.pack('!Id', seq, u))


def pack_state(seq, state):
    return seal(struct.pack('!I6d', seq, *state))


def open_sealed(data, size):
    """Return the body of a datagram of ``size`` bytes whose checksum holds, else None."""
    if len(data) != size:
        return None
    body, (check,) = data[:-4], struct.unpack('!I', data[-4:])
    return body if check == crc(body) else None


def unpack_command(data):
    body = open_sealed(data, 16)
    assert body is not None, data.hex()
    return struct.unpack('!Id', body)


def unpack_state(data):
    body = open_sealed(data, 56)
    assert body is not None, f'not a valid state datagram: {data.hex()}'
    seq, *state = struct.unpack('!I6d', body)
    return seq, tuple(state)


class MiniClient:
    """A client of the page: one command in flight; the same ``seq`` again on timeout."""

    def __init__(self, port, timeout=2.0, tries=6):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(('127.0.0.1', 0))
        self.server = ('127.0.0.1', port)
        self.timeout = timeout
        self.tries = tries
        self.retransmits = 0          # our own retransmissions (timeouts)
        self.received = set()         # every datagram received

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data):
        self.sock.sendto(data, self.server)

    def _recv(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        self.sock.settimeout(left)
        try:
            data, _ = self.sock.recvfrom(2048)
        except socket.timeout:
            return None
        self.received.add(data)
        return data

    def exchange(self, seq, u):
        """Return the raw state datagram answering command ``(seq, u)``."""
        command = pack_command(seq, u)
        for attempt in range(self.tries):
            if attempt:
                self.retransmits += 1
            self.send(command)
            deadline = time.monotonic() + self.timeout
            while True:
                reply = self._recv(deadline)
                if reply is None:
                    break
                body = open_sealed(reply, 56)
                if body is not None and struct.unpack('!I', body[:4])[0] == seq:
                    return reply
        raise AssertionError(f'no reply to command {seq} after {self.tries} tries')

    def step(self, seq, u):
        """Return the state answering command ``(seq, u)``."""
        reply_seq, state = unpack_state(self.exchange(seq, u))
        assert reply_seq == seq
        return state

    def quiet(self, wait):
        """Check that nothing new arrives for ``wait`` s (a late duplicate is no reply)."""
        seen = set(self.received)
        deadline = time.monotonic() + wait
        while True:
            data = self._recv(deadline)
            if data is None:
                return
            assert data in seen, f'unexpected datagram {data.hex()}'

    def dropped(self, data, wait=0.5):
        """Send ``data`` and check that it gets no reply."""
        self.send(data)
        self.quiet(wait)


# -- the servers --------------------------------------------------------------------------
@contextlib.contextmanager
def plant_server(mode='lockstep', seed=3, noise=0.0, idle_timeout=10.0, latency_ms=0.0):
    """Yield a running ROS-free PlantServer with a UDP door on a free port."""
    ready = threading.Event()
    server = PlantServer(bind_addr=('127.0.0.1', 0), mode=mode, seed=seed,
                         sensor_noise_std=noise, udp_addr=('127.0.0.1', 0),
                         server_ready_event=ready, idle_timeout=idle_timeout,
                         extra_latency_ms=latency_ms)
    thread = threading.Thread(target=server.start, daemon=True)
    thread.start()
    try:
        assert ready.wait(20.0), 'the server did not start'
        assert server.udp_port
        yield server
    finally:
        server.stop()
        thread.join(20.0)
        server.close()
    assert not thread.is_alive(), 'PlantServer.start() did not return'


def counters(server):
    return server.status()['udp_counters']


def counters_once(server, timeout=5.0, **wanted):
    """
    Return the counters once they show ``wanted``, or as they are after ``timeout``.

    A dropped datagram gets no reply to wait for: whether the server's thread
    has counted it yet is a race with a fixed sleep on a loaded machine.  An
    answered datagram from the same client is the barrier where a test has
    one; elsewhere this polls.
    """
    deadline = time.monotonic() + timeout
    while True:
        c = counters(server)
        if all(c[k] == v for k, v in wanted.items()) or time.monotonic() > deadline:
            return c
        time.sleep(0.01)


def free_udp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


@pytest.fixture(scope='module')
def bridge_pair():
    """Yield ``(tcp_port, udp_port)`` of a lock-step plant_node + bridge_node pair."""
    import _ros_harness as ros       # skips (rclpy missing) only the tests needing it
    udp_port = free_udp_port()
    plant = ros.NodeProcess('plant_node', '-r', f'__ns:={NAMESPACE}', '-p', 'mode:=lockstep',
                            '-p', 'seed:=3')
    bridge = ros.NodeProcess('bridge_node', '-r', f'__ns:={NAMESPACE}', '-p', 'port:=0',
                             '-p', f'udp_port:={udp_port}', '-p', f'idle_timeout:={BRIDGE_IDLE}',
                             '-p', 'reply_timeout:=2.0')
    try:
        tcp_port = ros.bridge_port(bridge)
        bridge.wait_for(r'UDP datagrams on 127\.0\.0\.1:%d\b' % udp_port)
        ros.wait_until_served(tcp_port)
    except BaseException:
        bridge.stop()
        plant.stop()
        raise
    yield tcp_port, udp_port
    assert bridge.stop() == 0, bridge.output
    assert plant.stop() == 0, plant.output


@pytest.fixture
def bridge(bridge_pair):
    """Yield the pair; after the test, stay away for the idle timeout (the seat is free)."""
    yield bridge_pair
    time.sleep(BRIDGE_IDLE + 0.5)


def balance(port, seconds, timeout=2.0):
    """Balance with the LQR over UDP for ``seconds`` of plant time; the client and its log."""
    controller = controllers.lqr(DT)
    client = MiniClient(port, timeout=timeout)
    states = [client.step(1, 0.0)]
    for seq in range(2, int(round(seconds / DT)) + 2):
        states.append(client.step(seq, controller(states[-1])))
    client.close()
    return client, np.array(states)


def assert_near_initial(state, noise=0.0):
    """Check ``state`` is one ``dt`` from the initial state (gravity moves the rates)."""
    np.testing.assert_allclose(state[:3], INITIAL[:3], atol=0.002 + 6 * noise)
    np.testing.assert_allclose(state[3:], INITIAL[3:], atol=0.1 + 6 * noise)


def assert_balanced(states, upright=0.1):
    assert np.all(np.isfinite(states))
    worst = np.max(np.abs(states[:, 1:3]))
    assert worst < 0.3, f'a link went to {worst:.3f} rad'
    end = np.max(np.abs(states[-50:, 1:3]))
    assert end < upright, f'not upright at the end: {end:.3f} rad'
    cart = np.max(np.abs(states[:, 0]))
    assert cart < 1.0, f'the cart wandered to {cart:.3f} m'


# -- 1. test vectors ----------------------------------------------------------------------
def test_vectors_are_the_page_s():
    page = (Path(__file__).resolve().parents[1] / 'docs' / 'PROTOCOL.md').read_text()
    udp_part = page[page.index('## Second transport: UDP datagrams'):]
    assert re.search(r'command seq=1 u=1\.5\n' + COMMAND_VECTOR + r'\n', udp_part)
    assert re.search(r'state seq=1 \[0, 0\.05, -0\.03, 0, 0, 0\]\n' + STATE_VECTOR + r'\n',
                     udp_part)


def test_command_vector_from_the_page():
    data = bytes.fromhex(COMMAND_VECTOR)
    assert pack_command(1, 1.5) == data
    assert unpack_command(data) == (1, 1.5)
    assert datagram.encode_command(1, 1.5) == data
    assert datagram.decode_command(data) == (1, 1.5)


def test_state_vector_from_the_page():
    data = bytes.fromhex(STATE_VECTOR)
    assert len(data) == 56
    assert pack_state(1, INITIAL) == data
    assert unpack_state(data) == (1, INITIAL)
    assert datagram.encode_state(1, INITIAL) == data
    assert datagram.decode_state(data) == (1, INITIAL)


@pytest.mark.parametrize('data, kind', [
    (bytes.fromhex(COMMAND_VECTOR)[:15], datagram.BAD_LENGTH),
    (bytes.fromhex(COMMAND_VECTOR) + b'\0', datagram.BAD_LENGTH),
    (encode_control(1.5, 0.25), datagram.BAD_LENGTH),
    (bytes.fromhex(COMMAND_VECTOR)[:15] + b'\x42', datagram.BAD_CHECKSUM),
    (pack_command(1, math.nan), datagram.NOT_FINITE),
    (pack_command(1, -math.inf), datagram.NOT_FINITE),
], ids=['15-bytes', '17-bytes', 'tcp-frame', 'checksum', 'nan', '-inf'])
def test_codec_refuses_what_the_page_drops(data, kind):
    with pytest.raises(datagram.DatagramError) as err:
        datagram.decode_command(data)
    assert err.value.kind == kind


# -- 2. a client of the page balances the plant -------------------------------------------
@pytest.mark.parametrize('mode', ['lockstep', 'realtime'])
def test_page_client_balances_ros_free(mode):
    with plant_server(mode=mode, seed=5, noise=0.01) as server:
        client, states = balance(server.udp_port, 3.0)
        status = server.status()
        c = counters(server)
    assert_balanced(states, upright=0.1 if mode == 'lockstep' else 0.15)
    assert c['accepted'] == len(states), c
    assert c['episodes'] == 1, c
    if mode == 'lockstep':
        assert c['retransmissions'] == client.retransmits, c
        assert status['episode_time'] == pytest.approx(3.01)
        assert status['total_steps'] == len(states)
    else:
        # a reply held up past the server's reply timeout is not answered, and
        # then not a retransmission for the server when the client sends it again
        assert c['retransmissions'] <= client.retransmits, c
        assert status['episode_time'] >= 3.0 - 1e-9     # one sample per reply at least


def test_page_client_balances_through_the_bridge(bridge):
    _, udp_port = bridge
    client, states = balance(udp_port, 3.0, timeout=3.0)
    assert_balanced(states)


# -- 3. seq rules: restart, lower seq, gap ------------------------------------------------
def test_seq_one_restarts_at_the_initial_state():
    with plant_server() as server, MiniClient(server.udp_port) as client:
        first = client.exchange(1, 0.0)
        assert_near_initial(unpack_state(first)[1])
        for seq in range(2, 51):
            state = client.step(seq, 5.0)
        assert state[0] > 0.05, 'the force should have moved the cart'
        assert server.status()['episode_time'] == pytest.approx(0.5)
        again = client.exchange(1, 0.0)
        assert again == first, 'seq 1 must reset, then apply the command'
        assert server.status()['episode_time'] == pytest.approx(DT)
        assert counters(server)['episodes'] == 2
        assert counters(server)['stale'] == 0, 'a restart at 1 is not out of order'


def test_seq_one_after_seq_zero_restarts():
    # seq 1 is a restart in itself, not only as a seq lower than the last one
    with plant_server() as server, MiniClient(server.udp_port) as client:
        reference = client.step(0, 0.0)
        for seq in range(2, 6):
            client.step(seq, 5.0)
        client.step(0, 0.0)                      # lower: a new episode at seq 0
        assert client.step(1, 0.0) == reference, 'seq 1 resets, then applies the command'
        assert server.status()['episode_time'] == pytest.approx(DT)
        assert counters(server)['episodes'] == 3


def test_lower_seq_restarts():
    with plant_server() as server, MiniClient(server.udp_port) as client:
        reference = client.step(1, 0.0)
        for seq in range(2, 21):
            client.step(seq, 5.0)
        assert counters(server)['stale'] == 0
        restarted = client.step(10, 0.0)
        assert restarted == reference
        assert server.status()['episode_time'] == pytest.approx(DT)
        c = counters(server)
        assert c['episodes'] == 2 and c['stale'] == 1
        # and the new episode goes on from there
        assert client.step(11, 0.0) != restarted
        assert server.status()['episode_time'] == pytest.approx(2 * DT)


def test_gap_in_seq_is_accepted_and_continues():
    with plant_server() as server, MiniClient(server.udp_port) as client:
        with_gap = [client.step(seq, u) for seq, u in ((1, 1.0), (2, 2.0), (5, 3.0))]
        assert server.status()['episode_time'] == pytest.approx(3 * DT)
        assert counters(server)['episodes'] == 1
        assert counters(server)['stale'] == 0
        no_gap = [client.step(seq, u) for seq, u in ((1, 1.0), (2, 2.0), (3, 3.0))]
        assert with_gap == no_gap
        c = counters(server)
        assert c['episodes'] == 2 and c['accepted'] == 6


# -- 4. retransmission --------------------------------------------------------------------
def test_retransmission_gets_the_same_reply_and_does_not_step():
    with plant_server() as server, MiniClient(server.udp_port) as client:
        r1 = client.exchange(1, 0.0)
        r2 = client.exchange(2, 5.0)
        steps = server.status()['total_steps']
        assert client.exchange(2, 5.0) == r2
        assert client.exchange(2, -7.0) == r2, 'the same seq is a retransmission'
        assert server.status()['total_steps'] == steps
        r3 = client.exchange(3, 0.0)
        assert server.status()['total_steps'] == steps + 1
        assert server.status()['episode_time'] == pytest.approx(3 * DT)
        # The same commands without the retransmissions: byte for byte the same.
        assert [client.exchange(1, 0.0), client.exchange(2, 5.0),
                client.exchange(3, 0.0)] == [r1, r2, r3]
        c = counters(server)
        assert c['retransmissions'] == 2 + client.retransmits
        assert c['accepted'] == 6 and c['episodes'] == 2


# -- 5. bad datagrams ---------------------------------------------------------------------
def bad_datagrams():
    good = pack_command(6, 0.0)
    bad_crc = good[:-4] + struct.pack('!I', crc(good[:-4]) ^ 1)
    return [(bad_crc, 'bad_checksum'),
            (good[:-4] + good[-4:][::-1], 'bad_checksum'),
            (good[:15], 'bad_length'),
            (good + b'\0', 'bad_length'),
            (encode_control(0.0, 0.0), 'bad_length'),
            (b'', 'bad_length'),
            (pack_command(6, math.nan), 'not_finite'),
            (pack_command(6, math.inf), 'not_finite'),
            (pack_command(6, -math.inf), 'not_finite')]


def test_bad_datagrams_are_dropped_counted_and_harmless():
    us = [0.5 * k for k in range(1, 7)]
    with plant_server() as server, MiniClient(server.udp_port) as client:
        for seq, u in enumerate(us[:5], 1):
            client.exchange(seq, u)
        steps = server.status()['total_steps']
        expected = dict(counters(server))
        for data, kind in bad_datagrams():
            client.dropped(data)
            expected[kind] += 1
        after_bad = client.exchange(6, us[5])     # answered, and the server saw them all
        c = counters(server)
        assert {k: c[k] for k in ('bad_checksum', 'bad_length', 'not_finite')} == \
            {k: expected[k] for k in ('bad_checksum', 'bad_length', 'not_finite')}
        assert c['episodes'] == 1 and c['accepted'] == 6 and c['foreign'] == 0
        assert server.status()['total_steps'] == steps + 1
        assert server.status()['episode_time'] == pytest.approx(6 * DT)
        # The same episode without the bad datagrams: the same reply, byte for byte.
        replay = [client.exchange(seq, u) for seq, u in enumerate(us, 1)]
        assert replay[-1] == after_bad


# -- 6. one client address at a time ------------------------------------------------------
def test_second_address_is_foreign_until_the_first_is_idle():
    idle = 0.5
    with plant_server(idle_timeout=idle) as server, MiniClient(server.udp_port) as a, \
            MiniClient(server.udp_port) as b:
        a.step(1, 0.0)
        b.dropped(pack_command(1, 0.0), wait=0.2)
        a.step(2, 0.0)                           # a's session is undisturbed
        b.quiet(0.1)
        assert server.status()['episode_time'] == pytest.approx(2 * DT)
        assert counters(server)['foreign'] == 1
        # a keeps the seat while it keeps sending, for longer than the idle timeout
        seq, start = 2, time.monotonic()
        while time.monotonic() - start < 3 * idle:
            time.sleep(idle / 5)
            seq += 1
            a.step(seq, 0.0)
        b.dropped(pack_command(1, 0.0), wait=0.2)
        a.step(seq + 1, 0.0)
        b.quiet(0.1)
        assert server.status()['episode_time'] == pytest.approx((seq + 1) * DT)
        assert counters(server)['foreign'] == 2
        time.sleep(idle + 0.5)                   # a falls silent beyond the idle timeout
        state = b.step(1, 0.0)
        assert_near_initial(state)
        assert server.status()['episode_time'] == pytest.approx(DT)
        a.dropped(pack_command(seq + 2, 0.0), wait=0.2)  # now a is the foreign one
        b.step(2, 0.0)
        a.quiet(0.1)
        c = counters(server)
        assert c['foreign'] == 3 and c['episodes'] == 2


@contextlib.contextmanager
def stray_datagrams(port, every=0.02):
    """Keep the UDP port busy with datagrams to drop (an empty one every ``every`` s)."""
    stop = threading.Event()

    def flood():
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            while not stop.wait(every):
                sock.sendto(b'', ('127.0.0.1', port))

    thread = threading.Thread(target=flood, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(5.0)


def test_idle_session_ends_even_while_stray_datagrams_arrive():
    idle = 0.5
    with plant_server(idle_timeout=idle) as server, MiniClient(server.udp_port) as a:
        for seq in range(1, 4):
            a.step(seq, 0.0)
        with stray_datagrams(server.udp_port):
            time.sleep(idle + 0.5)               # a falls silent beyond the idle timeout
            state = a.step(4, 0.0)               # the first datagram of a new session
            assert server.status()['episode_time'] == pytest.approx(DT)
        assert_near_initial(state)
        c = counters(server)
        assert c['episodes'] == 2 and c['bad_length'] > 10


def test_idle_udp_client_cannot_come_back_while_tcp_holds_the_plant():
    # The TCP client is idle too while a's datagram is shown dropped: that wait
    # stays well inside the idle timeout (it was the timeout itself: a TIMEOUT
    # for the TCP client whenever the check took a few ms longer, as under load).
    idle = 1.0
    with plant_server(idle_timeout=idle) as server, MiniClient(server.udp_port) as a:
        for seq in range(1, 4):
            a.step(seq, 0.0)
        with stray_datagrams(server.udp_port):
            time.sleep(idle + 0.5)               # a falls silent beyond the idle timeout
            with LegacyClient(port=server.port, timeout=10.0) as tcp:
                tcp.reset()                      # the seat is free: TCP takes it
                a.dropped(pack_command(4, 0.0), wait=0.2)   # one controlling client
                _, t = tcp.control(0.0)
                assert t == pytest.approx(DT), 'only the TCP client may step the plant'
        assert counters_once(server, foreign=1)['foreign'] == 1


# -- 7. TCP and UDP share one controlling client ------------------------------------------
def assert_tcp_busy(tcp_port):
    with LegacyClient(port=tcp_port, timeout=10.0) as tcp:
        with pytest.raises(ProtocolError) as err:
            tcp.reset()
    assert err.value.code is ErrorCode.BUSY


def test_udp_client_makes_tcp_busy_ros_free():
    with plant_server() as server, MiniClient(server.udp_port) as client:
        for seq in range(1, 4):
            client.step(seq, 0.0)
        assert_tcp_busy(server.port)
        client.step(4, 0.0)
        assert server.status()['episode_time'] == pytest.approx(4 * DT)
        assert counters(server)['episodes'] == 1


def test_tcp_client_makes_udp_foreign_ros_free():
    with plant_server() as server, MiniClient(server.udp_port) as client:
        with LegacyClient(port=server.port, timeout=10.0) as tcp:
            tcp.reset()
            tcp.control(0.0)
            client.dropped(pack_command(1, 0.0))
            _, t = tcp.control(0.0)
            assert t == pytest.approx(2 * DT)
            c = counters_once(server, foreign=1)
            assert c['foreign'] == 1 and c['accepted'] == 0
        # the TCP client has gone: UDP is served (a new episode)
        state = client.step(1, 0.0)
        assert_near_initial(state)
        assert server.status()['episode_time'] == pytest.approx(DT)


def test_udp_client_makes_tcp_busy_on_the_bridge(bridge):
    tcp_port, udp_port = bridge
    with MiniClient(udp_port, timeout=3.0) as client:
        states = [client.step(seq, 0.0) for seq in range(1, 4)]
        assert_tcp_busy(tcp_port)
        states.append(client.step(4, 0.0))
    assert_near_initial(states[0], noise=0.01)      # the plant node's default noise
    assert all(np.all(np.isfinite(s)) for s in states)


def test_extra_latency_delays_the_replies():
    with plant_server(latency_ms=150.0) as server, MiniClient(server.udp_port) as client:
        for seq in range(1, 4):
            start = time.monotonic()
            client.exchange(seq, 0.0)
            assert time.monotonic() - start >= 0.15 - 0.005
        start = time.monotonic()
        client.exchange(3, 0.0)                  # a retransmission is a reply too
        assert time.monotonic() - start >= 0.15 - 0.005


# -- 8. reproducible lock-step runs -------------------------------------------------------
def recorded_run(seed):
    """Reply bytes of one scripted session (LQR, a restart, a retransmission)."""
    controller = controllers.lqr(DT)
    with plant_server(seed=seed, noise=0.01) as server, MiniClient(server.udp_port) as client:
        replies = [client.exchange(1, 0.0)]
        script = list(range(2, 101)) + [100, 1] + list(range(2, 51))
        for seq in script:
            state = unpack_state(replies[-1])[1]
            replies.append(client.exchange(seq, controller(state) + math.sin(seq)))
    return replies


def test_lockstep_reruns_are_bit_identical():
    first, second, other = recorded_run(11), recorded_run(11), recorded_run(12)
    assert len(first) == 151
    assert first == second
    assert first[0] != other[0]
    assert sum(a != b for a, b in zip(first, other)) > 140


# -- 9. halted plant ----------------------------------------------------------------------
@pytest.mark.parametrize('mode', ['lockstep', 'realtime'])
def test_halted_plant_answers_its_last_state_until_seq_one(mode):
    with plant_server(mode=mode) as server, MiniClient(server.udp_port) as client:
        seq, state = 1, client.step(1, 20.0)
        while server.status()['state'] != 'halted':
            assert seq < 1000, 'the cart should have left the 2 m track'
            seq += 1
            state = client.step(seq, 20.0)
        status = server.status()
        if mode == 'realtime':                   # the plant may have stepped since
            seq += 1
            state = client.step(seq, 20.0)
        assert abs(state[0]) > 1.5
        for later in range(seq + 1, seq + 6):
            assert client.step(later, 20.0) == state, 'a halted plant does not step'
        assert client.step(seq + 6, -20.0) == state
        assert server.status()['total_steps'] == status['total_steps']
        assert server.status()['episode_time'] == status['episode_time']
        assert server.status()['state'] == 'halted'
        restarted = client.step(1, 0.0)
        assert_near_initial(restarted)
        status = server.status()
        assert status['state'] == 'running'
        if mode == 'lockstep':
            assert status['episode_time'] == pytest.approx(DT)
        else:
            assert status['episode_time'] < 0.5
        assert client.step(2, 0.0) != restarted
        c = counters(server)
        assert c['episodes'] == 2 and c['unanswered'] == 0


def test_halted_plant_on_the_bridge(bridge):
    _, udp_port = bridge
    with MiniClient(udp_port, timeout=3.0) as client:
        seq, state = 1, client.step(1, 20.0)
        while abs(state[0]) <= 2.0:
            assert seq < 1000, 'the cart should have left the 2 m track'
            seq += 1
            state = client.step(seq, 20.0)
        for later in range(seq + 1, seq + 6):
            assert client.step(later, 20.0) == state, 'a halted plant does not step'
        restarted = client.step(1, 0.0)
        assert_near_initial(restarted, noise=0.01)
        assert client.step(2, 0.0) != restarted


# -- 10. dip_client --udp -----------------------------------------------------------------
def test_dip_client_udp(capsys):
    with plant_server(seed=2, noise=0.01) as server:
        args = client_cli.build_parser().parse_args(
            ['--udp', '--port', str(server.udp_port), '--seconds', '2'])
        code, summary = client_cli.run(args)
        c = counters(server)
    assert code == 0, capsys.readouterr()
    assert summary['steps'] == 200
    assert summary['max_abs_theta1'] < 0.3 and summary['max_abs_theta2'] < 0.3
    assert c['accepted'] == 201 and c['episodes'] == 1
    assert re.search(r'result: balanced', capsys.readouterr().out)
