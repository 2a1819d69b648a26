"""
The plant's state vector and the one check every door applies to it.

State ``[x, th1, th2, xdot, th1dot, th2dot]`` (m, rad, rad, m/s, rad/s,
rad/s), absolute angles from upright.  A reset target, an initial state or a
state from a message is valid when it has six finite numbers within the
bounds the dynamics can represent (:data:`MAX_ANGLE` and its siblings) and
the cart is on the track; the ROS nodes, the bridge and the in-process server all call
:func:`check_state`, so they refuse the same states with the same words.
"""

import math
from numbers import Real

STATE_SIZE = 6
STATE_NAMES = ('x', 'theta1', 'theta2', 'x_dot', 'theta1_dot', 'theta2_dot')
DEFAULT_INITIAL_STATE = (0.0, 0.05, -0.03, 0.0, 0.0, 0.0)


# The largest magnitudes a state may have [m, rad, m/s, rad/s]: far beyond any
# physical plant, far inside what the dynamics' arithmetic can square and sum
# (an angle of 1e300 is finite, but its sine means nothing and rate**2 is inf).
MAX_POSITION = 1e6
MAX_ANGLE = 1e6
MAX_RATE = 1e6
_BOUNDS = (MAX_POSITION, MAX_ANGLE, MAX_ANGLE, MAX_RATE, MAX_RATE, MAX_RATE)
_TURN = 2.0 * math.pi
_UNITS = ('m', 'rad', 'rad', 'm/s', 'rad/s', 'rad/s')


def wrap_angle(angle):
    """
    Return ``angle`` [rad] wrapped to (-pi, pi]: a link swung round once is upright again.

    Works on floats and numpy arrays alike; metrics, criteria, the safety
    limits and the plots judge wrapped angles, the plant itself never wraps.
    """
    # Within (-pi, pi] the angle comes back unchanged, to the bit.
    if isinstance(angle, Real):
        return angle - _TURN * math.ceil((angle - math.pi) / _TURN)
    import numpy as np        # arrays only: this module stays numpy-free for the doors
    angle = np.asarray(angle, dtype=float)
    return angle - _TURN * np.ceil((angle - math.pi) / _TURN)


def all_finite(values):
    """Tell whether every value is finite (cheaply: NaN and Inf propagate through a sum)."""
    # This runs once per period on the hot path: one sum decides.  Only when
    # it is not finite is each value looked at, since finite values such as
    # [1e308, 1e308] overflow a sum.
    return math.isfinite(sum(values)) or all(math.isfinite(v) for v in values)


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
    for name, value in zip(STATE_NAMES, values):
        if not math.isfinite(value):
            raise InvalidStateError(f'state is not finite: {name} = {value!r} in {values}')
    for name, value, bound, unit in zip(STATE_NAMES, values, _BOUNDS, _UNITS):
        if abs(value) > bound:
            raise InvalidStateError(f'{name} = {value:.6g} {unit} is beyond what the dynamics '
                                    f'can represent (|{name}| <= {bound:g} {unit})')
    if abs(values[0]) > track_limit:
        raise InvalidStateError(
            f'cart position {values[0]:.6g} m is beyond the track limit +/-{track_limit:g} m')
    return values
