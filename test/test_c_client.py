"""
The C example client (examples/c/dip_client.c) against the contract and the plant.

The client is compiled with the system C compiler (the tests skip when there
is none).  Its encoders must match the test vectors of docs/PROTOCOL.md
(``--self-test``); over TCP it must balance a lock-step in-process
``PlantServer`` and report it as the Python reference client does, step for
step the same trajectory; its exit codes must say fell (1) and protocol or
connection error (2).  Over UDP it balances the ``PlantServer`` UDP door (the
same trajectory as the Python client's ``--udp``), skipped where that door is
missing, and it copes with a scripted UDP peer written from the contract (a
lost reply, then a short, a corrupt and a stale datagram).
"""

import contextlib
import io
from pathlib import Path
import re
import shutil
import socket
import struct
import subprocess
import threading
import zlib

from plant_server_ros import PlantServer
from plant_server_ros.clients import cli as client_cli, controllers
from plant_server_ros.clients.tcp_client import LegacyClient
import pytest

SOURCE = Path(__file__).resolve().parents[1] / 'examples' / 'c' / 'dip_client.c'
CFLAGS = ['-O2', '-std=c99', '-Wall', '-Wextra']
UDP_COMMAND = struct.Struct('!IdI')
UDP_STATE = struct.Struct('!I6dI')
UDP_MISSING = 'the PlantServer UDP door is not available yet'


@pytest.fixture(scope='module')
def client(tmp_path_factory):
    """Compile examples/c/dip_client.c as the Makefile does; the binary's path."""
    cc = shutil.which('cc') or shutil.which('gcc')
    if cc is None:
        pytest.skip('no C compiler (cc or gcc) on PATH to build examples/c/dip_client.c')
    binary = tmp_path_factory.mktemp('c_client') / 'dip_client'
    result = subprocess.run([cc, *CFLAGS, '-o', str(binary), str(SOURCE), '-lm'],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert 'warning' not in result.stderr, result.stderr
    return binary


def run_client(binary, *args):
    return subprocess.run([str(binary), *args], capture_output=True, text=True, timeout=60)


@contextlib.contextmanager
def running(server, ready):
    """Serve ``server`` from a thread while the block runs; then stop, join and close it."""
    thread = threading.Thread(target=server.start, daemon=True)
    thread.start()
    try:
        assert ready.wait(10), 'the PlantServer did not come up'
        yield server
    finally:
        server.stop()
        thread.join(10)
        server.close()


def lockstep_server(**kwargs):
    """Return a running lock-step plant (seed 1) as a context manager."""
    ready = threading.Event()
    server = PlantServer(bind_addr=('127.0.0.1', 0), mode='lockstep', seed=1,
                         server_ready_event=ready, **kwargs)
    return running(server, ready)


def summary_lines(stdout):
    """Return the summary lines by their key (``steps``, ``round trip``, ... ``result``)."""
    return {line.split(':', 1)[0]: line for line in stdout.splitlines() if ':' in line}


def assert_balanced(result, steps, plant_time):
    assert result.returncode == 0, result.stdout + result.stderr
    lines = summary_lines(result.stdout)
    assert lines['steps'] == f'steps: {steps}  plant time: {plant_time} s', result.stdout
    assert lines['result'] == 'result: balanced', result.stdout
    assert re.fullmatch(r'round trip: p50 \d+ us, p99 \d+ us', lines['round trip'])
    return lines


def test_the_hard_coded_gain_is_the_packages_lqr():
    text = SOURCE.read_text()
    body = re.search(r'static const double K\[6\] = \{([^}]*)\}', text).group(1)
    gain = [float(v) for v in body.replace('\n', ' ').split(',') if v.strip()]
    assert gain == pytest.approx(list(controllers.lqr_gain(0.01)), rel=1e-9)


def test_self_test_matches_the_protocol_vectors(client):
    result = run_client(client, '--self-test')
    assert result.returncode == 0, result.stdout + result.stderr
    assert 'FAIL' not in result.stdout
    assert re.search(r'^self-test: (\d+)/\1 passed$', result.stdout, re.M), result.stdout
    for name in ('TCP CONTROL', 'TCP STATE', 'TCP RESET', 'TCP ERROR', 'UDP command',
                 'UDP state'):
        assert f'ok    {name}' in result.stdout


def test_tcp_balances_the_lockstep_plant(client):
    with lockstep_server() as server:
        result = run_client(client, '--port', str(server.port), '--steps', '500')
    assert_balanced(result, 500, '5.000')


def test_tcp_runs_the_same_trajectory_as_the_python_client(client):
    with lockstep_server() as server:
        result = run_client(client, '--port', str(server.port), '--steps', '300')
    with lockstep_server() as server:
        args = client_cli.build_parser().parse_args(['--port', str(server.port),
                                                     '--steps', '300'])
        out = io.StringIO()
        code, _ = client_cli.run(args, out)
    assert code == 0
    ours, reference = summary_lines(result.stdout), summary_lines(out.getvalue())
    for key in ('steps', 'max |theta1|', 'final state [x, th1, th2, xd, th1d, th2d]',
                'result'):
        assert ours[key] == reference[key]


def test_tcp_reports_a_fall_with_exit_1(client):
    start = {'simulation': {'initial_state': [0.0, 0.5, 0.5, 0.0, 0.0, 0.0]}}
    with lockstep_server(cfg=start) as server:
        result = run_client(client, '--port', str(server.port), '--steps', '500')
    assert result.returncode == 1, result.stdout + result.stderr
    lines = summary_lines(result.stdout)
    assert lines['result'] == 'result: FELL'
    assert int(lines['steps'].split()[1]) < 500


def test_errors_exit_2_without_a_summary(client):
    with socket.socket() as probe:          # a port nobody listens on
        probe.bind(('127.0.0.1', 0))
        free_port = probe.getsockname()[1]
    result = run_client(client, '--port', str(free_port), '--steps', '5')
    assert result.returncode == 2 and 'result:' not in result.stdout
    assert 'cannot connect' in result.stderr

    with lockstep_server() as server:
        with LegacyClient('127.0.0.1', server.port) as holder:
            holder.reset()
            result = run_client(client, '--port', str(server.port), '--steps', '5')
    assert result.returncode == 2 and 'result:' not in result.stdout
    assert 'BUSY' in result.stderr


def udp_lockstep_server():
    """Return a running lock-step plant (seed 1) with a UDP door, or skip."""
    ready = threading.Event()
    try:
        server = PlantServer(bind_addr=('127.0.0.1', 0), mode='lockstep', seed=1,
                             server_ready_event=ready, udp_addr=('127.0.0.1', 0))
    except TypeError:
        pytest.skip(UDP_MISSING)
    if getattr(server, 'udp_port', None) is None:
        server.close()
        pytest.skip(UDP_MISSING)
    return running(server, ready)


def test_udp_balances_the_lockstep_plant(client):
    with udp_lockstep_server() as server:
        result = run_client(client, '--udp', '--port', str(server.udp_port), '--steps', '500')
    # seq 1 (u = 0) starts the episode and steps once, then 500 controls.
    lines = assert_balanced(result, 500, '5.010')
    assert lines['udp'] == 'udp: 0 retransmits, 0 dropped datagrams'

    if not hasattr(client_cli, 'UdpClient'):
        return                              # no Python UDP client to compare with
    with udp_lockstep_server() as server:
        args = client_cli.build_parser().parse_args(['--udp', '--port', str(server.udp_port),
                                                     '--steps', '500'])
        out = io.StringIO()
        code, _ = client_cli.run(args, out)
    assert code == 0
    reference = summary_lines(out.getvalue())
    for key in ('steps', 'max |theta1|', 'final state [x, th1, th2, xd, th1d, th2d]',
                'result'):
        assert lines[key] == reference[key]


def state_datagram(seq, state):
    head = struct.pack('!I6d', seq, *state)
    return head + struct.pack('!I', zlib.crc32(head) & 0xFFFFFFFF)


class ScriptedUdpPeer:
    """
    A UDP plant written from docs/PROTOCOL.md that always answers ``state``.

    It records every command; it leaves the first try of seq 2 unanswered, and
    before its answer to seq 3 it sends a 55-byte datagram, one with a bad
    crc and one of the previous seq.
    """

    def __init__(self, state):
        self.state = state
        self.commands = []      # (seq, u, crc ok, length)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(('127.0.0.1', 0))
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self):
        while not self._stop.is_set():
            try:
                data, peer = self.sock.recvfrom(64)
            except socket.timeout:
                continue
            seq, u, crc = UDP_COMMAND.unpack(data[:16].ljust(16, b'\0'))
            self.commands.append((seq, u, crc == zlib.crc32(data[:12]) & 0xFFFFFFFF,
                                  len(data)))
            tries = sum(1 for c in self.commands if c[0] == seq)
            if seq == 2 and tries == 1:
                continue
            if seq == 3 and tries == 1:
                good = state_datagram(seq, self.state)
                self.sock.sendto(good[:55], peer)
                self.sock.sendto(good[:-1] + bytes([good[-1] ^ 1]), peer)
                self.sock.sendto(state_datagram(seq - 1, self.state), peer)
            self.sock.sendto(state_datagram(seq, self.state), peer)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(5)
        self.sock.close()


def test_udp_retransmits_and_drops_bad_datagrams(client):
    state = (0.01, 0.02, -0.01, 0.0, 0.0, 0.0)
    with ScriptedUdpPeer(state) as peer:
        result = run_client(client, '--udp', '--port', str(peer.port), '--steps', '10')
    lines = assert_balanced(result, 10, '0.110')
    assert lines['udp'] == 'udp: 1 retransmits, 3 dropped datagrams'
    assert [c[0] for c in peer.commands] == [1, 2, 2, *range(3, 12)]
    assert all(ok and length == UDP_COMMAND.size for _, _, ok, length in peer.commands)
    expected_u = controllers.lqr(0.01, max_force=20.0)(state)
    assert peer.commands[0][1] == 0.0
    # The C client hard-codes the gain to 17 digits (see the test above: 1e-9).
    assert [c[1] for c in peer.commands[1:]] == pytest.approx([expected_u] * 11, rel=1e-9)
