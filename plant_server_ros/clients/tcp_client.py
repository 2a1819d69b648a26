"""
A blocking client of the legacy TCP protocol (no ROS, no numpy needed).

Written from docs/PROTOCOL.md alone: what it does, any language can do.
"""

import socket
import time

from ..legacy.protocol import encode_control, encode_reset, FRAME_SIZE, parse_reply
from ..runtime.settings import SETTINGS


class LegacyClient:
    """One connection to a plant server; each call is one request and its reply."""

    def __init__(self, host='127.0.0.1', port=SETTINGS['port'].default, timeout=15.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.round_trips = []

    def _request(self, frame):
        start = time.perf_counter()
        self.sock.sendall(frame)
        reply = self.recv_frame()
        self.round_trips.append(time.perf_counter() - start)
        return parse_reply(reply)

    def recv_frame(self):
        """Return the next 64-byte frame; ConnectionError if the server closed."""
        buf = bytearray()
        while len(buf) < FRAME_SIZE:
            chunk = self.sock.recv(FRAME_SIZE - len(buf))
            if not chunk:
                raise ConnectionError('server closed the connection')
            buf += chunk
        return bytes(buf)

    def control(self, u, client_time=0.0):
        """Send force ``u``; return ``(state, t)``.  ProtocolError on an ERROR reply."""
        return self._request(encode_control(u, client_time))

    def reset(self, state=None):
        """Reset to the configured state (or ``state``); return ``(state, 0.0)``."""
        return self._request(encode_reset(state))

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
