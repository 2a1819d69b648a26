"""
Every setting of the plant and the bridge, declared once.

One :class:`Setting` per name gives its type, default, unit, range or
choices, a one-line doc, whether it may change at run time, and where each
door takes it: the ROS parameter (``nodes``), ``PlantServer``'s keyword, the
original project's ``config.yaml`` key and ``dip_plant_server``'s flag.  The
ROS descriptors, ``PlantServer``'s defaults and checks, the config reader,
the CLI flags, the launch arguments and the parameter tables of
``docs/parameters.md`` all come from :data:`SETTINGS`, so a setting is one
entry here plus the code that uses it.

Every door refuses a bad value with the same message shape,
``<name>: must be <what>, got <value>``, naming the setting as that door
spells it (``parameter 'dt'``, ``simulation.dt``, ``--dt``).
"""

from collections.abc import Sequence
from dataclasses import dataclass
import math

from ..conditions.network import JITTER
from ..conditions.sensors import CHANNELS
from ..conditions.uncertainty import GROUPS, MAX_FRACTION
from ..inputs import allowlist
from ..physics.dynamics import DIPParams
from ..physics.integrators import DEFAULT_INTEGRATOR, DEFAULT_SUBSTEPS, TABLEAUX
from ..physics.state import check_state, DEFAULT_INITIAL_STATE, InvalidStateError

MODES = ('realtime', 'lockstep')


class SettingError(ValueError):
    """A value a setting refuses; the message names the setting and its range."""


@dataclass(frozen=True)
class Setting:
    """One setting: what it is, its limits, and its name at each door."""

    name: str                   # the ROS parameter name; the canonical name
    kind: str                   # float | int | bool | str | host | choice | floats | state
    #                             | networks (an allowlist: None, 'CIDR[,CIDR]' or a list)
    default: object
    doc: str
    group: str                  # the table of docs/parameters.md it is listed in
    unit: str = ''
    low: float = None
    high: float = None
    low_open: bool = False      # (low, high] instead of [low, high]
    choices: tuple = ()
    runtime: bool = False       # may change while the plant runs (ROS: not read-only)
    nodes: tuple = ('plant',)   # the ROS nodes that declare it
    keyword: str = None         # PlantServer's keyword
    config: str = None          # the original config.yaml's dotted key
    flag: str = None            # dip_plant_server's flag
    length: int = None          # floats: how many (None: any number of them)
    door_defaults: tuple = ()   # ((door, default), ...) where a door's default differs

    # -- validation ------------------------------------------------------------
    def check(self, value, label=None):
        """Return ``value`` as this setting's type, or raise SettingError naming ``label``."""
        label = self.name if label is None else label
        problem = self.problem(value)
        if problem:
            raise SettingError(f'{label}: {problem}, got {value!r}')
        return self._convert(value)

    def problem(self, value):
        """Return what is wrong with ``value`` (``must be ...``), or None."""
        kind = self.kind
        if kind in ('float', 'int'):
            return _number_problem(value, self.low, self.high, self.low_open, kind == 'int')
        if kind == 'str':
            return None if isinstance(value, str) else 'must be a string'
        if kind == 'bool':
            return None if isinstance(value, bool) else 'must be true or false'
        if kind == 'networks':
            if value is None:
                return None
            try:
                allowlist.parse(list(value) if _is_list(value) else value)
            except (TypeError, ValueError) as exc:
                return f'must be a list of networks (CIDR): {str(exc).split(": ", 1)[-1]}'
            return None
        if kind == 'host':
            return None if isinstance(value, str) and value else 'must be a non-empty string'
        if kind == 'choice':
            return None if value in self.choices else f'must be one of {list(self.choices)}'
        if kind == 'floats':
            if not _is_list(value) or self.length is not None and len(value) != self.length \
                    or any(_number_problem(v, self.low, self.high) for v in value):
                count = '' if self.length is None else f'{self.length} '
                return f'must be a list of {count}numbers{self.shown_range(" in ")}'
            return None
        if kind == 'state':
            if not _is_list(value) or \
                    any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in value):
                return ('must be a list of 6 numbers [x, th1, th2, xdot, th1dot, th2dot]')
            try:
                check_state(value)
            except InvalidStateError as exc:
                return f'must be a valid state ({exc})'
            return None
        raise TypeError(f'setting {self.name}: unknown kind {kind!r}')

    def _convert(self, value):
        if self.kind == 'float':
            return float(value)
        if self.kind == 'int':
            return int(value)
        if self.kind == 'floats':
            return [float(v) for v in value]
        if self.kind == 'state':
            return check_state(value)
        if self.kind == 'networks' and value is not None:
            return [str(n) for n in allowlist.parse(list(value) if _is_list(value) else value)]
        return value

    def shown_range(self, prefix=''):
        """Return the range as text (``[0, 10]``, ``(0, 1e+06]``), or ''."""
        if self.low is None:
            return ''
        return prefix + _shown_range(self.low, self.high, self.low_open)

    def default_for(self, door):
        """Return the default at ``door`` (a node, 'dip_hil', 'PlantServer', ...)."""
        return dict(self.door_defaults).get(door, self.default)


def _shown_range(low, high, low_open=False):
    def number(v):
        return str(v) if isinstance(v, int) else f'{v:g}'
    return f'{"(" if low_open else "["}{number(low)}, {number(high)}]'


def _is_list(value):
    # A YAML list, a tuple, or the array.array an rclpy double array comes as.
    return isinstance(value, Sequence) and not isinstance(value, (str, bytes))


def _number_problem(value, low, high, low_open=False, integer=False):
    kind = 'an integer' if integer else 'a number'
    ok_type = isinstance(value, int) if integer else isinstance(value, (int, float))
    shown = '' if low is None else f' in {_shown_range(low, high, low_open)}'
    if isinstance(value, bool) or not ok_type:
        return f'must be {kind}{shown}'
    try:
        number = float(value)
    except OverflowError:           # an integer too large for a float
        return f'must be {kind}{shown}'
    if not math.isfinite(number):
        return f'must be a finite number{shown}'
    if low is not None and (number <= low if low_open else number < low) or \
            high is not None and number > high:
        return f'must be{shown}'
    return None


def _physics():
    docs = {
        'cart_mass': ('Cart mass.', 'kg', 'cart_mass'),
        'link1_mass': ('Link 1 mass.', 'kg', 'pendulum1_mass'),
        'link2_mass': ('Link 2 mass.', 'kg', 'pendulum2_mass'),
        'link1_length': ('Link 1 length, joint to joint.', 'm', 'pendulum1_length'),
        'link2_length': ('Link 2 length.', 'm', 'pendulum2_length'),
        'link1_com': ('Joint 1 to link 1 centre of mass.', 'm', 'pendulum1_com'),
        'link2_com': ('Joint 2 to link 2 centre of mass.', 'm', 'pendulum2_com'),
        'link1_inertia': ('Link 1 inertia about its centre of mass.', 'kg m^2',
                          'pendulum1_inertia'),
        'link2_inertia': ('Link 2 inertia about its centre of mass.', 'kg m^2',
                          'pendulum2_inertia'),
        'gravity': ('Gravitational acceleration.', 'm/s^2', 'gravity'),
        'cart_friction': ('Viscous cart friction.', 'N s/m', 'cart_friction'),
        'joint1_friction': ('Viscous friction of joint 1 on th1dot.', 'N m s/rad',
                            'joint1_friction'),
        'joint2_friction': ('Viscous friction of joint 2 on th2dot - th1dot.', 'N m s/rad',
                            'joint2_friction'),
    }
    positive = {'cart_mass', 'link1_mass', 'link2_mass', 'link1_length', 'link2_length'}
    defaults = DIPParams()
    for name, (doc, unit, original) in docs.items():
        yield Setting(f'physics.{name}', 'float', getattr(defaults, name), doc, 'physics',
                      unit, 0.0, 1e6, low_open=name in positive, config=f'physics.{original}')


def _conditions():
    channels = ', '.join(CHANNELS)
    for name, doc, unit in (
            ('bias', 'Constant offset per channel.', 'SI'),
            ('drift_std', 'Random-walk drift per channel: its std grows by this per sqrt(s).',
             'SI/sqrt(s)'),
            ('quantum', 'Quantisation step per channel (encoder resolution; 0 = none).', 'SI'),
            ('dropout', 'Probability per channel that a sample is lost (the last is held).',
             '')):
        yield Setting(f'sensor.{name}', 'floats', [0.0] * len(CHANNELS),
                      f'{doc} Channels: {channels}.', 'conditions', unit, length=len(CHANNELS))
    yield Setting('sensor.delay', 'int', 0, 'Measurement delay.', 'conditions', 'samples',
                  0, 1000)
    yield Setting('sensor.velocities', 'choice', 'measured',
                  'measured: velocity channels measured like the others; derived: finite '
                  'differences of the measured positions.', 'conditions',
                  choices=('measured', 'derived'))
    for name, doc, unit, high in (
            ('deadband', 'Motor deadband: |u| below it gives no force.', 'N', 1e4),
            ('slew_rate', 'Motor slew-rate limit (0 = unlimited).', 'N/s', 1e9),
            ('time_constant', 'Motor first-order lag time constant (0 = none).', 's', 10.0)):
        yield Setting(f'actuator.{name}', 'float', 0.0, doc, 'conditions', unit, 0.0, high)
    yield Setting('actuator.delay', 'int', 0, 'Motor input delay.', 'conditions', 'periods',
                  0, 1000)
    for name, doc, unit in (
            ('fall_angle', 'Halt when |th1| or |th2| exceeds this (0 = off).', 'rad'),
            ('max_cart_speed', 'Halt when |xdot| exceeds this (0 = off).', 'm/s'),
            ('max_joint_rate', 'Halt when |th1dot| or |th2dot| exceeds this (0 = off).',
             'rad/s')):
        yield Setting(f'safety.{name}', 'float', 0.0, doc, 'conditions', unit, 0.0,
                      100.0 if name == 'fall_angle' else 1e4)
    for group, names in GROUPS.items():
        yield Setting(f'uncertainty.{group}', 'float', 0.0,
                      f'Per episode, scale each of {", ".join(names)} by a seeded random '
                      '1 + U(-f, f) (0 = nominal).', 'conditions', '', 0.0, MAX_FRACTION)


_PLANT = (
    Setting('mode', 'choice', 'realtime', 'realtime: step on a wall-clock ticker every dt; '
            'lockstep: one dt step per control.', 'plant', choices=MODES, keyword='mode',
            flag='--mode'),
    Setting('dt', 'float', 0.01, 'Control period and integration step.', 'plant', 's',
            1e-4, 1.0, keyword='dt', config='simulation.dt', flag='--dt'),
    Setting('sensor_noise_std', 'float', 0.01,
            'Std of additive Gaussian noise on every state component (0 = none).', 'plant',
            'SI', 0.0, 10.0, runtime=True, keyword='sensor_noise_std',
            config='hil.sensor_noise_std', flag='--noise'),
    Setting('seed', 'int', -1, 'Noise generator seed; -1 draws a random one (PlantServer, '
            'config.yaml: none).', 'plant', '', -1, 2 ** 63 - 1, keyword='seed',
            config='global_seed', flag='--seed'),
    Setting('max_force', 'float', 20.0, 'Actuator limit: |u| is saturated here.', 'plant',
            'N', 0.0, 1e4, runtime=True, keyword='max_force', flag='--max-force'),
    Setting('control_timeout', 'float', 0.5,
            'Plant time without a control after which u = 0 (0 = never).', 'plant', 's',
            0.0, 3600.0, runtime=True, keyword='control_timeout', flag='--control-timeout'),
    Setting('track_limit', 'float', 2.0, 'Half length of the rail: beyond it the plant stops '
            'and waits for a reset.', 'plant', 'm', 1e-3, 1e3, keyword='track_limit',
            flag='--track-limit'),
    Setting('initial_state', 'state', list(DEFAULT_INITIAL_STATE),
            'State of every reset: [x, th1, th2, xdot, th1dot, th2dot] (SI, absolute angles '
            'from upright).', 'plant', 'SI', runtime=True, config='simulation.initial_state'),
    Setting('max_steps', 'int', 0, 'Stop cleanly after this many steps (0 = unlimited).',
            'plant', 'steps', 0, 2 ** 62, keyword='max_steps', flag='--max-steps'),
    Setting('integrator', 'choice', DEFAULT_INTEGRATOR, 'Runge-Kutta method.', 'plant',
            choices=tuple(sorted(TABLEAUX)), keyword='integrator', flag='--integrator'),
    Setting('substeps', 'int', DEFAULT_SUBSTEPS, 'Least integrator steps per dt (more where '
            'the state moves fast: docs/physics.md).', 'plant', '', 1, 1000,
            keyword='substeps', flag='--substeps'),
    Setting('compiled_step', 'bool', False, 'Step the plant with the compiled period (numba, '
            "the batch kernel's source; the same result to the bit, a few times faster); "
            'off: the Python step, the reference. Needs numba; a cached compile at start '
            '(about a second), never in the loop.', 'plant', keyword='compiled_step',
            flag='--compiled-step'),
    Setting('busy_poll_us', 'int', 150, 'Lock-step only: how long a waiting thread polls for '
            'the next request before it sleeps; trades CPU for round-trip latency '
            '(0 = never poll).', 'plant', 'us', 0, 100000, runtime=True,
            nodes=('plant', 'bridge'), keyword='busy_poll_us', flag='--busy-poll-us',
            door_defaults=(('bridge', 300), ('dip_hil', 0), ('PlantServer', 0),
                           ('PlantServer lock-step', 200))),
    Setting('record', 'str', '', 'Directory to record every episode to, one MCAP file each '
            '(empty: no recording).', 'plant', keyword='record', flag='--record'),
    Setting('realtime_priority', 'int', 0, 'SCHED_FIFO priority of the stepping thread '
            '(0 = off; needs CAP_SYS_NICE or an rtprio limit).', 'plant', '', 0, 99,
            keyword='realtime_priority', flag='--realtime-priority'),
    Setting('use_full_dynamics', 'bool', True, "The original project's choice between its "
            'light and full models.  Here there is one model, the full nonlinear one: it is '
            'used either way (a log line says so).', 'plant', nodes=(),
            config='simulation.use_full_dynamics'),
    Setting('scenario', 'str', '', 'Scenario or campaign YAML: the conditions of each '
            'episode; a campaign plays its next scenario at every reset (empty: none).',
            'plant', keyword='scenario', flag='--scenario'),
    Setting('wait_for_control', 'bool', False, 'Real time: hold the plant at its initial '
            'state (published, nothing stepping) until the first control, then start the '
            'episode at t = 0; lock-step always waits. hil.launch.py sets it with '
            'controller:=lqr or pd.', 'plant'),
)

_BRIDGE = (
    Setting('bind_address', 'host', '127.0.0.1', 'Address the legacy TCP door (and the live '
            'view) listens on (0.0.0.0: every interface).', 'bridge', nodes=('bridge',),
            keyword='bind_addr[0]', flag='--bind'),
    Setting('port', 'int', 5555, 'TCP port (0: any free port; bound_port tells which).',
            'bridge', '', 0, 65535, nodes=('bridge',), keyword='bind_addr[1]', flag='--port'),
    Setting('udp_bind_address', 'host', '127.0.0.1', 'Address of the UDP datagram door '
            '(0.0.0.0: every interface).', 'bridge', nodes=('bridge',), keyword='udp_addr[0]',
            config='hil.plant_ip'),
    Setting('udp_port', 'int', 0, "UDP port of the original project's datagrams (0: off).",
            'bridge', '', 0, 65535, nodes=('bridge',), keyword='udp_addr[1]',
            config='hil.plant_port', flag='--udp-port'),
    Setting('idle_timeout', 'float', 10.0, 'Seconds without a complete frame before TIMEOUT.',
            'bridge', 's', 0.001, 3600.0, runtime=True, nodes=('bridge',),
            keyword='idle_timeout', flag='--idle-timeout'),
    Setting('reply_timeout', 'float', 1.0, 'Seconds to wait for a plant state before '
            'PLANT_UNAVAILABLE.', 'bridge', 's', 0.001, 60.0, runtime=True, nodes=('bridge',)),
    Setting('startup_grace', 'float', 10.0, 'Until the plant has been seen once, how long a '
            'request waits for it (DDS discovery) before PLANT_UNAVAILABLE.', 'bridge', 's',
            0.0, 3600.0, runtime=True, nodes=('bridge',)),
    Setting('extra_latency_ms', 'float', 0.0, 'Delay added to every reply, to emulate a '
            'network.', 'bridge', 'ms', 0.0, 10000.0, runtime=True, nodes=('bridge',),
            keyword='extra_latency_ms', config='hil.extra_latency_ms', flag='--latency-ms'),
    Setting('network.jitter_ms', 'float', 0.0, 'Reply latency jitter on the legacy links '
            '(uniform on [0, 2 jitter] or normal with this std).', 'bridge', 'ms', 0.0, 1e4,
            nodes=('bridge',)),
    Setting('network.jitter', 'choice', 'uniform', 'Distribution of the latency jitter.',
            'bridge', choices=JITTER, nodes=('bridge',)),
    Setting('network.loss', 'float', 0.0, 'Fraction of UDP replies lost.', 'bridge', '',
            0.0, 1.0, nodes=('bridge',)),
    Setting('network.corruption', 'float', 0.0, 'Fraction of UDP replies with one bit flipped '
            '(the client checksum catches it).', 'bridge', '', 0.0, 1.0, nodes=('bridge',)),
    Setting('network.seed', 'int', -1, 'Seed of the network emulation (-1: random).',
            'bridge', '', -1, 2 ** 31 - 1, nodes=('bridge',)),
    Setting('web_port', 'int', 0, 'Port of the live view in the browser (0: off); on '
            'bind_address.', 'bridge', '', 0, 65535, nodes=('bridge',), keyword='web',
            flag='--web'),
    Setting('allow', 'networks', None, 'Client networks (CIDR) every legacy door and the live '
            'view serve; unset: loopback only when bound to it, else anyone, with a start-up '
            'warning (docs/lab_network.md).', 'bridge', nodes=('bridge',), keyword='allow',
            flag='--allow'),
    Setting('web_token', 'str', '', "The live view's token (empty: a fresh one when bound "
            'beyond loopback, none on it); given in the URL printed at start.', 'bridge',
            nodes=('bridge',), keyword='web_token', flag='--web-token'),
    Setting('web_view_only', 'bool', False, 'The live view without its buttons (no reset, '
            'push or e-stop from a browser).', 'bridge', nodes=('bridge',),
            keyword='web_view_only', flag='--web-view-only'),
    Setting('serial_device', 'str', '', 'Serve the legacy frames or the compact framing on '
            'this serial device (/dev/ttyACM0), or on a pseudo-terminal made at start '
            "('pty': its path is logged); empty: no serial door (docs/serial.md).", 'bridge',
            nodes=('bridge',), keyword='serial_device', flag='--serial-device'),
    Setting('serial_baud', 'int', 115200, "The serial door's baud rate (a start-up line says "
            'whether a control period fits the frames on the wire).', 'bridge', 'baud', 50,
            4000000, nodes=('bridge',), keyword='serial_baud', flag='--serial-baud'),
    Setting('serial_parity', 'choice', 'none', "The serial door's parity bit.", 'bridge',
            choices=('none', 'even', 'odd'), nodes=('bridge',), keyword='serial_parity',
            flag='--serial-parity'),
    Setting('serial_stop_bits', 'int', 1, "The serial door's stop bits.", 'bridge', '', 1, 2,
            nodes=('bridge',), keyword='serial_stop_bits', flag='--serial-stop-bits'),
    Setting('serial_framing', 'choice', 'compact', "The serial door's framing: the legacy "
            '64-byte frames, or COBS frames with a CRC-16 for 8-bit chips (docs/serial.md).',
            'bridge', choices=('compact', 'legacy'), nodes=('bridge',),
            keyword='serial_framing', flag='--serial-framing'),
    Setting('plant_node', 'str', 'plant', 'Name of the plant node in this namespace (for its '
            'parameters).', 'bridge', nodes=('bridge',)),
)

SETTINGS = {s.name: s for s in (*_PLANT, *_physics(), *_conditions(), *_BRIDGE)}
CONDITION_SECTIONS = ('sensor', 'actuator', 'safety', 'uncertainty')
NODES = ('plant', 'bridge')


def of_node(node):
    """Return the settings the ROS node ``node`` ('plant' or 'bridge') declares, in order."""
    return [s for s in SETTINGS.values() if node in s.nodes]


def config_keys():
    """Return ``{config.yaml dotted key: Setting}`` of the original project's layout."""
    return {s.config: s for s in SETTINGS.values() if s.config}


def defaults(door='plant'):
    """Return ``{name: default}`` of every setting, as ``door`` has them."""
    return {name: s.default_for(door) for name, s in SETTINGS.items()}


class RunTime:
    """
    What takes each run-time setting at one door: the one way a change reaches a running plant.

    ``setters``: ``{name: setter(value)}``, each name a setting the table
    marks ``runtime``; a name may be given more than once (:meth:`add`):
    every setter takes it.  ``checks``: ``{name: check(value)}``, the door's
    own check past the table's (it returns the value or raises
    SettingError).  ``labels``: the names the door's users know (for the
    refusals).  The plant host takes its settings this way, and so do the
    ROS nodes (:func:`~..ros.params.follow`) and the doors
    (:meth:`~..doors.assembly.Doors.runtime_setters`).
    """

    def __init__(self, setters=None, checks=None, labels=None):
        self.labels = labels or {}
        self._setters = {}
        self._checks = dict(checks or {})
        self.add(setters or {})

    def add(self, setters):
        """Add ``{name: setter}``; return self."""
        for name, setter in setters.items():
            if not SETTINGS[name].runtime:
                raise ValueError(f'{name} is not a run-time setting (settings table)')
            self._setters.setdefault(name, []).append(setter)
        return self

    @property
    def names(self):
        """Return the names this door takes at run time."""
        return tuple(self._setters)

    def __contains__(self, name):
        return name in self._setters

    def check(self, name, value):
        """Return ``value`` as ``name`` takes it, or raise SettingError naming it."""
        value = SETTINGS[name].check(value, self.labels.get(name, name))
        check = self._checks.get(name)
        return value if check is None else check(value)

    def apply(self, name, value):
        """Check ``value`` and hand it to every setter of ``name``; False if none takes it."""
        setters = self._setters.get(name)
        if not setters:
            return False
        value = self.check(name, value)
        for setter in setters:
            setter(value)
        return True


def condition_sections(values):
    """
    Return the scenario sections the condition settings of ``values`` switch on.

    Off (the default) is left out, so that a scenario's own sections win and
    a plant without them behaves exactly as before they existed.
    """
    sections = {}
    for name, value in values.items():
        section, _, key = name.partition('.')
        if section not in CONDITION_SECTIONS or value == SETTINGS[name].default:
            continue
        if section == 'actuator' and key == 'slew_rate' and value == 0.0:
            continue
        sections.setdefault(section, {})[key] = value
    return sections


# -- the reference tables of docs/parameters.md --------------------------------
TABLE_GROUPS = {'plant': 'The plant', 'physics': 'Physics', 'conditions': 'Test conditions',
                'bridge': 'The legacy doors (the bridge node; PlantServer, dip_plant_server)'}


def markdown_table(group):
    """Return the Markdown table of ``group`` (docs/parameters.md embeds it; a test compares)."""
    rows = ['| ROS parameter | PlantServer / config.yaml / CLI | default | range | unit '
            '| changes at run time (ROS) | description |',
            '| --- | --- | --- | --- | --- | --- | --- |']
    node = 'bridge' if group == 'bridge' else 'plant'
    for s in SETTINGS.values():
        # The bridge's table also lists what the bridge declares of another group.
        if s.group != group and not (group == 'bridge' and 'bridge' in s.nodes):
            continue
        doors = [f'`{s.keyword}=`' if s.keyword else '', f'`{s.config}`' if s.config else '',
                 f'`{s.flag}`' if s.flag else '']
        default = _shown(s.default_for(node))
        others = ', '.join(f'{door}: {_shown(value)}' for door, value in
                           (('plant', s.default), *s.door_defaults)
                           if door != node and (door in s.nodes or door not in NODES))
        if s.choices:
            limits = ' \\| '.join(f'`{c}`' for c in s.choices)
        elif s.kind == 'floats':
            limits = f'{s.length} numbers'
        else:
            limits = s.shown_range()
        names = ' '.join(d for d in doors if d) or '—'
        doc = s.doc.replace('|', '&#124;')          # a bar would end the cell
        rows.append(f'| {f"`{s.name}`" if s.nodes else f"— (`{s.name}`)"} | {names} '
                    f'| {default}{f" ({others})" if others else ""} | {limits or "—"} '
                    f'| {s.unit or "—"} | {"yes" if s.runtime else "no"} | {doc} |')
    return '\n'.join(rows)


def _shown(value):
    if value == '':
        return '`""`'
    return f'`{value}`'


def render_docs(text):
    """Return ``text`` with every ``<!-- settings:begin G -->`` block filled from the table."""
    for group in TABLE_GROUPS:
        begin, end = f'<!-- settings:begin {group} -->', f'<!-- settings:end {group} -->'
        if begin not in text:
            continue
        head, rest = text.split(begin, 1)
        _, tail = rest.split(end, 1)
        text = f'{head}{begin}\n{markdown_table(group)}\n{end}{tail}'
    return text


PARAMS_HEAD = """\
# Defaults of plant_server_ros, generated from its settings table:
#   python -m plant_server_ros.runtime.settings --params > config/plant_server.yaml
# ros2 launch and dip_hil read this file.  The /** section applies to every
# node whatever its namespace, so the same file serves /dip/plant, /dip2/plant, ...
"""


def params_yaml():
    """Return the ROS params file of every node's settings at their defaults (with comments)."""
    lines = [PARAMS_HEAD.rstrip('\n')]
    for node in ('plant', 'bridge'):
        lines += [f'/**/{node}:', '  ros__parameters:']
        section = None
        for s in of_node(node):
            group, _, key = s.name.rpartition('.')
            if group != section:
                if group:
                    lines.append(f'    {group}:')
                section = group
            indent = '      ' if group else '    '
            value = s.default_for(node)
            text = (f'{value!r}'.replace("'", '"') if isinstance(value, str) and value == ''
                    else str(list(value)) if isinstance(value, (list, tuple)) else str(value))
            unit = f'[{s.unit}] ' if s.unit and s.unit != 'SI' else ''
            short = s.doc.split(';')[0].split(' (')[0]
            comment = ' | '.join(s.choices) if s.choices else unit + short
            entry = f'{indent}{key or s.name}: {text}'
            if value is None:              # unset by default: a params file cannot say so
                entry = f'{indent}# {key or s.name}: [...]'
                comment = 'unset: ' + short
            lines.append(f'{entry:30s} # {comment}'.rstrip())
    return '\n'.join(lines) + '\n'


if __name__ == '__main__':
    # python -m plant_server_ros.runtime.settings docs/parameters.md: refresh the tables;
    # --params: print the params file.
    import sys
    if sys.argv[1:] == ['--params']:
        sys.stdout.write(params_yaml())
        raise SystemExit(0)
    for path in sys.argv[1:]:
        with open(path) as f:
            old = f.read()
        new = render_docs(old)
        if new != old:
            with open(path, 'w') as f:
                f.write(new)
            print(f'{path}: tables refreshed')
