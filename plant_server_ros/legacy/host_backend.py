"""
The legacy sessions' backend on an in-process plant host: no middleware between.

Lock-step answers on the session's own thread (the fast path: one lock, one
step); in real time the reply is the host's ticket, resolved by the plant's
ticking thread with PROTOCOL.md's reply rule (:mod:`..runtime.replies`).
"""

from .backend import BadState, PlantBackend
from ..physics.state import InvalidStateError
from ..runtime.settings import SETTINGS


class HostBackend(PlantBackend):
    """A :class:`PlantBackend` over a :class:`~..runtime.host.PlantHost`."""

    def __init__(self, host, reply_timeout=SETTINGS['reply_timeout'].default):
        self.host = host
        self.reply_timeout = float(reply_timeout)
        self._control = host.control       # bound once: the hot path

    @property
    def halted(self):
        """Return why the plant stopped, or None."""
        return self.host.halted

    @property
    def finished(self):
        """Return True once the plant reached max_steps or was stopped."""
        return self.host.finished.is_set()

    def control(self, u):
        """Apply ``u``; ``(state, t)`` of the sample that answers it."""
        sample = self._control(u).result(self.reply_timeout)
        return sample.measured, sample.t

    def reset(self, state=None):
        """Start a new episode (at ``state``); ``(state, t)`` of its t = 0 sample."""
        try:
            ticket = self.host.reset(state)
        except InvalidStateError as exc:
            raise BadState(str(exc)) from None
        sample = ticket.result(self.reply_timeout)
        return sample.measured, sample.t
