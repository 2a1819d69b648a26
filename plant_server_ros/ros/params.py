"""
Declaring ROS parameters with descriptors and ranges, in one line each.

A double parameter also takes an integer (``ros2 param set /dip/plant
max_force 5``, ``max_force: 5`` in a params file): it is declared with
dynamic typing, and a check of this module's own refuses anything but a
number in range, naming the parameter and its range.
"""

import math

from rcl_interfaces.msg import (FloatingPointRange, IntegerRange, ParameterDescriptor,
                                SetParametersResult)
from rclpy.exceptions import ParameterException
from rclpy.parameter import Parameter


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
    numeric = isinstance(default, float)
    if numeric:
        descriptor.dynamic_typing = True
    try:
        value = node.declare_parameter(name, default, descriptor).value
    except ParameterException as exc:
        raise ParameterError(f'parameter {name!r}: {exc}') from None
    if not numeric:
        return value
    bounds = (-math.inf, math.inf) if low is None else (float(low), float(high))
    problem = _number_problem(name, value, bounds)
    if problem:
        raise ParameterError(problem)
    _numbers(node)[name] = bounds
    return float(value)


def declare_setting(node, setting, default=None):
    """
    Declare the parameter of ``setting`` (:mod:`..runtime.settings`) and return its value.

    The descriptor comes from the table: its doc and unit, its range or
    choices, read-only unless it may change at run time.  Numbers (and
    lists of them) take integers too.  A value it refuses, at start or
    later, is refused with the table's message naming the parameter.
    """
    default = setting.default if default is None else default
    if default is None and setting.kind == 'networks':
        default = Parameter.Type.STRING_ARRAY        # declared, unset: the default rule
    unit = f' [{setting.unit}]' if setting.unit and setting.unit != 'SI' else ''
    constraints = f'one of {list(setting.choices)}' if setting.choices else ''
    descriptor = ParameterDescriptor(description=f'{setting.doc}{unit}',
                                     read_only=not setting.runtime,
                                     additional_constraints=constraints)
    if setting.low is not None and setting.kind == 'int':
        descriptor.integer_range = [IntegerRange(from_value=int(setting.low),
                                                 to_value=int(setting.high), step=1)]
    elif setting.low is not None and setting.kind == 'float':
        descriptor.floating_point_range = [FloatingPointRange(
            from_value=float(setting.low), to_value=float(setting.high), step=0.0)]
    numeric = setting.kind in ('float', 'floats', 'state')
    if numeric:
        descriptor.dynamic_typing = True     # 5 for 5.0, [0, 0, ...] for a double array
    try:
        if node.has_parameter(setting.name):     # a managed node configured again
            value = node.get_parameter(setting.name).value
        else:
            value = node.declare_parameter(setting.name, default, descriptor).value
    except ParameterException as exc:
        raise ParameterError(f'parameter {setting.name!r}: {exc}') from None
    label = f'parameter {setting.name!r}'
    try:
        value = setting.check(value, label)
    except ValueError as exc:
        raise ParameterError(str(exc)) from None
    if numeric or setting.choices:
        _checked(node)[setting.name] = setting
    return value


def _checked(node):
    """Return the node's table-checked parameters; install their run-time check once."""
    registry = getattr(node, '_plant_server_settings', None)
    if registry is None:
        registry = node._plant_server_settings = {}

        def check(params):
            for p in params:
                setting = registry.get(p.name)
                problem = setting.problem(p.value) if setting is not None else None
                if problem:
                    return SetParametersResult(
                        successful=False, reason=f'parameter {p.name!r}: {problem}, '
                        f'got {p.value!r}')
            return SetParametersResult(successful=True)

        node.add_on_set_parameters_callback(check)
    return registry


def _numbers(node):
    """Return the node's double parameters and ranges; install their check once."""
    registry = getattr(node, '_plant_server_numbers', None)
    if registry is None:
        registry = node._plant_server_numbers = {}

        def check(params):
            for p in params:
                if p.name in registry:
                    problem = _number_problem(p.name, p.value, registry[p.name])
                    if problem:
                        return SetParametersResult(successful=False, reason=problem)
            return SetParametersResult(successful=True)

        node.add_on_set_parameters_callback(check)
    return registry


def _number_problem(name, value, bounds):
    low, high = bounds
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f'parameter {name!r} must be a number, got {value!r}'
    if not (low <= value <= high):
        return f'parameter {name!r} must be in [{low:g}, {high:g}], got {value!r}'
    return None


def choice(node, name, default, choices, description, read_only=True):
    """Declare a string parameter that must be one of ``choices``."""
    value = declare(node, name, default, f'{description} One of: {", ".join(choices)}.',
                    read_only=read_only, additional_constraints=f'one of {list(choices)}')
    if value not in choices:
        raise ParameterError(f'parameter {name!r} must be one of {list(choices)}, got {value!r}')
    return value
