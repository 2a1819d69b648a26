"""
The original project's UDP transport: sessions by address, ``seq`` rules (no ROS).

One thread serves the socket: the protocol is one command in flight, and a
request blocks only until the plant answers (one period in real time).  What
a command gets is decided by :class:`~.sessions.Sessions`, shared with TCP,
so a UDP client and a TCP client are one "controlling client" between them.

Per docs/PROTOCOL.md: ``seq`` = 1, a ``seq`` lower than the last accepted,
or the first datagram of a new session starts a new episode (reset to the
configured state, then the command is applied); the same ``seq`` again gets
the same reply without stepping; bad datagrams are dropped and counted; a
halted plant answers with its last valid state until a new episode.
"""

import logging
import socket
import struct
import threading
import time
import traceback

from .datagram import BAD_CHECKSUM, BAD_LENGTH, DatagramError, decode_command, encode_state, \
    NOT_FINITE, ORIGINAL_PORT
from .protocol import ErrorCode, ProtocolError
from .sessions import Sessions
from ..inputs.allowlist import Allowlist
from ..runtime.settings import SETTINGS

_log = logging.getLogger(__name__)
POLL = 0.1              # s; how often the loop looks at idle sessions and shutdown
COUNTERS = ('accepted', 'retransmissions', 'episodes', 'stale', BAD_LENGTH, BAD_CHECKSUM,
            NOT_FINITE, 'foreign', 'unanswered', 'lost', 'corrupted')


class _Peer:
    """One client address while it controls the plant."""

    def __init__(self, address, idle_timeout):
        self.address = address
        self.idle_timeout = idle_timeout
        self.last_seen = time.monotonic()
        self.last_seq = None
        self.last_reply = None

    def alive(self):
        return time.monotonic() - self.last_seen < self.idle_timeout


class UdpServer:
    """Serve the UDP datagrams on ``(host, port)`` for ``sessions`` (a backend is wrapped)."""

    def __init__(self, sessions, host=SETTINGS['udp_bind_address'].default, port=ORIGINAL_PORT,
                 idle_timeout=SETTINGS['idle_timeout'].default, log=None, busy_poll=0.0,
                 allow=None):
        self.sessions = sessions if isinstance(sessions, Sessions) else Sessions(sessions)
        # Client networks served (None: loopback when bound to it, else anyone).
        self.allow = Allowlist(allow, host)
        self.log = log if log is not None else _log
        self.idle_timeout = float(idle_timeout)
        self.busy_poll = float(busy_poll)   # s to poll for the next command before sleeping
        self.counters = dict.fromkeys(COUNTERS, 0)
        self._peer = None
        self._closing = False
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self._sock.bind((host, port))
        except OSError:
            self._sock.close()
            raise
        # A kernel timeout on a blocking socket: one system call per datagram.
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO,
                              struct.pack('ll', 0, int(POLL * 1e6)))
        self.address = self._sock.getsockname()
        warning = self.allow.exposure('UDP door', '%s:%d' % self.address[:2])
        if warning:
            self.log.warning(warning)
        self._thread = threading.Thread(target=self._loop, daemon=True, name='legacy-udp')

    def start(self):
        self._thread.start()
        return self

    def _loop(self):
        while not self._closing:
            try:
                data, address = self._receive()
            except (BlockingIOError, socket.timeout):
                self._end_idle_session()
                continue
            except OSError:
                if self._closing:
                    return
                continue
            try:
                reply = self._answer(data, address)
            except Exception:  # noqa: B902 - one bad datagram must not stop the server
                self.log.error(f'udp datagram from {address[0]}:{address[1]} failed:\n'
                               f'{traceback.format_exc()}')
                continue
            if reply is None:
                continue
            network = self.sessions.network
            if network.lost():
                self.counters['lost'] += 1
                continue
            delay = network.delay()
            if delay > 0.0:
                time.sleep(delay)
            sent = network.corrupt(reply)
            if sent is not reply:
                self.counters['corrupted'] += 1
            try:
                self._sock.sendto(sent, address)
            except OSError:
                pass                     # the client's receive timeout handles a lost reply

    def _receive(self):
        if self.busy_poll > 0.0 and self._peer is not None:
            # A lock-step client's next command comes within tens of
            # microseconds: catching it awake saves a thread wake-up.
            end = time.perf_counter() + self.busy_poll
            while time.perf_counter() < end:
                try:
                    return self._sock.recvfrom(2048, socket.MSG_DONTWAIT)
                except BlockingIOError:
                    pass
        return self._sock.recvfrom(2048)

    def _answer(self, data, address):
        """Return the reply datagram, or None to drop (counted)."""
        if not self.allow.permits(address[0]):
            self.counters['foreign'] += 1       # not on the allowlist: never decoded
            return None
        try:
            seq, u = decode_command(data)
        except DatagramError as exc:
            self.counters[exc.kind] += 1
            return None
        # A session silent past the idle timeout ends here too, not only when
        # the socket has been quiet for POLL: its seat may have gone to another
        # client (TCP), and its next datagram starts a new session.
        now = time.monotonic()
        peer = self._peer
        if peer is not None and now - peer.last_seen >= peer.idle_timeout:
            self._end_session(f'idle for {self.idle_timeout:g} s')
            peer = None
        if peer is None or peer.address != address:
            peer = _Peer(address, self.idle_timeout)
            if not self.sessions.claim(peer, peer.alive):
                self.counters['foreign'] += 1
                return None
            self._end_session('another client took over')
            self._peer = peer
            self.log.info(f'udp client {address[0]}:{address[1]} started a session')
        peer.last_seen = now
        if seq == peer.last_seq:
            self.counters['retransmissions'] += 1
            return peer.last_reply
        new_episode = peer.last_seq is None or seq == 1 or seq < peer.last_seq
        if peer.last_seq is not None and 1 < seq < peer.last_seq:
            self.counters['stale'] += 1        # out of order, not a restart at 1
        try:
            if new_episode:
                self.counters['episodes'] += 1
                self.sessions.reset()
            state, _ = self.sessions.control(u)
        except ProtocolError as exc:
            last = getattr(getattr(exc, 'cause', None), 'last', None)
            if exc.code is not ErrorCode.HALTED or last is None:
                self.counters['unanswered'] += 1
                self.log.warning(f'udp command {seq}: {exc.code.name}: {exc}')
                return None
            state = last[0]            # halted: the last valid state, no step
        self.counters['accepted'] += 1
        self.sessions.note_reply(time.monotonic() - now)
        peer.last_seq = seq
        peer.last_reply = encode_state(seq, state)
        return peer.last_reply

    def _end_idle_session(self):
        peer = self._peer
        if peer is not None and not peer.alive():
            self._end_session(f'idle for {self.idle_timeout:g} s')

    def _end_session(self, why):
        peer, self._peer = self._peer, None
        if peer is None:
            return
        self.sessions.release(peer)
        counts = ', '.join(f'{k} {v}' for k, v in self.counters.items() if v)
        self.log.info(f'udp client {peer.address[0]}:{peer.address[1]} session ended '
                      f'({why}); counters: {counts or "none"}')

    def close(self, timeout=1.0):
        """Stop serving; the port is free on return (idempotent)."""
        if self._closing:
            return
        self._closing = True
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        self._sock.close()
        self._end_session('server closing')
