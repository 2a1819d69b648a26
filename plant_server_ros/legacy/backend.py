"""
What a legacy transport needs from a plant: the ``PlantBackend`` interface.

Two implementations: the bridge node's link to the plant over ROS topics
(:mod:`plant_server_ros.ros.plant_link`) and an in-process plant host
(:mod:`.host_backend`: ``PlantServer``, and any door built on the host).  The
session logic (:mod:`.sessions`) and the transports see only this.
"""

from abc import ABC, abstractmethod

from ..runtime.schedule import PlantFinished, PlantHalted, PlantUnavailable

__all__ = ['BadState', 'PlantBackend', 'PlantFinished', 'PlantHalted', 'PlantUnavailable']


class BadState(Exception):
    """A RESET target outside the plant's limits."""


class PlantBackend(ABC):
    """
    Blocking requests to one plant, each answered with ``(state, t)``.

    ``state`` is the measured 6-state (sensor effects included) and ``t``
    the episode time of that sample.  Failures are raised as PlantHalted
    (carrying the last sample), PlantFinished, PlantUnavailable or BadState.
    """

    @abstractmethod
    def control(self, u):
        """Apply force ``u``; return the sample that answers it."""

    @abstractmethod
    def reset(self, state=None):
        """Start a new episode (at ``state``, else the configured one); its t = 0 sample."""

    @property
    @abstractmethod
    def halted(self):
        """Return why the plant stopped and waits for a reset, or None while it runs."""

    @property
    @abstractmethod
    def finished(self):
        """Return True once the plant reached max_steps or shut down."""
