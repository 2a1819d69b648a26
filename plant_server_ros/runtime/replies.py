"""
PROTOCOL.md's reply rule, written once for every door.

A CONTROL is answered with the first sample published after the request
was taken; a RESET with the start sample of the episode it began.  The
in-process real-time schedule feeds a :class:`ReplyRule` as it publishes,
the bridge feeds one from the plant's ``state`` topic: both ask it the
same questions.  A :class:`Ticket` is a request's claim on its answer.
"""

import collections
import threading

from .schedule import PlantFinished, PlantHalted, PlantUnavailable

HISTORY = 256       # samples kept for a reply whose thread wakes late


class ReplyRule:
    """The recent samples and episode starts, and which of them answers a request."""

    def __init__(self, history=HISTORY):
        self.cond = threading.Condition()
        self._recent = collections.deque(maxlen=history)   # (seq, sample), newest last
        self._published = 0
        self._episodes = 0
        self._episode_start = None

    def published(self, sample):
        """Note a published sample; wake whoever waits for one."""
        with self.cond:
            self._published += 1
            self._recent.append((self._published, sample))
            self.cond.notify_all()

    def episode_started(self, sample):
        """Note the start sample of a new episode (published or not: a late tick may skip it)."""
        with self.cond:
            self._episodes += 1
            self._episode_start = sample
            self.cond.notify_all()

    def wake(self):
        """Wake every waiter (the plant halted, finished or stops)."""
        with self.cond:
            self.cond.notify_all()

    def mark(self):
        """Return where the record stands now: take it before making the request."""
        return self._published, self._episodes

    def first_after(self, mark, where=None):
        """
        Return the first sample published after ``mark`` (and matching ``where``), or None.

        Woken late, several may have come: the reply is the first of them
        still kept.
        """
        seen = mark[0]
        for seq, sample in self._recent:
            if seq > seen and (where is None or where(sample)):
                return sample
        return None

    def latest(self):
        """Return the newest sample kept, or None."""
        recent = self._recent
        return recent[-1][1] if recent else None

    def episode_start_after(self, mark):
        """Return the start sample of an episode begun after ``mark``, or None."""
        return self._episode_start if self._episodes > mark[1] else None


class Ticket:
    """A request's claim on its reply: :meth:`result` waits for it (a sample)."""

    __slots__ = ('_schedule', '_find', '_halted_ok')

    def __init__(self, schedule, find, halted_ok=False):
        self._schedule = schedule
        self._find = find
        self._halted_ok = halted_ok

    def result(self, timeout=None):
        """
        Return the reply's Sample once it exists.

        Raises PlantHalted (with the last sample) unless the request was a
        reset, PlantFinished, or PlantUnavailable after ``timeout`` seconds.
        """
        schedule = self._schedule
        rule = schedule.replies
        with rule.cond:
            rule.cond.wait_for(
                lambda: self._find() is not None or schedule.finished.is_set()
                or (not self._halted_ok and schedule.halted is not None), timeout)
            sample = self._find()
            if sample is not None:
                return sample
            if schedule.finished.is_set():
                raise PlantFinished('plant finished')
            if not self._halted_ok and schedule.halted is not None:
                raise PlantHalted(schedule.halted, schedule.last_reply())
            raise PlantUnavailable(f'no plant sample within {timeout:g} s')


class Refused:
    """The ticket of a request refused when it was made (the plant halted, finished)."""

    __slots__ = ('_error',)

    def __init__(self, error):
        self._error = error

    def result(self, timeout=None):
        """Raise the refusal."""
        raise self._error
