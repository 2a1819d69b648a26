"""Declaring ROS parameters with descriptors and ranges, in one line each."""

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.exceptions import ParameterException


class StartError(RuntimeError):
    """A node cannot start; the message says why in one line (exit code 2)."""


class ParameterError(StartError):
    """A parameter value the node cannot start with (message says which and why)."""

    def __str__(self):
        return f'invalid parameter: {super().__str__()}'


def declare(node, name, default, description, low=None, high=None, read_only=False,
            additional_constraints=''):
    """
    Declare ``name`` with a descriptor (and a range when ``low``/``high`` are given).

    Returns the value in force (an override from a params file or ``-p`` wins
    over ``default``).  A value out of range raises ParameterError naming the
    parameter and the range.
    """
    descriptor = ParameterDescriptor(
        description=description, read_only=read_only,
        additional_constraints=additional_constraints)
    if low is not None:
        if isinstance(default, bool) or not isinstance(default, (int, float)):
            raise TypeError(f'a range needs a numeric default for {name}')
        if isinstance(default, int):
            descriptor.integer_range = [
                IntegerRange(from_value=int(low), to_value=int(high), step=1)]
        else:
            descriptor.floating_point_range = [
                FloatingPointRange(from_value=float(low), to_value=float(high), step=0.0)]
    try:
        return node.declare_parameter(name, default, descriptor).value
    except ParameterException as exc:
        raise ParameterError(f'parameter {name!r}: {exc}') from None


def choice(node, name, default, choices, description, read_only=True):
    """Declare a string parameter that must be one of ``choices``."""
    value = declare(node, name, default, f'{description} One of: {", ".join(choices)}.',
                    read_only=read_only, additional_constraints=f'one of {list(choices)}')
    if value not in choices:
        raise ParameterError(f'parameter {name!r} must be one of {list(choices)}, got {value!r}')
    return value
