"""
The legacy session logic, shared by every transport (TCP, UDP) of one plant.

Who controls the plant (one client at a time, whatever its transport) and
what a request gets: a reply ``(state, t)`` or a ProtocolError carrying the
ERROR code of docs/PROTOCOL.md.  No sockets here: a transport frames the
requests and replies and calls :class:`Sessions`.
"""

import collections
import threading

from .backend import BadState, PlantFinished, PlantHalted, PlantUnavailable
from .protocol import ErrorCode, ProtocolError
from ..conditions.network import NetworkModel


class Sessions:
    """The controlling-client seat and request handling for ``backend``."""

    def __init__(self, backend, extra_latency=0.0, network=None):
        self.backend = backend
        # What the network does to every reply (the transports apply it).
        self.network = network if network is not None else NetworkModel()
        if extra_latency:
            self.extra_latency = extra_latency
        self._lock = threading.Lock()
        self._holder = None
        self._holder_alive = None
        # What the doors report (status, diagnostics): requests, errors by
        # code, and the recent times from a request's arrival to its reply.
        self.requests = 0
        self.clients = 0
        self.errors = collections.Counter()
        self.reply_times = collections.deque(maxlen=1000)
        # A client that reports its own compute (the compact serial framing's
        # cycles per step) is heard here: ``compute_listener(cycles, clock_hz)``.
        self.compute_listener = None
        self.compute_cycles = collections.deque(maxlen=1000)

    def note_reply(self, seconds):
        """Count one request answered ``seconds`` after it arrived."""
        self.requests += 1
        self.reply_times.append(seconds)

    def note_compute(self, cycles, clock_hz=0):
        """Note the CPU cycles a client spent on its last step (at ``clock_hz``; 0: unknown)."""
        self.compute_cycles.append(int(cycles))
        listener = self.compute_listener
        if listener is not None:
            listener(int(cycles), int(clock_hz))

    def note_error(self, code):
        """Count one request answered with ERROR ``code``."""
        self.requests += 1
        self.errors[ErrorCode(code).name] += 1

    def summary(self):
        """Return the counters and reply-time percentiles [us] (JSON-ready)."""
        ordered = sorted(self.reply_times)

        def pick(q):
            return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1e6, 1) \
                if ordered else None
        holder = self._holder
        return {'clients': self.clients, 'requests': self.requests,
                'errors': dict(self.errors), 'reply_p50_us': pick(0.5),
                'reply_p99_us': pick(0.99),
                'controlling_client': None if holder is None else str(
                    getattr(holder, 'peer', None) or getattr(holder, 'address', ''))}

    # -- one controlling client ------------------------------------------------
    def claim(self, client, alive):
        """
        Make ``client`` the controlling one if the seat is free; True if it now is.

        ``alive()`` tells whether a holder is still there: a holder that has
        gone (a closed socket not yet noticed, a silent UDP peer) frees the seat.
        """
        with self._lock:
            if self._holder is not None and self._holder is not client \
                    and not self._holder_alive():
                self._holder = None
            if self._holder is None:
                self._holder, self._holder_alive = client, alive
                self.clients += 1
            return self._holder is client

    def release(self, client):
        """Free the seat if ``client`` holds it."""
        with self._lock:
            if self._holder is client:
                self._holder = self._holder_alive = None

    @property
    def extra_latency(self):
        """Return the fixed part of every reply's delay [s]."""
        return self.network.latency

    @extra_latency.setter
    def extra_latency(self, seconds):
        self.network.latency = float(seconds)

    @property
    def holder(self):
        """Return the controlling client, or None."""
        return self._holder

    # -- requests --------------------------------------------------------------
    def control(self, u):
        """Answer a CONTROL: ``(state, t)`` or ProtocolError."""
        return _ask(self.backend.control, u)

    def reset(self, state=None):
        """Answer a RESET (to ``state``, else the initial one): ``(state, t)`` or ProtocolError."""
        return _ask(self.backend.reset, state)


_CODES = ((BadState, ErrorCode.BAD_STATE), (PlantHalted, ErrorCode.HALTED),
          (PlantFinished, ErrorCode.FINISHED), (PlantUnavailable, ErrorCode.PLANT_UNAVAILABLE))


def _ask(call, *args):
    """Call the backend; a failure becomes the ProtocolError a client is told (``cause`` kept)."""
    try:
        return call(*args)
    except tuple(cls for cls, _ in _CODES) as exc:
        code = next(code for cls, code in _CODES if isinstance(exc, cls))
        error = ProtocolError(code, str(exc) or code.name.lower())
        error.cause = exc
        raise error from None
