"""
Declaring ROS parameters from settings (:class:`~..runtime.settings.Setting`), one way.

Every parameter of every node is a setting: the plant's and the bridge's
are the table's (:data:`~..runtime.settings.SETTINGS`), the controller's
its own.  :func:`declare_setting` gives each its descriptor (doc, unit,
range or choices, read-only unless it changes at run time); a double
parameter also takes an integer (``ros2 param set /dip/plant max_force 5``,
``max_force: 5`` in a params file, ``-p max_force:=5``) and keeps it as a
double (5.0: ``ros2 param get`` says ``Double value is: 5.0``), arrays of
doubles likewise: it is declared with dynamic typing, so that rclpy lets the
integer through, the integer is made a double before it is stored (the
override before the declaration, a pre-set callback after it), and the
table's check refuses anything but a number in range, naming the parameter
and its range.  A range open at its low end (``physics.cart_mass`` > 0):
a ROS range includes its ends, so the descriptor's constraints say it.
:func:`follow` takes the run-time ones.
"""

from rcl_interfaces.msg import (FloatingPointRange, IntegerRange, ParameterDescriptor,
                                SetParametersResult)
from rclpy.exceptions import ParameterException
from rclpy.parameter import Parameter

from ..runtime.settings import SettingError


class StartError(RuntimeError):
    """A node cannot start; the message says why in one line (exit code 2)."""


class ParameterError(StartError):
    """A parameter value the node cannot start with (message says which and why)."""

    def __str__(self):
        return f'invalid parameter: {super().__str__()}'


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
    if setting.low is not None and setting.low_open:
        constraints = f'greater than {setting.low:g}: the table refuses {setting.low:g} itself'
    descriptor = ParameterDescriptor(description=f'{setting.doc}{unit}',
                                     read_only=not setting.runtime,
                                     additional_constraints=constraints)
    if setting.low is not None and setting.kind == 'int':
        descriptor.integer_range = [IntegerRange(from_value=int(setting.low),
                                                 to_value=int(setting.high), step=1)]
    elif setting.low is not None and setting.kind == 'float':
        # A ROS range is closed: one open at its low end says so in its constraints.
        descriptor.floating_point_range = [FloatingPointRange(
            from_value=float(setting.low), to_value=float(setting.high), step=0.0)]
    numeric = setting.kind in ('float', 'floats', 'state')
    if numeric:
        descriptor.dynamic_typing = True     # 5 for 5.0, [0, 0, ...] for a double array
        _doubles(node).add(setting.name)
        overrides = getattr(node, '_parameter_overrides', {})
        if setting.name in overrides:        # -p max_force:=5, a params file's 5
            overrides[setting.name] = as_double(overrides[setting.name])
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


def follow(node, runtime):
    """
    Take the node's run-time parameters through ``runtime`` (:class:`~..runtime.settings.RunTime`).

    ``runtime`` may be a callable that returns the one in force (None: the
    node takes none now, e.g. a managed node not configured).  A value its
    checks refuse is refused by name (the parameter keeps its value); one
    they accept reaches its setters once it is set.
    """
    def current():
        return runtime() if callable(runtime) else runtime

    def check(params):
        table = current()
        for p in params:
            if table is not None and p.name in table:
                try:
                    table.check(p.name, p.value)
                except SettingError as exc:
                    return SetParametersResult(successful=False, reason=str(exc))
        return SetParametersResult(successful=True)

    def apply(params):
        table = current()
        for p in params:
            if table is not None:
                table.apply(p.name, p.value)

    node.add_on_set_parameters_callback(check)
    node.add_post_set_parameters_callback(apply)


def as_double(parameter):
    """Return ``parameter`` with an integer (or integer array) value as a double (array)."""
    kind = parameter.type_
    if kind == Parameter.Type.INTEGER:
        return Parameter(parameter.name, Parameter.Type.DOUBLE, float(parameter.value))
    if kind == Parameter.Type.INTEGER_ARRAY:
        return Parameter(parameter.name, Parameter.Type.DOUBLE_ARRAY,
                         [float(v) for v in parameter.value])
    return parameter


def _doubles(node):
    """Return the node's double parameters; install (once) what keeps an integer one a double."""
    names = getattr(node, '_plant_server_doubles', None)
    if names is None:
        names = node._plant_server_doubles = set()
        node.add_pre_set_parameters_callback(
            lambda params: [as_double(p) if p.name in names else p for p in params])
    return names


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
