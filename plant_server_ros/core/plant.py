"""
One simulated plant: held control, fail-safe, sensor noise, limits (no ROS).

Everything a control period does to the plant lives here, so that the ROS
node only decides *when* to step and *where* to publish, and the behaviour
is testable without a middleware.
"""

import math
import random

from .dynamics import DIPDynamics
from .state import all_finite, check_state, DEFAULT_INITIAL_STATE


class Plant:
    """
    The cart-pendulum advanced in fixed periods of ``dt`` seconds.

    ``steps`` counts periods since the last reset (episode time is
    ``steps * dt``); ``total_steps`` counts every period since construction
    and never goes back, so it can drive a monotonic simulation clock.
    """

    def __init__(self, dynamics=None, dt=0.01, initial_state=DEFAULT_INITIAL_STATE,
                 max_force=20.0, track_limit=2.0, control_timeout=0.5,
                 sensor_noise_std=0.01, seed=None):
        if not dt > 0.0:
            raise ValueError('dt must be > 0')
        self.dynamics = dynamics if dynamics is not None else DIPDynamics()
        self.dt = float(dt)
        self.track_limit = float(track_limit)
        self.initial_state = check_state(initial_state, self.track_limit)
        self.max_force = float(max_force)
        self.control_timeout = float(control_timeout)
        self.sensor_noise_std = float(sensor_noise_std)
        # The stdlib generator: a numpy call per period costs more than the six
        # draws themselves (Mersenne Twister, seedable, reproducible).
        self._rng = random.Random(seed)
        self.total_steps = 0
        self.reset()

    # -- control -------------------------------------------------------------
    def set_control(self, u, at=0.0):
        """
        Apply force ``u`` from ``at`` seconds into the coming period on; hold it.

        ``at = 0`` (lock-step) makes it act over the whole next period; in real
        time ``at`` is when the force arrived, so the plant feels it from then
        on, not before (zero-order hold with the switch where it happened).
        Returns the saturated force; raises ValueError for NaN or +/-Inf,
        which must never reach the state.
        """
        u = float(u)
        if not math.isfinite(u):
            raise ValueError(f'control force is not finite: {u}')
        u = min(max(u, -self.max_force), self.max_force)
        if at > 0.0 and self._timeout_due():
            self._period_force = 0.0      # this period began in the fail-safe: unforced so far
        self.commanded_force = u
        self._since_control = 0.0
        self.control_timed_out = False
        if at <= 0.0:
            self._period_force = u
            self._switches = []
        else:
            self._switches.append((min(float(at), self.dt), u))
        self._preview = None
        return u

    def set_max_force(self, value):
        """Change the actuator limit; the held force is saturated to it at once."""
        self.max_force = float(value)
        self.commanded_force = min(max(self.commanded_force, -value), value)
        self._period_force = min(max(self._period_force, -value), value)
        self._switches = [(t, min(max(u, -value), value)) for t, u in self._switches]
        self._preview = None

    # -- time ----------------------------------------------------------------
    @property
    def time(self):
        """Episode time [s] of the current state."""
        return self.steps * self.dt

    def _timeout_due(self):
        # Timeout on plant time: deterministic in lock-step, and equal to wall
        # time in real-time mode because the plant keeps pace with the clock.
        return self.control_timed_out or (
            self.control_timeout > 0.0 and self._since_control >= self.control_timeout)

    def preview(self):
        """
        Return ``(state, force)`` at the end of the coming period, not committed.

        Cached until a control or reset changes it, so :meth:`step` after
        :meth:`preview` integrates nothing twice.
        """
        if self._preview is None:
            state = self.state
            t = 0.0
            u = 0.0 if self._timeout_due() else self._period_force
            for start, u_next in self._switches:
                if start > t:
                    state = self.dynamics.step(state, u, start - t)
                    t = start
                u = u_next
            if self.dt > t:
                state = self.dynamics.step(state, u, self.dt - t)
            self._preview = (state, u)
        return self._preview

    def step(self):
        """
        Advance one period; False when no new state came of it.

        Already faulted: nothing changes.  A step that diverges (a non-finite
        state) keeps the last finite state, sets the fault and returns False.
        """
        if self.fault is not None:
            return False
        new_state, force = self.preview()
        self.control_timed_out = self._timeout_due()
        self._preview = None
        self._period_force = force
        self._switches = []
        self.last_applied_force = force
        self.steps += 1
        self.total_steps += 1
        self._since_control += self.dt
        if not all_finite(new_state):
            self.fault = f'state became non-finite at t={self.time:.3f} s'
            return False
        if abs(new_state[0]) > self.track_limit:
            self.fault = (f'cart left the track at t={self.time:.3f} s '
                          f'(x={new_state[0]:.3f} m, limit +/-{self.track_limit:g} m)')
        self.state = new_state
        return True

    def reset(self, state=None):
        """
        Start a new episode at ``state`` (default: the initial state), t = 0.

        The held control is cleared: a new episode starts unforced.
        """
        self.state = self.initial_state if state is None else check_state(state, self.track_limit)
        self.steps = 0
        self.fault = None
        self.commanded_force = 0.0
        self.last_applied_force = 0.0
        self._period_force = 0.0
        self._switches = []
        self._preview = None
        self._since_control = 0.0
        self.control_timed_out = False

    # -- sensing -------------------------------------------------------------
    def measure(self, state=None):
        """Return ``state`` (default: the current one) with additive Gaussian noise."""
        state = self.state if state is None else state
        std = self.sensor_noise_std
        if std <= 0.0:
            return state
        gauss = self._rng.gauss
        return tuple(s + gauss(0.0, std) for s in state)
