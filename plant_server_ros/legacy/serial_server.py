"""
The serial transport: the legacy 64-byte frames or the compact framing on a UART (no ROS).

One thread serves the line: one request in flight is the protocol.  What a
request gets is decided by :class:`~.sessions.Sessions`, shared with TCP
and UDP, so a serial client and a network client are one "controlling
client" between them.  The line is a serial device opened with pyserial
(baud rate, parity, stop bits), or ``pty``: a pseudo-terminal pair made
here, whose other end (:attr:`SerialServer.path`) a client opens.

A line cannot be closed on a client as a socket can, so an ERROR ends
nothing: the client sends a RESET.  Noise, a partial frame or a wrong CRC
is dropped and counted, with one log line per second at most; the
receiver resynchronises at the next delimiter (compact) or after the line
has been quiet (legacy).  A device that goes away (the pty's other end
closed, a USB adapter unplugged) ends the session with one log line; the
door waits for it to come back and the plant goes on.  docs/serial.md.
"""

import collections
import errno
import fcntl
import logging
import os
import select
import termios
import threading
import time
import traceback
import tty

from . import compact
from .protocol import (encode_error, encode_state, ErrorCode, FRAME_SIZE, MsgType,
                       parse_request, ProtocolError, RESET_GIVEN)
from .sessions import Sessions
from ..runtime.settings import SETTINGS

_log = logging.getLogger(__name__)
PTY = 'pty'
FRAMINGS = ('legacy', 'compact')
PARITIES = {'none': 'N', 'even': 'E', 'odd': 'O'}
POLL = 0.05             # s; how often the loop looks at idle sessions and shutdown
REOPEN = 1.0            # s between tries to reopen a device that went away
DROP_LOG_PERIOD = 1.0   # s; at most one line about dropped frames per period
COUNTERS = ('bytes_in', 'bytes_out', 'unsent', 'retransmissions', 'flushed', 'partial',
            compact.BAD_COBS, compact.BAD_LENGTH, compact.BAD_CRC, compact.BAD_TYPE,
            compact.OVERFLOW)


class _PortGone(Exception):
    """The device went away (the pty's other end closed, the adapter unplugged)."""


def bits_per_byte(parity='none', stop_bits=1):
    """Return the bits a byte takes on the line: start, 8 data, parity, stop."""
    return 1 + 8 + (parity != 'none') + stop_bits


def wire_times(framing, baud, parity='none', stop_bits=1):
    """Return ``(request s, reply s)``: a CONTROL and a STATE on the wire at ``baud``."""
    if framing == 'legacy':
        sizes = (FRAME_SIZE, FRAME_SIZE)
    else:
        sizes = (compact.wire_size(MsgType.CONTROL), compact.wire_size(MsgType.STATE))
    bits = bits_per_byte(parity, stop_bits)
    return tuple(n * bits / float(baud) for n in sizes)


def budget_line(framing, baud, parity, stop_bits, period):
    """Return the start-up line: each frame's wire time, and whether a period fits."""
    up, down = wire_times(framing, baud, parity, stop_bits)
    size_up = FRAME_SIZE if framing == 'legacy' else compact.wire_size(MsgType.CONTROL)
    size_down = FRAME_SIZE if framing == 'legacy' else compact.wire_size(MsgType.STATE)
    total = up + down
    verdict = (f'fits a {period * 1e3:g} ms period ({total / period:.0%} of it)'
               if total <= period else
               f'does NOT fit a {period * 1e3:g} ms period (the wire alone takes '
               f'{total / period:.0%} of it: raise the baud rate or use the compact framing)')
    return (f'{framing} framing at {baud} baud {bits_per_byte(parity, stop_bits)} bits a byte: '
            f'CONTROL {size_up} B {up * 1e3:.2f} ms, STATE {size_down} B {down * 1e3:.2f} ms on '
            f'the wire, {total * 1e3:.2f} ms a round trip: {verdict}')


class _Pty:
    """A pseudo-terminal pair made here: the door reads its master, a client opens ``path``."""

    def __init__(self):
        master, slave = os.openpty()
        self.path = os.ttyname(slave)
        # Raw (no echo, no line editing, no CR/LF mapping) is what the line
        # discipline applies to bytes both ways: set once on the pair.
        tty.setraw(slave, termios.TCSANOW)
        os.close(slave)
        fcntl.fcntl(master, fcntl.F_SETFL, fcntl.fcntl(master, fcntl.F_GETFL) | os.O_NONBLOCK)
        self.fd = master
        self.present = False

    def read(self, timeout):
        """Return the bytes there within ``timeout`` s (b'' if none); _PortGone if no peer."""
        try:
            if not select.select([self.fd], [], [], timeout)[0]:
                return b''
            data = os.read(self.fd, 4096)
        except BlockingIOError:
            return b''
        except OSError as exc:
            if exc.errno == errno.EIO:      # no process has the other end open
                if self.present:
                    self.present = False
                    raise _PortGone(f'the other end of {self.path} closed') from None
                time.sleep(min(timeout, POLL))
                return b''
            raise
        self.present = True
        return data

    def read_now(self):
        """Return the bytes there now, without waiting (b'' if none)."""
        try:
            return os.read(self.fd, 4096)
        except BlockingIOError:
            return b''
        except OSError as exc:
            if exc.errno == errno.EIO and self.present:
                self.present = False
                raise _PortGone(f'the other end of {self.path} closed') from None
            if exc.errno == errno.EIO:
                return b''
            raise

    def write(self, data, timeout):
        """Write ``data``; False if the peer did not take it within ``timeout`` s."""
        return _write_all(self.fd, data, timeout)

    def reopen(self):
        """Return True: the pair stays; a client opens ``path`` again."""
        return True

    def close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


class _Device:
    """A serial device opened with pyserial: baud rate, parity, stop bits set."""

    def __init__(self, path, baud, parity, stop_bits):
        try:
            import serial
        except ImportError:
            raise ImportError('the serial door on a device needs pyserial '
                              '(requirements/serial.txt)') from None
        self._serial = serial
        self.path = path
        self.options = {'baudrate': baud, 'parity': PARITIES[parity], 'stopbits': stop_bits,
                        'bytesize': 8, 'timeout': 0, 'write_timeout': 1.0, 'exclusive': True}
        self.port = None
        self._open()

    def _open(self):
        try:
            self.port = self._serial.Serial(self.path, **self.options)
        except self._serial.SerialException as exc:
            number = getattr(exc, 'errno', None) or errno.ENODEV
            raise OSError(number, str(exc).split(': ', 1)[-1] or os.strerror(number)) from None
        self.fd = self.port.fileno()

    def read(self, timeout):
        if self.port is None:
            time.sleep(timeout)
            return b''
        try:
            if not select.select([self.fd], [], [], timeout)[0]:
                return b''
            return self.port.read(max(1, self.port.in_waiting))
        except (OSError, ValueError, self._serial.SerialException) as exc:
            self._drop()
            raise _PortGone(f'{self.path}: {exc}') from None

    def read_now(self):
        if self.port is None:
            return b''
        try:
            return self.port.read(4096)           # timeout 0: what is there
        except (OSError, ValueError, self._serial.SerialException) as exc:
            self._drop()
            raise _PortGone(f'{self.path}: {exc}') from None

    def write(self, data, timeout):
        if self.port is None:
            return False
        return _write_all(self.fd, data, timeout)

    def reopen(self):
        """Try to open the device again; True once it is back."""
        if self.port is not None:
            return True
        try:
            self._open()
        except OSError:
            return False
        return True

    def _drop(self):
        try:
            self.port.close()
        except Exception:  # noqa: B902 - it is gone already
            pass
        self.port = None

    def close(self):
        if self.port is not None:
            self._drop()


def _write_all(fd, data, timeout):
    view = memoryview(data)
    deadline = time.monotonic() + timeout
    while view:
        try:
            n = os.write(fd, view)
        except BlockingIOError:
            n = 0
        except OSError:
            return False
        view = view[n:]
        if view:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([], [fd], [], remaining)[1]:
                return False
    return True


class _Client:
    """Whoever is on the line while it controls the plant (one seat, shared with TCP/UDP)."""

    def __init__(self, address, idle_timeout):
        self.address = address
        self.idle_timeout = idle_timeout
        self.last_seen = time.monotonic()
        self.gone = False
        self.last_seq = None
        self.last_reply = None
        self.clock_hz = 0

    def alive(self):
        return not self.gone and time.monotonic() - self.last_seen < self.idle_timeout


class SerialServer:
    """Serve the legacy or the compact framing on a device (or ``'pty'``) for ``sessions``."""

    def __init__(self, sessions, device, baud=SETTINGS['serial_baud'].default,
                 parity=SETTINGS['serial_parity'].default,
                 stop_bits=SETTINGS['serial_stop_bits'].default,
                 framing=SETTINGS['serial_framing'].default,
                 idle_timeout=SETTINGS['idle_timeout'].default, period=None, log=None,
                 busy_poll=0.0):
        self.sessions = sessions if isinstance(sessions, Sessions) else Sessions(sessions)
        self.log = log if log is not None else _log
        if framing not in FRAMINGS:
            raise ValueError(f'serial_framing: must be one of {list(FRAMINGS)}, got {framing!r}')
        self.framing, self.baud, self.parity, self.stop_bits = framing, baud, parity, stop_bits
        self.idle_timeout = float(idle_timeout)
        # s to poll for the next request after a reply before sleeping (lock-step).
        self.busy_poll = float(busy_poll)
        self.port = _Pty() if device == PTY else _Device(device, baud, parity, stop_bits)
        self.path = self.port.path
        self.address = (self.path, baud)
        up, down = wire_times(framing, baud, parity, stop_bits)
        # A partial frame older than this (no byte for so long) is dropped.
        self.stale = max(0.05, 4.0 * max(up, down))
        # Every key made now: status() copies the dict while this door counts.
        self.counters = collections.Counter(dict.fromkeys(COUNTERS, 0))
        self._deframer = compact.Deframer()
        self._buffer = bytearray()            # legacy framing: bytes of a frame so far
        self._flush_until_quiet = False
        self._last_byte = 0.0
        self._client = None
        self._drops = collections.Counter()
        self._drop_logged = 0.0
        self._last_drop = ''
        self._closing = False
        self._stopped = threading.Event()
        self.budget = None if period is None else budget_line(framing, baud, parity, stop_bits,
                                                              period)
        # Whether a request and its reply fit the control period on the wire.
        self.fits = period is None or up + down <= period
        self._thread = threading.Thread(target=self._loop, daemon=True, name='legacy-serial')

    def start(self):
        self._thread.start()
        return self

    def describe(self):
        """Return where and how it serves: ``'serial /dev/pts/3 (compact, 115200 8N1)'``."""
        return (f'serial {self.path} ({self.framing}, {self.baud} '
                f'8{PARITIES[self.parity]}{self.stop_bits})')

    # -- the loop ---------------------------------------------------------------
    def _loop(self):
        data = b''
        while not self._closing:
            try:
                if not data:
                    data = self.port.read(POLL)
            except _PortGone as exc:
                self._gone(str(exc))
                continue
            except OSError as exc:
                if self._closing:
                    return
                self._gone(f'{self.path}: {exc}')
                continue
            now = time.monotonic()
            try:
                if data:
                    self.counters['bytes_in'] += len(data)
                    self._last_byte = now
                    self._take(data)
                else:
                    self._quiet(now)
                self._idle(now)
            except Exception:  # noqa: B902 - one bad request must not stop the door
                self.log.error(f'serial {self.path}: a request failed:\n'
                               f'{traceback.format_exc()}')
            self._log_drops(now)
            try:
                data = self._poll() if data and self.busy_poll > 0.0 else b''
            except (_PortGone, OSError) as exc:
                data = b''
                if not self._closing:
                    self._gone(str(exc))

    def _poll(self):
        """Return the next bytes if they come within ``busy_poll`` s, polling awake."""
        # A lock-step client's next request comes within tens of microseconds:
        # catching it awake saves the thread's wake-up (as the TCP door does).
        clock = time.perf_counter
        end = clock() + self.busy_poll
        read = self.port.read_now
        while clock() < end:
            data = read()
            if data:
                return data
        return b''

    def _gone(self, why):
        """End the session of a device that went away (one line); wait for it to come back."""
        client = self._client
        self._deframer.drop_partial()
        self._buffer.clear()
        if client is not None:
            client.gone = True
            self._end_session(f'{why}; the plant goes on')
        else:
            self.log.info(f'serial {self.path}: {why}')
        while not self._closing and not self.port.reopen():
            self._stopped.wait(REOPEN)
        if not self._closing and not isinstance(self.port, _Pty):
            self.log.info(f'serial {self.path}: open again')

    def _quiet(self, now):
        """No byte for a while: drop a stale partial frame."""
        if now - self._last_byte > self.stale:
            self._flush_until_quiet = False
            if self._buffer:
                self._drop('partial', f'{len(self._buffer)} bytes, then silence')
                self._buffer.clear()
            pending = self._deframer.pending
            if self._deframer.drop_partial() and pending:
                self._drop('partial', f'{pending} bytes, then silence')

    def _idle(self, now):
        """End a session with no complete frame for the idle timeout (noise or silence)."""
        client = self._client
        if client is not None and now - client.last_seen >= self.idle_timeout:
            self.log.warning(f'serial {self.path}: no complete frame for '
                             f'{self.idle_timeout:g} s: TIMEOUT, session ended')
            self.sessions.errors[ErrorCode.TIMEOUT.name] += 1
            self._send(self._error(ErrorCode.TIMEOUT, client.last_seq))
            self._end_session('idle')

    def _take(self, data):
        if self.framing == 'compact':
            deframer = self._deframer
            overflows = deframer.counters[compact.OVERFLOW]
            for frame in deframer.feed(data):
                self._compact(frame)
            more = deframer.counters[compact.OVERFLOW] - overflows
            if more:
                self._drop(compact.OVERFLOW, 'more than 64 bytes without a delimiter', more)
            return
        if self._flush_until_quiet:
            self.counters['flushed'] += len(data)
            return
        self._buffer += data
        while len(self._buffer) >= FRAME_SIZE and not self._flush_until_quiet:
            frame = bytes(self._buffer[:FRAME_SIZE])
            del self._buffer[:FRAME_SIZE]
            self._legacy(frame)

    # -- requests ---------------------------------------------------------------
    def _claim(self):
        """Return the client on the line if it holds the seat (claimed now if free), else None."""
        client = self._client
        if client is not None and self.sessions.holder is client:
            client.last_seen = time.monotonic()          # the hot path: it holds the seat
            return client
        if client is None:
            client = _Client(self.address, self.idle_timeout)
        if not self.sessions.claim(client, client.alive):
            return None
        if self._client is not client:
            self._client = client
            self.log.info(f'serial {self.path}: a client started a session')
        client.last_seen = time.monotonic()
        return client

    def _legacy(self, frame):
        client = self._claim()
        if client is None:
            self.sessions.errors[ErrorCode.BUSY.name] += 1
            self._send(encode_error(ErrorCode.BUSY))
            return
        arrived = time.monotonic()
        try:
            msg_type, p = parse_request(frame)
            if msg_type is MsgType.CONTROL:
                state, t = self.sessions.control(p[0])
            else:
                state, t = self.sessions.reset(p[:6] if p[6] == RESET_GIVEN else None)
            reply = encode_state(state, t)
        except ProtocolError as exc:
            self._refused(exc)
            if exc.code is ErrorCode.BAD_SIZE:
                # The stream is out of step: skip what follows until the line is quiet.
                self._buffer.clear()
                self._flush_until_quiet = True
            reply = encode_error(exc.code)
        self._reply(reply, arrived)

    def _compact(self, frame):
        try:
            msg_type, seq, fields = compact.parse_request(frame)
        except compact.FrameError as exc:
            self._drop(exc.kind, str(exc))
            return
        except ProtocolError as exc:
            self._refused(exc)
            self._send(compact.encode_error(exc.code, exc.seq))
            return
        client = self._claim()
        if client is None:
            self.sessions.errors[ErrorCode.BUSY.name] += 1
            self._send(compact.encode_error(ErrorCode.BUSY, seq))
            return
        if msg_type is MsgType.CONTROL and seq == client.last_seq and client.last_reply:
            # The client did not hear the reply and sent its request again.
            self.counters['retransmissions'] += 1
            self._send(client.last_reply)
            return
        arrived = time.monotonic()
        try:
            if msg_type is MsgType.CONTROL:
                state, t = self.sessions.control(fields[0])
                if fields[1]:
                    self.sessions.note_compute(fields[1], client.clock_hz)
                reply = compact.encode_state(state, t, seq)
            else:
                client.clock_hz = fields[1]
                state, t = self.sessions.reset()
                reply = compact.encode_state(state, t, seq, compact.FLAG_RESET_REPLY)
        except ProtocolError as exc:
            self._refused(exc)
            reply = compact.encode_error(exc.code, seq)
        client.last_seq, client.last_reply = seq, reply
        self._reply(reply, arrived)

    def _refused(self, exc):
        self.sessions.note_error(exc.code)
        text = f'serial {self.path}: {exc.code.name}: {exc}'
        # A halted or finished episode is the end of a scenario, not a fault.
        if exc.code in (ErrorCode.FINISHED, ErrorCode.HALTED):
            self.log.info(text)
        else:
            self.log.warning(text)

    def _error(self, code, seq):
        if self.framing == 'legacy':
            return encode_error(code)
        return compact.encode_error(code, seq or 0)

    def _reply(self, reply, arrived):
        delay = self.sessions.network.delay()
        if delay > 0.0:
            time.sleep(delay)
        self._send(reply)
        self.sessions.note_reply(time.monotonic() - arrived)

    def _send(self, data):
        if self.port.write(data, self.idle_timeout):
            self.counters['bytes_out'] += len(data)
        else:
            self.counters['unsent'] += 1

    # -- what is dropped, said at most once a period ---------------------------
    def _drop(self, kind, detail, count=1):
        self.counters[kind] += count
        self._drops[kind] += count
        self._last_drop = f'{kind}: {detail}'
        self._log_drops(time.monotonic())

    def _log_drops(self, now):
        if not self._drops or now - self._drop_logged < DROP_LOG_PERIOD:
            return
        counts = ', '.join(f'{k} {v}' for k, v in sorted(self._drops.items()))
        self.log.warning(f'serial {self.path}: dropped {sum(self._drops.values())} bad or '
                         f'partial frame(s) ({counts}); last {self._last_drop}; resynchronised '
                         'at the next frame')
        self._drops.clear()
        self._drop_logged = now

    def _end_session(self, why):
        client, self._client = self._client, None
        if client is None:
            return
        counts = ', '.join(f'{k} {v}' for k, v in sorted(self.counters.items()) if v)
        # Said before the seat is free: whoever sees it free finds the line in the log.
        self.log.info(f'serial {self.path}: session ended ({why}); counters: {counts}')
        self.sessions.release(client)

    def close(self, timeout=1.0):
        """Stop serving; the device is closed on return (idempotent)."""
        if self._closing:
            return
        self._closing = True
        self._stopped.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        self._end_session('door closing')
        self.port.close()
