"""
A blocking client of the original project's UDP datagrams (docs/PROTOCOL.md).

Written from the page alone.  UDP carries no plant time and no RESET: the
first command (``seq`` 1) starts a new episode at the configured state, and
the client counts time as ``seq * dt``.  A lost datagram is sent again with
the same ``seq`` (the server answers it without stepping).
"""

import socket
import time

from ..legacy.datagram import DatagramError, decode_state, encode_command, ORIGINAL_PORT
from ..runtime.settings import SETTINGS


class UdpClient:
    """One UDP session; each :meth:`control` is one command and its state."""

    def __init__(self, host='127.0.0.1', port=ORIGINAL_PORT, timeout=0.2, retries=5,
                 dt=SETTINGS['dt'].default):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.connect((host, port))
        self.sock.settimeout(timeout)
        self.retries = int(retries)
        self.dt = float(dt)
        self.seq = 0
        self.round_trips = []
        self.retransmissions = 0

    def _command(self, u):
        frame = encode_command(self.seq, u)
        start = time.perf_counter()
        for _ in range(self.retries + 1):
            self.sock.send(frame)
            deadline = time.monotonic() + self.sock.gettimeout()
            while time.monotonic() < deadline:
                try:
                    seq, state = decode_state(self.sock.recv(2048))
                except socket.timeout:
                    break
                except (DatagramError, ConnectionRefusedError):
                    continue
                if seq == self.seq:
                    self.round_trips.append(time.perf_counter() - start)
                    return state, self.seq * self.dt
            self.retransmissions += 1
        raise TimeoutError(f'no state for command {self.seq} after {self.retries + 1} tries')

    def reset(self, state=None):
        """Start a new episode (``seq`` 1, u = 0): the state one ``dt`` later, and its time."""
        if state is not None:
            raise ValueError('the UDP datagrams cannot reset to a given state')
        self.seq = 1
        return self._command(0.0)

    def control(self, u):
        """Send force ``u``; return ``(state, t)`` with ``t = seq * dt``."""
        self.seq += 1
        return self._command(u)

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
