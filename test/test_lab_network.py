"""
Doors on a lab network: allowlists (TCP, UDP, live view), exposure warning, token, view-only.

Other hosts are the loopback range's other addresses: a client bound to
127.0.0.2 connects to a server that allows only 127.0.0.1.
"""

import json
import logging
import os
from pathlib import Path
import socket
import struct
import subprocess
import sys
import threading
import time

from plant_server_ros import PlantServer
from plant_server_ros.inputs.allowlist import Allowlist, parse
from plant_server_ros.runtime.plant import Plant
import pytest

REPO = Path(__file__).resolve().parents[1]
HOST, OTHER = '127.0.0.1', '127.0.0.2'
FRAME = struct.Struct('!II7d')
WAIT = 5.0


def other_host_works():
    with socket.socket() as probe:
        try:
            probe.bind((OTHER, 0))
        except OSError:
            return False
    return True


needs_other = pytest.mark.skipif(not other_host_works(), reason=f'cannot bind {OTHER}')


def serving(**kwargs):
    ready = threading.Event()
    server = PlantServer(bind_addr=(HOST, 0), mode='lockstep', server_ready_event=ready,
                         sensor_noise_std=0.0, **kwargs)
    thread = threading.Thread(target=server.start, daemon=True)
    thread.start()
    assert ready.wait(10)

    def stop():
        server.stop()
        thread.join(10)
        server.close()
    return server, stop


def tcp_reset(source, port):
    """Connect from ``source``, send RESET; return the reply bytes (b'' on a close)."""
    with socket.socket() as sock:
        sock.bind((source, 0))
        sock.settimeout(WAIT)
        sock.connect((HOST, port))
        try:
            sock.sendall(FRAME.pack(56, 3, 0, 0, 0, 0, 0, 0, 0))
        except OSError:
            return b''
        data = b''
        while len(data) < 64:
            try:
                chunk = sock.recv(64 - len(data))
            except ConnectionResetError:
                return b''
            if not chunk:
                break
            data += chunk
        return data


# -- the allowlist itself -------------------------------------------------------------------
def test_parse_takes_a_comma_list_or_a_list_and_names_a_bad_entry():
    assert [str(n) for n in parse('127.0.0.1, 10.0.0.0/8')] == ['127.0.0.1/32', '10.0.0.0/8']
    assert [str(n) for n in parse(['192.168.1.7/24'])] == ['192.168.1.0/24']
    assert parse(None) is None
    with pytest.raises(ValueError, match="allow: '10.0.0.0/33' is not a network"):
        parse('10.0.0.0/33')
    with pytest.raises(ValueError, match="allow: 'lab-pc' is not a network"):
        parse('127.0.0.1,lab-pc')
    with pytest.raises(ValueError, match='names no network'):
        parse(' , ')


@pytest.mark.parametrize('host, served', [
    ('127.0.0.1', True), ('127.0.0.2', False), ('127.0.0.10', False), ('127.0.0.1.', False),
    ('::ffff:127.0.0.1', True), ('::ffff:127.0.0.2', False), ('0127.0.0.1', False),
    ('localhost', False), ('', False), ('127.0.0.1/32', False), ('::1', False)])
def test_an_allowlist_of_one_address_serves_only_it(host, served):
    assert Allowlist('127.0.0.1', HOST).permits(host) is served


@pytest.mark.parametrize('bind, host, served', [
    ('127.0.0.1', '127.0.0.2', True), ('127.0.0.1', '127.255.255.254', True),
    ('127.0.0.1', '::1', True), ('127.0.0.1', '10.0.0.1', False),
    ('127.0.0.1', '128.0.0.1', False), ('localhost', '192.168.1.2', False),
    ('0.0.0.0', '192.168.1.2', True), ('192.168.1.2', '10.1.1.1', True)])
def test_the_default_rule(bind, host, served):
    allow = Allowlist(None, bind)
    assert allow.permits(host) is served
    warning = allow.exposure('TCP door', f'{bind}:5555')
    if bind in ('127.0.0.1', 'localhost'):
        assert warning is None
    else:
        assert f'TCP door on {bind}:5555 is bound beyond loopback with no allowlist' in warning


def test_an_allowlist_beyond_loopback_warns_of_nothing():
    assert Allowlist('192.168.1.0/24', '0.0.0.0').exposure('TCP door', '0.0.0.0:1') is None


def test_refusals_are_counted_and_logged_at_most_once_a_second(caplog):
    allow = Allowlist('127.0.0.1', HOST)
    log = logging.getLogger('test_lab_network')
    with caplog.at_level(logging.WARNING, 'test_lab_network'):
        for _ in range(50):
            allow.refuse(log, 'TCP door', '127.0.0.2:1')
    assert allow.refused == 50
    assert len(caplog.records) == 1 and 'refused 127.0.0.2:1' in caplog.records[0].message


# -- TCP and UDP ----------------------------------------------------------------------------
@needs_other
def test_tcp_refuses_another_host_with_a_clean_close_and_serves_the_allowed():
    server, stop = serving(allow='127.0.0.1/32')
    try:
        assert tcp_reset(OTHER, server.port) == b''
        assert server._tcp.allow.refused == 1
        reply = tcp_reset(HOST, server.port)
        assert FRAME.unpack(reply)[:2] == (56, 2)
    finally:
        stop()


@needs_other
def test_tcp_on_loopback_serves_the_loopback_range_by_default():
    server, stop = serving()
    try:
        assert FRAME.unpack(tcp_reset(OTHER, server.port))[:2] == (56, 2)
    finally:
        stop()


@needs_other
def test_udp_counts_a_refused_datagram_as_foreign():
    from plant_server_ros.legacy.datagram import encode_command
    server, stop = serving(allow='127.0.0.1', udp_addr=(HOST, 0))
    try:
        for source, answered in ((OTHER, False), (HOST, True)):
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.bind((source, 0))
                sock.settimeout(0.5)
                sock.sendto(encode_command(1, 0.0), (HOST, server.udp_port))
                try:
                    sock.recvfrom(2048)
                    got = True
                except socket.timeout:
                    got = False
            assert got is answered, source
        assert server._udp.counters['foreign'] == 1
        assert server._udp.counters['accepted'] == 1
    finally:
        stop()


def test_cli_bad_allow_exits_2_in_one_line():
    env = dict(os.environ, PYTHONPATH=str(REPO))
    result = subprocess.run([sys.executable, '-m', 'plant_server_ros.server.cli', '--port', '0',
                             '--allow', '10.0.0.0/33'], env=env, capture_output=True,
                            text=True, timeout=30)
    lines = (result.stdout + result.stderr).strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1, lines
    assert '--allow' in lines[0] and '10.0.0.0/33' in lines[0]


def test_plant_server_refuses_a_bad_allow_before_listening():
    from plant_server_ros.server.config import ConfigError
    with pytest.raises(ConfigError, match='allow:'):
        PlantServer(bind_addr=(HOST, 0), allow=['nonsense'])


# -- the live view --------------------------------------------------------------------------
live_view = None


@pytest.fixture
def view_of():
    global live_view
    live_view = pytest.importorskip('plant_server_ros.doors.web.live_view',
                                    reason='websockets is not installed')
    views = []

    class Actions:
        calls = []

        def reset(self):
            self.calls.append('reset')

        def push(self, *args):
            self.calls.append('push')

        def estop(self):
            self.calls.append('estop')

    def make(**kwargs):
        actions = Actions()
        view = live_view.LiveView(Plant(dt=0.01), actions, HOST, 0, **kwargs).start()
        views.append(view)
        return view, actions
    yield make
    for view in views:
        view.close()


def http_status(port, path='/', host=None, origin=None, source=HOST, upgrade=False):
    """Send one raw HTTP request from ``source``; return the status code (0: closed)."""
    lines = [f'GET {path} HTTP/1.1', f'Host: {host or f"{HOST}:{port}"}']
    if origin:
        lines.append(f'Origin: {origin}')
    if upgrade:
        lines += ['Upgrade: websocket', 'Connection: Upgrade', 'Sec-WebSocket-Version: 13',
                  'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==']
    with socket.socket() as sock:
        sock.bind((source, 0))
        sock.settimeout(WAIT)
        sock.connect((HOST, port))
        sock.sendall(('\r\n'.join(lines) + '\r\n\r\n').encode())
        head = sock.recv(4096)
    return int(head.split()[1]) if head else 0


@needs_other
def test_live_view_refuses_a_host_off_its_allowlist(view_of):
    view, _ = view_of(allow=['127.0.0.1/32'])
    assert http_status(view.port, source=OTHER) == 403
    assert http_status(view.port, source=HOST) == 200
    assert view.refused['allow'] == 1


def test_live_view_origin_and_host_hostile_variants(view_of):
    view, _ = view_of()
    port = view.port
    own = f'http://{HOST}:{port}'
    assert http_status(port, '/ws', origin=own, upgrade=True) == 101
    for origin in (f'http://{HOST}:{port + 1}', f'http://{HOST}', f'https://{HOST}:{port}',
                   f'http://{HOST}:{port}.evil.example', f'http://localhost:{port}',
                   f'http://{HOST}.evil.example:{port}', 'null'):
        assert http_status(port, '/ws', origin=origin, upgrade=True) == 403, origin
    for host in (f'localhost.evil.example:{port}', f'127.0.0.1.evil.example:{port}',
                 f'evil-localhost:{port}', f'localhost-evil.example:{port}'):
        assert http_status(port, '/', host=host) == 403, host
    assert http_status(port, '/', host=f'localhost:{port}') == 200
    assert view.refused['origin'] == 7 and view.refused['host'] == 4


def test_live_view_token(view_of):
    view, _ = view_of(token='s3cret')
    assert view.url.endswith('/?token=s3cret')
    port = view.port
    assert http_status(port, '/ws', upgrade=True) == 403
    assert http_status(port, '/ws?token=s3cre', upgrade=True) == 403
    assert http_status(port, '/ws?token=s3cretX', upgrade=True) == 403
    assert http_status(port, '/ws?token=s3cret', upgrade=True) == 101
    assert http_status(port, '/') == 200                     # the page itself is public
    assert view.refused['token'] == 3


def test_live_view_beyond_loopback_makes_a_token_and_on_loopback_none():
    lv = pytest.importorskip('plant_server_ros.doors.web.live_view')
    plant = Plant(dt=0.01)
    beyond = lv.LiveView(plant, None, '192.0.2.1', 8080)     # not started: nothing binds
    assert len(beyond.token) >= 20 and beyond.url.endswith(f'?token={beyond.token}')
    assert lv.LiveView(plant, None, '192.0.2.1', 8080).token != beyond.token
    assert lv.LiveView(plant, None, HOST, 8080).token == ''
    assert lv.LiveView(plant, None, '192.0.2.1', 8080, token='').token == ''


def test_live_view_view_only_offers_and_runs_no_command(view_of):
    from websockets.sync.client import connect
    view, actions = view_of(view_only=True)
    with connect(f'ws://{HOST}:{view.port}/ws') as ws:
        hello = json.loads(ws.recv(timeout=WAIT))
        assert hello['type'] == 'hello' and hello['commands'] == []
        for cmd in ('reset', 'push', 'estop'):
            ws.send(json.dumps({'cmd': cmd, 'id': cmd}))
            deadline = time.monotonic() + WAIT
            while time.monotonic() < deadline:
                reply = json.loads(ws.recv(timeout=WAIT))
                if reply['type'] in ('reply', 'error'):
                    break
            assert reply['type'] == 'error' and 'view-only' in reply['error'], reply
    assert actions.calls == []
