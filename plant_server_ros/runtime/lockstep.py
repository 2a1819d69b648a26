"""The lock-step schedule: one ``dt`` per control, as fast as the caller asks."""

from .schedule import PlantFinished, PlantHalted, PlantSchedule, Sample


class LockstepSchedule(PlantSchedule):
    """
    Step the plant once per :meth:`control`; the sample it returns is the one it made.

    Sample ``index`` is a simulated clock in periods (the ROS node's
    ``/clock``): the plant's ``total_steps`` plus one tick per reset, so a
    reset neither turns it back nor gives two states one stamp.
    """

    mode = 'lockstep'
    _resets = 0

    def _now(self):
        return self.plant.total_steps + self._resets

    def start(self):
        """Publish the initial sample (t = 0)."""
        with self.lock:
            self._begin_episode(0)
            self._emit(self._sample(0, 0.0, self.plant.state, 0.0))

    def control(self, u):
        """
        Apply ``u`` over the next ``dt``, step, publish and return the new Sample.

        Raises PlantHalted (the plant waits for a reset), PlantFinished
        (max_steps) or ValueError (a non-finite ``u``, refused untouched).
        """
        with self.lock:
            plant = self.plant
            if plant.fault is not None or self.finished.is_set():
                self._check_open()            # raises
            self._control(u)
            if not self._advance():
                raise PlantHalted(plant.fault, self.last_reply())
            state = plant.state
            sample = Sample(plant.total_steps + self._resets, plant.time,
                            plant.measure(state, plant.time), state, plant.last_applied_force)
            self.last_sample = sample
            self.listener.publish(self.listener.prepare(sample))   # _emit, inline: hot path
            if self.max_steps:
                self._check_max_steps()
            return sample

    def reset(self, state=None):
        """Start a new episode at ``state`` (default: the initial state); its t = 0 Sample."""
        with self.lock:
            if self.finished.is_set():
                raise PlantFinished('plant finished')
            plant = self.plant
            plant.reset(state)               # InvalidStateError for a bad target
            self._resets += 1
            self._begin_episode(self._now())
            return self._emit(self._sample(self._now(), 0.0, plant.state, 0.0))

    def _check_open(self):
        if self.finished.is_set():
            raise PlantFinished('plant reached max_steps' if self._max_steps_reached()
                                else 'plant stopped')
        if self.plant.fault is not None:
            raise PlantHalted(self.plant.fault, self.last_reply())
