"""
The serial door (docs/serial.md): the compact framing from the page, bad input, both framings.

The plant's serial door runs on a pseudo-terminal (``serial_device='pty'``);
the client side here is plain ``os`` and ``termios`` on its other end, as
any program would open it.  Noise, a wrong CRC, partial frames and the
line closed mid-episode must each give a log line, a resynchronised or
cleanly ended session, and a plant that goes on.
"""

import binascii
import contextlib
import logging
import os
from pathlib import Path
import re
import select
import struct
import sys
import termios
import threading
import time
import tty

from plant_server_ros import PlantServer
from plant_server_ros.clients.tcp_client import LegacyClient
from plant_server_ros.legacy import protocol
from plant_server_ros.legacy.protocol import ErrorCode, MsgType, ProtocolError
import pytest

REPO = Path(__file__).resolve().parents[1]
DT = 0.01
INITIAL = (0.0, 0.05, -0.03, 0.0, 0.0, 0.0)


@pytest.fixture
def compact():
    pytest.importorskip('cobs', reason='the compact framing needs cobs (requirements/serial.txt)')
    from plant_server_ros.legacy import compact
    return compact


# -- the framing, from the page ------------------------------------------------------------
def page_vectors():
    text = (REPO / 'docs' / 'serial.md').read_text(encoding='utf-8')
    block = re.search(r'Test vectors.*?```\n(.*?)```', text, re.S).group(1).splitlines()
    return dict(zip(block[::2], block[1::2]))


def test_the_crc_is_ccitt_false_and_the_encoders_match_the_pages_vectors(compact):
    assert compact.crc16(b'123456789') == 0x29B1          # CRC-16/CCITT-FALSE check value
    vectors = page_vectors()
    assert vectors['CONTROL seq=1 u=1.5 cycles=4343'] == compact.encode_control(1.5, 1, 4343).hex()
    assert vectors['RESET seq=1 clock_hz=16000000'] == compact.encode_reset(1, 16000000).hex()
    assert vectors['STATE seq=1 [0, 0.05, -0.03, 0, 0, 0] t=0.01'] == \
        compact.encode_state(INITIAL, 0.01, 1).hex()
    assert vectors['ERROR seq=7 HALTED'] == compact.encode_error(ErrorCode.HALTED, 7).hex()
    # The sizes the page gives: 14-byte CONTROL, 34-byte STATE, 2 more on the wire.
    assert len(compact.encode_control(0.0)) == 16 and len(compact.encode_state(INITIAL, 0)) == 36


def test_a_frame_written_from_the_page_alone_decodes(compact):
    body = struct.pack('<BBHfI', 1, 0, 513, -2.5, 77)
    raw = body + struct.pack('<H', binascii.crc_hqx(body, 0xFFFF))
    wire = compact.frame(body)
    assert compact.cobs.decode(wire[:-1]) == raw
    assert wire[-1] == 0 and 0 not in wire[:-1]
    assert compact.parse_request(wire[:-1]) == (MsgType.CONTROL, 513, (-2.5, 77))


def test_the_deframer_resynchronises_after_noise_and_counts_what_it_drops(compact):
    good = compact.encode_control(1.0, 5)
    deframer = compact.Deframer()
    # Noise with no delimiter, longer than any frame: dropped up to the next delimiter.
    frames = deframer.feed(bytes(range(1, 200)) + b'\x00' + good)
    assert frames == [good[:-1]]
    assert deframer.counters['overflow'] == 1
    # A frame split anywhere comes out whole.
    frames = []
    for i in range(len(good)):
        frames += deframer.feed(good[i:i + 1])
    assert frames == [good[:-1]]
    # A partial frame the line went quiet in is dropped, and the next one served.
    deframer.feed(good[:5])
    assert deframer.drop_partial() and deframer.counters['partial'] == 1
    assert deframer.feed(good) == [good[:-1]]


@pytest.mark.parametrize('damage, kind', [
    (lambda f: f[:3] + bytes([f[3] ^ 0x10]) + f[4:], 'bad_crc'),
    (lambda f: f[:6] + f[7:], None),
    (lambda f: b'\x05\x01\x02', 'bad_cobs'),
])
def test_a_damaged_frame_is_refused_by_kind(compact, damage, kind):
    frame = compact.encode_control(3.0, 9)[:-1]
    with pytest.raises(compact.FrameError) as caught:
        compact.decode(damage(frame))
    if kind is not None:
        assert caught.value.kind == kind


def test_a_client_may_not_send_a_state_and_a_nan_force_is_not_finite(compact):
    with pytest.raises(ProtocolError) as caught:
        compact.parse_request(compact.encode_state(INITIAL, 0.0, 3)[:-1])
    assert caught.value.code is ErrorCode.BAD_TYPE and caught.value.seq == 3
    with pytest.raises(ProtocolError) as caught:
        compact.parse_request(compact.encode_control(float('nan'), 4)[:-1])
    assert caught.value.code is ErrorCode.NOT_FINITE


def test_the_wire_time_line_says_whether_the_period_fits():
    from plant_server_ros.legacy.serial_server import budget_line, wire_times
    up, down = wire_times('legacy', 115200)
    assert up + down == pytest.approx(128 * 10 / 115200)          # 11.1 ms: the figure
    assert 'does NOT fit a 10 ms period' in budget_line('legacy', 115200, 'none', 1, DT)
    assert 'fits a 10 ms period (45% of it)' in budget_line('compact', 115200, 'none', 1, DT)
    # Parity and a second stop bit: 12 bits a byte.
    assert wire_times('compact', 115200, 'even', 2)[0] == pytest.approx(16 * 12 / 115200)


# -- the door on a pseudo-terminal -----------------------------------------------------------
class Line:
    """The client's end of the pty, opened as a program would (raw, no controlling tty)."""

    def __init__(self, path):
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(self.fd, termios.TCSANOW)
        self.buffer = bytearray()

    def send(self, data):
        os.write(self.fd, data)

    def read_until(self, done, timeout=5.0):
        """Read until ``done(buffer)`` holds; return the buffer (cleared)."""
        deadline = time.monotonic() + timeout
        while not done(self.buffer):
            remaining = deadline - time.monotonic()
            assert remaining > 0, f'no reply within {timeout} s (got {bytes(self.buffer)!r})'
            if select.select([self.fd], [], [], remaining)[0]:
                self.buffer += os.read(self.fd, 4096)
        data = bytes(self.buffer)
        self.buffer.clear()
        return data

    def frame(self, timeout=5.0):
        return self.read_until(lambda b: 0 in b, timeout)

    def quiet(self, seconds=0.3):
        """Return what arrives within ``seconds`` (nothing, for a dropped frame)."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if select.select([self.fd], [], [], end - time.monotonic())[0]:
                self.buffer += os.read(self.fd, 4096)
        data = bytes(self.buffer)
        self.buffer.clear()
        return data

    def close(self):
        os.close(self.fd)


@contextlib.contextmanager
def serial_plant(framing='compact', mode='lockstep', **settings):
    if framing == 'compact':
        pytest.importorskip('cobs', reason='the compact framing needs cobs')
    log = logging.getLogger('test_serial.plant')
    server = PlantServer(bind_addr=('127.0.0.1', 0), mode=mode, seed=1, serial_device='pty',
                         serial_framing=framing, log=log, **settings)
    thread = threading.Thread(target=server.start, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stop()
        thread.join(10.0)
        server.close()


def reply(compact, line):
    return compact.parse_reply(line.frame()[:-1])


def test_compact_frames_drive_the_plant_and_a_retransmission_does_not_step(compact, caplog):
    caplog.set_level(logging.INFO)
    with serial_plant() as server:
        assert server.serial_path.startswith('/dev/')
        assert re.search(r'compact framing at 115200 baud .* fits a 10 ms period', caplog.text)
        line = Line(server.serial_path)
        line.send(compact.encode_reset(1, 16_000_000))
        seq, state, t, flags = reply(compact, line)
        assert (seq, t, flags) == (1, 0.0, compact.FLAG_RESET_REPLY)
        for k in range(2, 12):
            line.send(compact.encode_control(0.5, k, cycles=4000 + k))
            seq, state, t, flags = reply(compact, line)
            assert seq == k and t == pytest.approx((k - 1) * DT, abs=1e-6)
        steps = server.plant.steps
        line.send(compact.encode_control(0.5, 11, cycles=4011))       # the same seq again
        assert reply(compact, line)[0] == 11
        assert server.plant.steps == steps
        assert server.status()['serial_counters']['retransmissions'] == 1
        assert list(server.sessions.compute_cycles)[-1] == 4011
        line.close()


def test_noise_a_wrong_crc_and_a_partial_frame_are_dropped_logged_once_and_resynced(
        compact, caplog, monkeypatch):
    from plant_server_ros.legacy import serial_server
    # One line per minute at most here: however slow the machine, the four drops share it.
    monkeypatch.setattr(serial_server, 'DROP_LOG_PERIOD', 60.0)
    caplog.set_level(logging.INFO)
    with serial_plant() as server:
        line = Line(server.serial_path)
        line.send(compact.encode_reset(1))
        reply(compact, line)
        good = compact.encode_control(1.0, 2)
        bad_crc = bytearray(good)
        bad_crc[4] ^= 0x01
        line.send(bytes(range(1, 120)) + b'\x00')                 # line noise, then a delimiter
        line.send(bytes(bad_crc))                                  # a wrong CRC
        line.send(b'\x07\x01\x02\x00')                             # not a frame
        assert line.quiet() == b''                                 # nothing answers them
        line.send(good[:6])                                        # a partial frame ...
        time.sleep(0.3)                                            # ... the line goes quiet
        line.send(good)                                            # the next good one is served
        seq, _, t, _ = reply(compact, line)
        assert (seq, t) == (2, pytest.approx(DT))
        counters = server.status()['serial_counters']
        assert counters['overflow'] == 1 and counters['bad_crc'] >= 1 and counters['partial'] == 1
        drops = [r for r in caplog.records if 'dropped' in r.getMessage()]
        assert len(drops) == 1, [r.getMessage() for r in drops]        # rate-limited
        assert 'resynchronised' in drops[0].getMessage()
        line.close()


def test_the_line_closed_mid_episode_ends_the_session_and_the_plant_goes_on(compact, caplog):
    caplog.set_level(logging.INFO)
    with serial_plant() as server:
        line = Line(server.serial_path)
        line.send(compact.encode_reset(1))
        reply(compact, line)
        line.send(compact.encode_control(0.0, 2))
        reply(compact, line)
        assert server.sessions.holder is not None
        line.close()                                   # unplugged mid-episode
        deadline = time.monotonic() + 5.0
        while server.sessions.holder is not None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert server.sessions.holder is None
        closed = [r for r in caplog.records if 'closed' in r.getMessage()]
        assert len(closed) == 1 and 'the plant goes on' in closed[0].getMessage()
        # The seat is free: a TCP client takes it; then a serial client is BUSY.
        with LegacyClient(port=server.port) as tcp:
            tcp.reset()
            tcp.control(0.0)
            again = Line(server.serial_path)
            again.send(compact.encode_reset(5))
            with pytest.raises(ProtocolError) as caught:
                reply(compact, again)
            assert caught.value.code is ErrorCode.BUSY
        # The line comes back: a new session on it.
        time.sleep(0.1)
        again.send(compact.encode_reset(6))
        assert reply(compact, again)[0] == 6
        again.close()


def test_halted_then_reset_starts_the_next_episode_on_the_same_line(compact):
    with serial_plant(track_limit=0.05) as server:
        line = Line(server.serial_path)
        line.send(compact.encode_reset(1))
        reply(compact, line)
        code, seq = None, 1
        for seq in range(2, 500):
            line.send(compact.encode_control(20.0, seq))
            try:
                reply(compact, line)
            except ProtocolError as exc:
                code = exc.code
                break
        assert code is ErrorCode.HALTED                # an ERROR closes nothing ...
        line.send(compact.encode_reset(seq + 1))       # ... the client resets
        assert reply(compact, line)[2] == 0.0
        line.close()


def test_legacy_frames_over_the_line_and_bad_size_resyncs_after_quiet(caplog):
    caplog.set_level(logging.INFO)
    with serial_plant('legacy') as server:
        assert re.search(r'legacy framing at 115200 baud .* does NOT fit', caplog.text)
        line = Line(server.serial_path)
        frame = lambda: line.read_until(lambda b: len(b) >= 64)     # noqa: E731
        line.send(protocol.encode_reset())
        state, t = protocol.parse_reply(frame())
        assert t == 0.0
        line.send(protocol.encode_control(0.0))
        assert protocol.parse_reply(frame())[1] == pytest.approx(DT)
        # A frame out of step: BAD_SIZE, the rest is skipped until the line is quiet.
        line.send(b'\x01' * 10 + protocol.encode_control(0.0)[:54])
        with pytest.raises(ProtocolError) as caught:
            protocol.parse_reply(frame())
        assert caught.value.code is ErrorCode.BAD_SIZE
        line.send(b'\x02' * 30)                       # more junk, skipped
        time.sleep(0.3)
        line.send(protocol.encode_control(0.0))
        assert protocol.parse_reply(frame())[1] == pytest.approx(2 * DT)
        line.close()


def test_a_bad_serial_setting_or_a_missing_device_is_refused_by_name(tmp_path):
    from plant_server_ros.runtime.settings import SettingError
    with pytest.raises(SettingError, match='serial_framing'):
        PlantServer(bind_addr=('127.0.0.1', 0), serial_device='pty', serial_framing='slip')
    pytest.importorskip('serial', reason='a serial device needs pyserial')
    with pytest.raises(OSError) as caught:
        PlantServer(bind_addr=('127.0.0.1', 0), serial_device=str(tmp_path / 'ttyNONE'))
    assert 'serial' in str(caught.value.filename)


def test_dip_plant_server_names_a_missing_device_in_one_line(tmp_path, capsys):
    pytest.importorskip('serial', reason='a serial device needs pyserial')
    from plant_server_ros.server.cli import main
    assert main(['--port', '0', '--serial-device', str(tmp_path / 'ttyNONE')]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and 'ttyNONE' in err[0], err


# -- dip_test --door serial -------------------------------------------------------------------
SCENARIO = """\
name: short
seed: 1
duration: 1.0
criteria: {max_abs_theta: 0.3, max_compute_fraction: 0.05}
"""


@pytest.mark.parametrize('framing', ['compact', 'legacy'])
def test_dip_test_door_serial_judges_the_reference_serial_client(framing, tmp_path):
    if framing == 'compact':
        pytest.importorskip('cobs', reason='the compact framing needs cobs')
    pytest.importorskip('serial', reason='the reference serial client uses pyserial')
    from plant_server_ros.testing.runner import run_campaign
    # The reference client reports no cycles: no compute criterion here.
    (tmp_path / 'short.yaml').write_text(SCENARIO.replace(', max_compute_fraction: 0.05', ''))
    result = run_campaign(
        str(tmp_path / 'short.yaml'), [sys.executable, '-m',
                                       'plant_server_ros.clients.serial_client', '{device}',
                                       '--framing', framing],
        door='serial', settings={'serial_framing': framing}, repeat=2, timeout=20.0)
    assert result.passed and len(result.episodes) == 2, result


def test_cycles_a_controller_reports_are_in_the_report_and_judged(compact, tmp_path):
    """A controller that says 1600 cycles a step at 16 MHz: 0.1 ms, 0.01 of a 10 ms period."""
    from plant_server_ros.testing.outputs import compute_line
    from plant_server_ros.testing.runner import run_campaign
    (tmp_path / 'short.yaml').write_text(SCENARIO)
    script = tmp_path / 'chip.py'
    script.write_text(
        'import sys\n'
        'from plant_server_ros.clients.controllers import lqr\n'
        'from plant_server_ros.clients.serial_client import SerialClient\n'
        'from plant_server_ros.legacy.protocol import ErrorCode, ProtocolError\n'
        'law = lqr(max_force=20.0)\n'
        'with SerialClient(sys.argv[1]) as c:\n'
        '    state, _ = c.reset(clock_hz=16000000)\n'
        '    while True:\n'
        '        try:\n'
        '            state, _ = c.control(float(law(state)), cycles=1600)\n'
        '        except ProtocolError as exc:\n'
        '            if exc.code is ErrorCode.FINISHED:\n'
        '                break\n'
        '            state, _ = c.reset(clock_hz=16000000)\n')
    pytest.importorskip('serial', reason='the client uses pyserial')
    command = [sys.executable, str(script), '{device}']
    result = run_campaign(str(tmp_path / 'short.yaml'), command, door='serial', repeat=2,
                          timeout=20.0)
    assert result.passed, result
    for episode in result.episodes:
        m = episode.metrics
        assert m['compute_cycles_max'] == 1600 and m['compute_clock_hz'] == 16_000_000
        assert m['compute_fraction_max'] == pytest.approx(0.01)
        assert m['compute_steps'] >= 99
        assert '0.0100 of the period' in compute_line(m)


def test_dip_test_refuses_serial_flags_off_the_serial_door(capsys):
    from plant_server_ros.testing.cli import main
    assert main(['nominal.yaml', '--serial-framing', 'legacy', '--', 'true']) == 2
    assert 'needs --door serial' in capsys.readouterr().err


# -- the bridge node: the same door in front of the plant's topics ------------------------------
def test_the_bridge_node_serves_the_serial_door_from_its_parameters(compact):
    pytest.importorskip('rclpy', reason='rclpy (ROS 2 wheels or a sourced ROS) is needed',
                        exc_type=ImportError)
    from _ros_harness import bridge_port, NodeProcess, wait_until_served
    plant = NodeProcess('plant_node', '-r', '__ns:=/serial_br', '-p', 'mode:=lockstep',
                        '-p', 'sensor_noise_std:=0.0')
    bridge = NodeProcess('bridge_node', '-r', '__ns:=/serial_br', '-p', 'port:=0',
                         '-p', 'serial_device:=pty', '-p', 'serial_framing:=compact')
    try:
        wait_until_served(bridge_port(bridge))          # the plant is discovered
        path = bridge.wait_for(r'serial (/dev/\S+) \(compact, 115200 8N1\): .* fits').group(1)
        line = Line(path)
        line.send(compact.encode_reset(1, 16_000_000))
        assert reply(compact, line)[2] == 0.0
        for k in range(2, 7):
            line.send(compact.encode_control(0.0, k))
            seq, state, t, _ = reply(compact, line)
            assert seq == k and t == pytest.approx((k - 1) * DT, abs=1e-6)
        line.close()
    finally:
        assert bridge.stop() == 0, bridge.output
        assert plant.stop() == 0, plant.output


def test_real_time_the_plant_goes_on_after_the_line_closed(compact, caplog):
    caplog.set_level(logging.INFO)
    with serial_plant(mode='realtime') as server:
        line = Line(server.serial_path)
        line.send(compact.encode_reset(1))
        reply(compact, line)
        line.send(compact.encode_control(0.0, 2))
        reply(compact, line)
        line.close()
        deadline = time.monotonic() + 5.0
        while server.sessions.holder is not None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert server.sessions.holder is None
        steps = server.plant.total_steps
        time.sleep(0.2)
        assert server.plant.total_steps > steps           # it steps on, u = 0 held
        assert server.host.halted is None


def test_a_device_opened_by_path_that_goes_away_is_logged_once_and_waited_for(caplog):
    """The door opens a device through pyserial (a pty's other end stands in for a board)."""
    pytest.importorskip('serial', reason='a serial device needs pyserial')
    caplog.set_level(logging.INFO)
    board, device = os.openpty()
    tty.setraw(device, termios.TCSANOW)
    path = os.ttyname(device)
    os.close(device)
    log = logging.getLogger('test_serial.device')
    server = PlantServer(bind_addr=('127.0.0.1', 0), mode='lockstep', seed=1,
                         serial_device=path, serial_framing='legacy', log=log)
    thread = threading.Thread(target=server.start, daemon=True)
    thread.start()
    try:
        assert server.serial_path == path
        os.write(board, protocol.encode_reset())
        got = bytearray()
        deadline = time.monotonic() + 5.0
        while len(got) < 64 and time.monotonic() < deadline:
            if select.select([board], [], [], 0.5)[0]:
                got += os.read(board, 4096)
        assert protocol.parse_reply(bytes(got[:64]))[1] == 0.0
        os.close(board)                                  # the board is unplugged
        board = None
        deadline = time.monotonic() + 5.0
        while server.sessions.holder is not None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert server.sessions.holder is None
        time.sleep(1.5)                                  # it tries to reopen, quietly
        gone = [r for r in caplog.records if 'session ended' in r.getMessage()]
        assert len(gone) == 1 and path in gone[0].getMessage()
    finally:
        if board is not None:
            os.close(board)
        server.stop()
        thread.join(10.0)
        server.close()


def test_a_session_with_no_complete_frame_for_the_idle_timeout_gets_timeout(compact):
    with serial_plant(idle_timeout=0.3) as server:
        line = Line(server.serial_path)
        line.send(compact.encode_reset(1))
        reply(compact, line)
        line.send(b'\x05\x05\x05')                        # noise, never a frame
        with pytest.raises(ProtocolError) as caught:
            reply(compact, line)                          # what comes next: TIMEOUT
        assert caught.value.code is ErrorCode.TIMEOUT and caught.value.seq == 1
        deadline = time.monotonic() + 5.0               # the seat is freed right after
        while server.sessions.holder is not None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert server.sessions.holder is None
        line.send(compact.encode_reset(2))                # a new session on the same line
        assert reply(compact, line)[0] == 2
        line.close()


def test_dip_test_command_line_door_serial_with_its_framing_flag(tmp_path, capsys):
    pytest.importorskip('serial', reason='the reference serial client uses pyserial')
    from plant_server_ros.testing.cli import main
    (tmp_path / 'short.yaml').write_text(SCENARIO.replace(', max_compute_fraction: 0.05', ''))
    code = main([str(tmp_path / 'short.yaml'), '--door', 'serial', '--serial-framing', 'legacy',
                 '--out', str(tmp_path / 'out'), '--no-figures', '--',
                 sys.executable, '-m', 'plant_server_ros.clients.serial_client', '{device}',
                 '--framing', 'legacy'])
    assert code == 0, capsys.readouterr()
