"""
What observers may read of a plant: declared, read-only views.

A recording, the live view, the status and the markers need the episode's
period, parameters and limits, whether the plant halted and what pushes it;
they read these views, never the plant's insides.  The plant keeps its own
view current; the bridge, which holds no plant, fills the same type from
the plant's topics.
"""

from typing import NamedTuple

from .settings import defaults
from ..physics.dynamics import DIPParams

NO_PUSH = (0.0, 0.0, 0.0)
_TABLE = defaults()


class EpisodeView(NamedTuple):
    """One episode as it began: what it runs on."""

    number: int = 0
    dt: float = _TABLE['dt']
    params: DIPParams = DIPParams()
    track_limit: float = _TABLE['track_limit']
    max_force: float = _TABLE['max_force']
    scenario: str = None
    description: dict = {}          # the plant's describe_episode(): JSON-ready


class PlantView:
    """The plant as observers see it: the episode, the halt reason, the live push."""

    __slots__ = ('episode', 'fault', 'live_disturbance')

    def __init__(self, episode=None, fault=None, live_disturbance=NO_PUSH):
        self.episode = episode if episode is not None else EpisodeView()
        self.fault = fault                          # why it halted; None while it runs
        self.live_disturbance = live_disturbance    # (F, tau1, tau2) held now

    @property
    def dt(self):
        """Return the period of the current episode [s]."""
        return self.episode.dt


def view_of(source):
    """Return the :class:`PlantView` of ``source`` (a plant, or a view itself)."""
    return source if isinstance(source, PlantView) else source.view
