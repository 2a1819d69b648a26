"""
The legacy 64-byte TCP transport: connections, framing, timeouts (no ROS).

Thread per connection: a blocking 64-byte round trip costs as little as a
``selectors`` loop on loopback, and a slow or hostile peer can only ever
stall its own thread.  Connections beyond the controlling one are answered
BUSY from the accept loop itself and closed, so a flood costs no threads.

What a request gets is decided by :class:`~.sessions.Sessions`, shared with
the other transports of the same plant.
"""

import logging
import select
import socket
import struct
import threading
import time
import traceback

from .protocol import (encode_error, encode_state, ErrorCode, FRAME_SIZE, MsgType,
                       parse_request, ProtocolError, RESET_GIVEN)
from .sessions import Sessions
from ..inputs.allowlist import Allowlist
from ..runtime.settings import SETTINGS

_log = logging.getLogger(__name__)
SEND_BUFFER = 64 * 1024
TCP_ESTABLISHED = 1     # tcpi_state of struct tcp_info (linux/tcp.h)


class _PeerGone(Exception):
    """The client closed or reset the connection."""


class _IdleTimeout(Exception):
    """No complete frame within the idle timeout."""


class Session:
    """One accepted connection; replies go out under a lock, at most one ERROR."""

    def __init__(self, sock, peer):
        self.sock = sock
        self.peer = peer
        self._send_lock = threading.Lock()
        self.closed = False
        self.requests = 0
        self._buffer = bytearray(FRAME_SIZE)
        self._view = memoryview(self._buffer)
        self._timeouts = {}
        self.busy_poll = 0.0         # s to poll for the next request before sleeping

    def send(self, frame, timeout):
        """Send one reply; return 'ok', 'gone', or 'stalled' (not read for ``timeout`` s)."""
        with self._send_lock:
            if self.closed:
                return 'gone'
            try:
                # A client that stops reading fills the buffers and would
                # block this thread for ever: give up after the timeout.
                self._kernel_timeout(socket.SO_SNDTIMEO, timeout)
                self.sock.sendall(frame)
            except (BlockingIOError, socket.timeout):
                return 'stalled'
            except OSError:
                return 'gone'
            return 'ok'

    def fail(self, code):
        """Send ERROR ``code`` (once, if it can go out promptly) and close."""
        self._shut(code)

    def close(self):
        """Close without a word (idempotent)."""
        self._shut(None)

    def _shut(self, code):
        # A sender stuck on a peer that does not read must not hold this up
        # (shutdown): without the lock, closing the socket frees that sender.
        locked = self._send_lock.acquire(timeout=0.2)
        try:
            if self.closed:
                return
            self.closed = True
            if locked and code is not None:
                try:
                    self.sock.settimeout(0.2)
                    self.sock.sendall(encode_error(code))
                except OSError:
                    pass
            _close(self.sock)
        finally:
            if locked:
                self._send_lock.release()

    def alive(self):
        """Tell whether the peer is still there (for the controlling-client seat)."""
        return not self.peer_gone()

    def peer_gone(self):
        """Tell whether the peer has closed (EOF or reset), consuming no data."""
        if self.closed:
            return True
        try:
            # The connection's TCP state (Linux): also right when unread bytes
            # sit before the peer's FIN or RST, where a peek would see data.
            return self.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0] != \
                TCP_ESTABLISHED
        except (AttributeError, OSError):
            pass
        try:
            # Readable with nothing to peek at means EOF; not readable, alive.
            if not select.select([self.sock], [], [], 0)[0]:
                return False
            return self.sock.recv(1, socket.MSG_PEEK) == b''
        except (BlockingIOError, socket.timeout):
            return False
        except (OSError, ValueError):
            return True

    def recv_frame(self, idle_timeout):
        """Return the next 64-byte frame; the whole frame must arrive in time."""
        # Kernel timeouts on a blocking socket: one recv system call per frame
        # (a Python-level timeout would poll first: a second call, and a
        # second wake-up, on the round trip's critical path).
        view = self._view
        got = 0
        if self.busy_poll > 0.0:
            got = self._poll(self.busy_poll)
            if got == FRAME_SIZE:
                return bytes(self._buffer)
        deadline = time.monotonic() + idle_timeout
        while got < FRAME_SIZE:
            remaining = deadline - time.monotonic()
            if remaining <= 0.0:
                raise _IdleTimeout()
            self._kernel_timeout(socket.SO_RCVTIMEO, remaining if got else idle_timeout)
            try:
                n = self.sock.recv_into(view[got:], FRAME_SIZE - got, socket.MSG_WAITALL)
            except (BlockingIOError, socket.timeout):
                raise _IdleTimeout() from None
            except OSError:
                raise _PeerGone() from None
            if n == 0:
                raise _PeerGone()
            got += n
        return bytes(self._buffer)

    def _poll(self, seconds):
        """Try to read a frame without sleeping for up to ``seconds``; bytes read."""
        # The next request of a lock-step client comes within tens of
        # microseconds: catching it awake saves the thread's wake-up, the
        # largest cost of a loopback round trip on a virtual machine.
        view = self._view
        clock = time.perf_counter
        end = clock() + seconds
        got = 0
        while True:
            try:
                n = self.sock.recv_into(view[got:], FRAME_SIZE - got, socket.MSG_DONTWAIT)
            except BlockingIOError:
                n = None
            except OSError:
                raise _PeerGone() from None
            if n == 0:
                raise _PeerGone()
            if n:
                got += n
                if got == FRAME_SIZE:
                    return got
            elif got or clock() > end:
                return got

    def _kernel_timeout(self, option, seconds):
        if self._timeouts.get(option) == seconds:
            return
        whole = int(seconds)
        self.sock.setsockopt(socket.SOL_SOCKET, option,
                             struct.pack('ll', whole, int((seconds - whole) * 1e6) or
                                         (0 if whole else 1)))
        self._timeouts[option] = seconds


def _close(sock):
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


class TcpServer:
    """Serve the 64-byte protocol on ``(host, port)`` for ``sessions`` (a backend is wrapped)."""

    def __init__(self, sessions, host=SETTINGS['bind_address'].default,
                 port=SETTINGS['port'].default, idle_timeout=SETTINGS['idle_timeout'].default,
                 backlog=512, log=None, busy_poll=0.0, allow=None):
        self.sessions = sessions if isinstance(sessions, Sessions) else Sessions(sessions)
        # Client networks served (None: loopback when bound to it, else anyone).
        self.allow = Allowlist(allow, host)
        # Anything with info/warning/error(str): a logging.Logger or an rclpy logger.
        self.log = log if log is not None else _log
        self.idle_timeout = float(idle_timeout)
        # s a session polls for its client's next request before sleeping.
        self.busy_poll = float(busy_poll)
        self._lock = threading.Lock()
        self._open = set()           # sessions being served
        self._closing = False
        self._threads = []
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._listener.bind((host, port))
            self._listener.listen(backlog)
        except OSError:
            self._listener.close()
            raise
        self.address = self._listener.getsockname()
        warning = self.allow.exposure('legacy TCP door', '%s:%d' % self.address[:2])
        if warning:
            self.log.warning(warning)
        self._accept_thread = threading.Thread(target=self._accept_loop, daemon=True,
                                               name='legacy-tcp-accept')

    def start(self):
        self._accept_thread.start()
        return self

    # -- accept ----------------------------------------------------------------
    def _accept_loop(self):
        while True:
            try:
                sock, peer = self._listener.accept()
            except OSError:
                if self._closing:
                    return
                time.sleep(0.01)   # EMFILE and friends: back off, keep serving
                continue
            if not self.allow.permits(peer[0]):
                # Counted before the close a client sees (a test reads the count then).
                self.allow.refuse(self.log, 'legacy TCP door', '%s:%d' % peer[:2])
                _close(sock)         # a clean close: no frame, no thread
                continue
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            # One request in flight is the protocol; 1000 unread replies is a
            # client that stopped reading.  A small buffer finds it out (and
            # bounds what a hostile peer can make the server hold).
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
            session = Session(sock, peer)
            session.busy_poll = self.busy_poll
            if self._closing:
                session.fail(ErrorCode.FINISHED)
                return
            claimed = self.sessions.claim(session, session.alive)
            if not claimed:
                # A controller that closed a moment ago may not show EOF yet
                # (its FIN waits behind the socket lock): look once more.
                time.sleep(0.001)
                claimed = self.sessions.claim(session, session.alive)
            if not claimed:
                # 64 bytes always fit a fresh socket's send buffer: never blocks.
                self.sessions.errors[ErrorCode.BUSY.name] += 1
                session.fail(ErrorCode.BUSY)
                continue
            with self._lock:
                if self._closing:
                    session.fail(ErrorCode.FINISHED)
                    return
                self._open.add(session)
            thread = threading.Thread(target=self._serve, args=(session,), daemon=True,
                                      name=f'legacy-{peer[0]}:{peer[1]}')
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
            thread.start()

    # -- one session -----------------------------------------------------------
    def _serve(self, session):
        peer = '%s:%d' % session.peer[:2]
        self.log.info(f'client {peer} connected')
        try:
            while not session.closed:
                try:
                    frame = session.recv_frame(self.idle_timeout)
                except _IdleTimeout:
                    self.log.warning(f'client {peer} idle for {self.idle_timeout:g} s: TIMEOUT')
                    self.sessions.errors[ErrorCode.TIMEOUT.name] += 1
                    session.fail(ErrorCode.TIMEOUT)
                    return
                except _PeerGone:
                    return
                session.requests += 1
                arrived = time.monotonic()
                try:
                    reply = self._answer(frame)
                except ProtocolError as exc:
                    self.sessions.note_error(exc.code)
                    text = f'client {peer}: {exc.code.name}: {exc}'
                    # One call site per severity: rclpy refuses a site that changes it.
                    if exc.code is ErrorCode.FINISHED:
                        self.log.info(text)
                    else:
                        self.log.warning(text)
                    session.fail(exc.code)
                    return
                # One thread sends a session's replies in order: with jitter, a
                # later reply still never overtakes an earlier one.
                delay = self.sessions.network.delay()
                if delay > 0.0:
                    time.sleep(delay)
                sent = session.send(reply, self.idle_timeout)
                self.sessions.note_reply(time.monotonic() - arrived)
                if sent == 'stalled':
                    self.log.warning(f'client {peer} has not read its replies for '
                                     f'{self.idle_timeout:g} s: dropped')
                if sent != 'ok':
                    return
        except Exception:  # noqa: B902 - one broken session must not take the server down
            self.log.error(f'session {peer} failed:\n{traceback.format_exc()}')
            session.fail(ErrorCode.PLANT_UNAVAILABLE)
        finally:
            session.close()
            self.sessions.release(session)
            with self._lock:
                self._open.discard(session)
            self.log.info(f'client {peer} gone after {session.requests} requests')

    def _answer(self, frame):
        """Return the reply frame to one request, or raise ProtocolError."""
        msg_type, p = parse_request(frame)
        if msg_type is MsgType.CONTROL:
            state, t = self.sessions.control(p[0])
        else:
            state, t = self.sessions.reset(p[:6] if p[6] == RESET_GIVEN else None)
        return encode_state(state, t)

    # -- shutdown --------------------------------------------------------------
    def close(self, timeout=1.0):
        """Stop listening; every open session gets FINISHED; the port is free on return."""
        with self._lock:
            if self._closing:
                return
            self._closing = True
            sessions = list(self._open)
        _close(self._listener)
        for session in sessions:
            session.fail(ErrorCode.FINISHED)
        deadline = time.monotonic() + timeout
        for thread in [self._accept_thread] + self._threads:
            if thread.is_alive() and thread is not threading.current_thread():
                thread.join(max(0.0, deadline - time.monotonic()))
