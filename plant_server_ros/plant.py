"""
One simulated plant: held control, fail-safe, sensor noise, limits (no ROS).

Everything a control period does to the plant lives here, so that the ROS
node only decides *when* to step and *where* to publish, and the behaviour
is testable without a middleware.
"""

import math
import random

from .dynamics import DIPDynamics, STATE_SIZE


class InvalidStateError(ValueError):
    """A state (or reset target) outside the plant's valid region."""


def check_state(state, track_limit):
    """Return ``state`` as a 6-tuple of floats, or raise InvalidStateError."""
    try:
        values = tuple(float(s) for s in state)
    except (TypeError, ValueError) as exc:
        raise InvalidStateError(f'state must be {STATE_SIZE} numbers: {exc}') from None
    if len(values) != STATE_SIZE:
        raise InvalidStateError(f'state must have {STATE_SIZE} values, got {len(values)}')
    if not all(math.isfinite(s) for s in values):
        raise InvalidStateError(f'state is not finite: {values}')
    if abs(values[0]) > track_limit:
        raise InvalidStateError(
            f'cart position {values[0]:.6g} m is beyond the track limit +/-{track_limit:g} m')
    return values


class Plant:
    """
    The cart-pendulum advanced in fixed periods of ``dt`` seconds.

    ``steps`` counts periods since the last reset (episode time is
    ``steps * dt``); ``total_steps`` counts every period since construction
    and never goes back, so it can drive a monotonic simulation clock.
    """

    def __init__(self, dynamics=None, dt=0.01, initial_state=(0.0, 0.05, -0.03, 0.0, 0.0, 0.0),
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
    def set_control(self, u):
        """
        Hold force ``u`` from now on; return the saturated value applied.

        Raises ValueError for NaN or +/-Inf, which must never reach the state.
        """
        u = float(u)
        if not math.isfinite(u):
            raise ValueError(f'control force is not finite: {u}')
        self.commanded_force = min(max(u, -self.max_force), self.max_force)
        self._since_control = 0.0
        self.control_timed_out = False
        return self.commanded_force

    @property
    def applied_force(self):
        """Force acting during the next period (0 once the control timed out)."""
        return 0.0 if self.control_timed_out else self.commanded_force

    # -- time ----------------------------------------------------------------
    @property
    def time(self):
        """Episode time [s] of the current state."""
        return self.steps * self.dt

    def step(self):
        """Advance one period; return False (and change nothing) when faulted."""
        if self.fault is not None:
            return False
        # Timeout on plant time: deterministic in lock-step, and equal to wall
        # time in real-time mode because the plant keeps pace with the clock.
        if self.control_timeout > 0.0 and self._since_control >= self.control_timeout:
            self.control_timed_out = True
        self.last_applied_force = self.applied_force
        new_state = self.dynamics.step(self.state, self.last_applied_force, self.dt)
        self.steps += 1
        self.total_steps += 1
        self._since_control += self.dt
        if not all(math.isfinite(s) for s in new_state):
            self.fault = f'state became non-finite at t={self.time:.3f} s'
        elif abs(new_state[0]) > self.track_limit:
            self.fault = (f'cart left the track at t={self.time:.3f} s '
                          f'(x={new_state[0]:.3f} m, limit +/-{self.track_limit:g} m)')
            self.state = new_state
        else:
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
        self._since_control = 0.0
        self.control_timed_out = False

    # -- sensing -------------------------------------------------------------
    def measure(self):
        """Return the state with additive Gaussian sensor noise."""
        std = self.sensor_noise_std
        if std <= 0.0:
            return self.state
        gauss = self._rng.gauss
        return tuple(s + gauss(0.0, std) for s in self.state)
