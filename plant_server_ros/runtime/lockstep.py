"""The lock-step schedule: one ``dt`` per control, as fast as the caller asks."""

from .schedule import PlantFinished, PlantHalted, PlantSchedule


class LockstepSchedule(PlantSchedule):
    """
    Step the plant once per :meth:`control`; the sample it returns is the one it made.

    Sample ``index`` is the plant's ``total_steps``: a simulated clock that a
    reset does not turn back (the ROS node's ``/clock``).
    """

    mode = 'lockstep'

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
            self._check_open()
            self._control(u)
            if not self._advance():
                raise PlantHalted(self.plant.fault, self.last_reply())
            plant = self.plant
            sample = self._emit(self._sample(plant.total_steps, plant.time, plant.state,
                                             plant.last_applied_force))
            self._check_max_steps()
            return sample

    def reset(self, state=None):
        """Start a new episode at ``state`` (default: the initial state); its t = 0 Sample."""
        with self.lock:
            if self.finished.is_set():
                raise PlantFinished('plant finished')
            plant = self.plant
            plant.reset(state)               # InvalidStateError for a bad target
            self._begin_episode(plant.total_steps)
            return self._emit(self._sample(plant.total_steps, 0.0, plant.state, 0.0))

    def _check_open(self):
        if self.finished.is_set():
            raise PlantFinished('plant reached max_steps' if self._max_steps_reached()
                                else 'plant stopped')
        if self.plant.fault is not None:
            raise PlantHalted(self.plant.fault, self.last_reply())
