"""
What the runner hears of each episode: its samples, events and end, from the plant.

An :class:`EpisodeCollector` is an observer of the plant host (it runs on
the stepping thread, so it only appends).  It keeps the ground truth and
the applied force of every sample with a later time than the last (a halted
real-time plant goes on publishing its frozen state), the episode's events,
and why it ended: the first ``scenario_done``, ``halt`` or ``estop`` event.
It also tells the :class:`~.timing.ResponseTimer` when a sample is sent.
"""

from dataclasses import dataclass, field
import threading

import numpy as np

from ..runtime.schedule import PlantListener

END_KINDS = ('scenario_done', 'halt', 'estop')


@dataclass
class EpisodeData:
    """One plant episode as heard: number, scenario, samples, events, why it ended."""

    number: int
    scenario: object
    t: list = field(default_factory=list)
    x: list = field(default_factory=list)
    force: list = field(default_factory=list)
    events: list = field(default_factory=list)
    ended_kind: str = None
    ended: str = None
    timing: dict = None             # the timer's summary, kept when the next episode starts

    def record(self):
        """
        Return ``(t, x, u)`` arrays for :func:`~..analysis.metrics.episode_metrics`.

        The samples complete when it is called: the plant may still be
        stepping (a run cut short by Ctrl-C), appending ``t``, ``x`` and
        ``force`` in that order, so ``force`` is the shortest and gives the count.
        """
        n = len(self.force)
        t = np.array(self.t[:n], dtype=float)
        x = np.array(self.x[:n], dtype=float).reshape(-1, 6)
        u = np.array(self.force[1:n], dtype=float)  # sample k+1's force acted over [t_k, t_k+1]
        return t, x, u

    def release(self):
        """Drop the samples once judged (the recording keeps them): a run's memory stays flat."""
        self.t, self.x, self.force = [], [], []


class EpisodeCollector(PlantListener):
    """Observer of a host: each episode's record, and a condition the runner waits on."""

    def __init__(self, plant, timer=None):
        self.plant = plant
        self.timer = timer
        self.changed = threading.Condition()
        self.episodes = []          # every EpisodeData, the start-up one first
        self.current = None
        self.finished = False
        self.samples = 0            # every sample the plant sent (each one a controller answers)

    def on_episode(self, index):
        plant = self.plant
        episode = EpisodeData(plant.episode, plant.scenario)
        with self.changed:
            previous = self.current
            self.current = episode
            self.episodes.append(episode)
            if self.timer is not None:
                # The ending episode's response times, before the new one clears them
                # (a controller resets at once: the runner judges after that).
                if previous is not None and previous.timing is None:
                    previous.timing = self.timer.summary()
                self.timer.new_episode()
            self.changed.notify_all()

    def on_sample(self, sample):
        self.samples += 1
        episode = self.current
        if episode is None:
            return
        if episode.t and sample.t <= episode.t[-1]:
            return                   # a halted plant's frozen state, published again
        episode.t.append(sample.t)
        episode.x.append(sample.true)
        episode.force.append(sample.force)
        if self.timer is not None and episode.ended is None:
            self.timer.sent()

    def publish(self, prepared):
        self.on_sample(prepared)

    def on_event(self, event):
        episode = self.current
        if episode is None:
            return
        episode.events.append({'t': event.t, 'kind': event.kind, 'detail': event.detail})
        if event.kind in END_KINDS and episode.ended is None:
            with self.changed:
                episode.ended_kind = event.kind
                episode.ended = f'{event.kind}: {event.detail}'
                self.changed.notify_all()

    def on_finish(self):
        with self.changed:
            self.finished = True
            self.changed.notify_all()

    def wait(self, timeout):
        """Sleep until something changed or ``timeout`` s passed."""
        with self.changed:
            self.changed.wait(timeout)
