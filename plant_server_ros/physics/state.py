"""
The plant's state vector and the one check every door applies to it.

State ``[x, th1, th2, xdot, th1dot, th2dot]`` (m, rad, rad, m/s, rad/s,
rad/s), absolute angles from upright.  A reset target, an initial state or a
state from a message is valid when it has six finite numbers and the cart is
on the track; the ROS nodes, the bridge and the in-process server all call
:func:`check_state`, so they refuse the same states with the same words.
"""

import math

STATE_SIZE = 6
STATE_NAMES = ('x', 'theta1', 'theta2', 'x_dot', 'theta1_dot', 'theta2_dot')
DEFAULT_INITIAL_STATE = (0.0, 0.05, -0.03, 0.0, 0.0, 0.0)


def all_finite(values):
    """Tell whether every value is finite (cheaply: NaN and Inf propagate through a sum)."""
    # A sum of finite values overflows only beyond 1e308, far outside any
    # state the plant accepts; this runs once per period on the hot path.
    return math.isfinite(sum(values))


class InvalidStateError(ValueError):
    """A state (or reset target) outside the plant's valid region."""


def check_state(state, track_limit=math.inf):
    """Return ``state`` as a 6-tuple of floats, or raise InvalidStateError."""
    try:
        values = tuple(float(s) for s in state)
    except (TypeError, ValueError) as exc:
        raise InvalidStateError(f'state must be {STATE_SIZE} numbers: {exc}') from None
    if len(values) != STATE_SIZE:
        raise InvalidStateError(f'state must have {STATE_SIZE} values, got {len(values)}')
    if not all_finite(values):
        raise InvalidStateError(f'state is not finite: {values}')
    if abs(values[0]) > track_limit:
        raise InvalidStateError(
            f'cart position {values[0]:.6g} m is beyond the track limit +/-{track_limit:g} m')
    return values
