"""
Property-based tests (Hypothesis): a clean refusal by name or a valid result, never else.

Driven with generated inputs: the config, scenario and campaign loaders, the
TCP frame and UDP datagram decoders, the live view's WebSocket command
parser and the RESET-state check.  Any other exception is a failure.  The
``ci`` profile (test/conftest.py) keeps the run short; ``HYPOTHESIS_PROFILE=long``
runs thousands of examples.
"""

import asyncio
import json
import math
import struct

from _hypothesis import given, st
from plant_server_ros.conditions.scenario import load, Scenario, ScenarioError, SECTIONS
from plant_server_ros.inputs import yaml_file
from plant_server_ros.legacy.datagram import DatagramError, decode_command, encode_command
from plant_server_ros.legacy.protocol import FRAME, MsgType, parse_request, ProtocolError
from plant_server_ros.physics import state as state_module
from plant_server_ros.server import config
import pytest

# Scalars as a YAML file or a JSON message may hold them, edges included.
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-2 ** 70, max_value=2 ** 70),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
    st.sampled_from(['1e-300', '1e5', '0o17', 'nan', '.inf', '', 'derived', 'step', 'force']))
trees = st.recursive(scalars, lambda kids: st.one_of(
    st.lists(kids, max_size=6), st.dictionaries(st.text(max_size=8), kids, max_size=5)),
    max_leaves=30)
floats = st.floats(allow_nan=True, allow_infinity=True)


def sections(keys):
    """Return mappings whose keys are mostly the expected names, their values anything."""
    return st.dictionaries(st.one_of(st.sampled_from(keys), st.text(max_size=6)), trees,
                           max_size=len(keys))


# -- the YAML reader and the config --------------------------------------------------------
yaml_texts = st.one_of(
    st.text(max_size=200),
    st.lists(st.sampled_from(['a: ', '&x ', '*x ', '[', ']', '{', '}', ', ', '\n', '- ',
                              '<<: ', '1e5', '!!float ', '? ', ':', '"', "'", '  ', 'physics',
                              'simulation.dt', '\t', '%YAML 1.1\n', '---\n']),
             max_size=60).map(''.join))


@given(yaml_texts)
def test_yaml_text_is_a_document_or_a_named_refusal(text):
    try:
        yaml_file.parse(text, 'fuzz.yaml')
    except yaml_file.YamlFileError as exc:
        assert str(exc).startswith('fuzz.yaml ')


config_trees = st.fixed_dictionaries({}, optional={
    'physics': sections(list(config.PHYSICS)),
    'simulation': sections(['dt', 'initial_state']),
    'hil': sections(['plant_ip', 'plant_port', 'extra_latency_ms', 'sensor_noise_std']),
    'global_seed': trees})


@given(st.one_of(config_trees, trees))
def test_config_is_settings_or_a_named_refusal(tree):
    try:
        settings = config.load(tree if tree is not None else {})
        config.physics(settings)
    except config.ConfigError as exc:
        assert str(exc)
        return
    for key, value in settings.items():
        assert isinstance(value, (int, float, str, tuple)), (key, value)


# -- scenarios and campaigns ----------------------------------------------------------------
scenario_trees = st.dictionaries(st.sampled_from(SECTIONS), trees, max_size=5) | \
    st.fixed_dictionaries({}, optional={
        'sensor': sections(['noise_std', 'bias', 'delay', 'velocities', 'quantum', 'dropout']),
        'actuator': sections(['max_force', 'deadband', 'slew_rate', 'time_constant', 'delay']),
        'criteria': sections(['max_abs_theta', 'balanced', 'settling_time', 'rms_force']),
        'disturbances': st.lists(sections(['kind', 'channel', 'amplitude', 'start']),
                                 max_size=3),
        'network': sections(['latency_ms', 'jitter_ms', 'loss']),
        'safety': sections(['fall_angle', 'max_joint_rate']),
        'uncertainty': sections(['masses', 'frictions']),
        'initial_state': st.lists(floats, max_size=7)})


@given(st.one_of(scenario_trees, trees))
def test_scenario_is_valid_or_a_named_refusal(tree):
    try:
        scenario = Scenario.from_dict(tree)
    except ScenarioError as exc:
        assert str(exc).startswith('scenario: ')
        return
    assert isinstance(scenario, Scenario)
    json.dumps(scenario.describe(), default=str)


@given(st.lists(st.one_of(trees, st.fixed_dictionaries(
    {'scenario': st.one_of(scenario_trees, trees)},
    optional={'repeats': trees, 'seeds': st.one_of(trees, st.lists(st.integers(), max_size=4))})),
    max_size=4))
def test_campaign_is_played_or_a_named_refusal(entries):
    try:
        played = load({'campaign': entries})
    except ScenarioError as exc:
        assert str(exc).startswith(('campaign: ', 'scenario', 'cannot read scenario'))
        return
    assert played and all(isinstance(s, Scenario) for s in played)


# -- the legacy decoders --------------------------------------------------------------------
frames = st.one_of(
    st.binary(min_size=64, max_size=64),
    st.tuples(st.sampled_from([56, 0, 57, 2 ** 32 - 1]),
              st.sampled_from([t.value for t in MsgType] + [0, 99]),
              st.lists(floats, min_size=7, max_size=7)).map(
        lambda f: FRAME.pack(f[0], f[1], *f[2])))


@given(frames)
def test_tcp_frame_is_a_request_or_a_protocol_error(frame):
    try:
        msg_type, payload = parse_request(frame)
    except ProtocolError as exc:
        assert exc.code is not None
        return
    assert msg_type in (MsgType.CONTROL, MsgType.RESET) and len(payload) == 7


@given(st.one_of(st.binary(max_size=64),
                 st.tuples(st.integers(0, 2 ** 32 - 1), floats).map(
                     lambda c: encode_command(*c))))
def test_udp_datagram_is_a_command_or_a_datagram_error(data):
    try:
        seq, u = decode_command(data)
    except DatagramError as exc:
        assert exc.kind
        return
    assert isinstance(seq, int) and math.isfinite(u)


# -- the live view's commands --------------------------------------------------------------
class _Actions:
    def reset(self):
        return 'reset'

    def push(self, *args):
        return list(args[:3])

    def estop(self):
        return 'estop'


messages = st.one_of(
    st.text(max_size=80), st.binary(max_size=20),
    st.fixed_dictionaries({'cmd': st.one_of(st.sampled_from(['reset', 'push', 'estop']),
                                            scalars)},
                          optional={'force': scalars, 'tau1': scalars, 'tau2': scalars,
                                    'duration': scalars, 'id': scalars, 'x': scalars}).map(
        lambda c: json.dumps(c, allow_nan=True)),
    trees.map(lambda t: json.dumps(t, allow_nan=True)))


@pytest.fixture(scope='module')
def live_view():
    module = pytest.importorskip('plant_server_ros.doors.web.live_view',
                                 reason='websockets is not installed')
    from plant_server_ros.runtime.plant import Plant
    view = module.LiveView(Plant(dt=0.01), _Actions())      # not started: no port
    yield view
    view.close()


@given(message=messages)
def test_websocket_command_is_a_reply_or_an_error(live_view, message):
    reply = asyncio.run(_command(live_view, message))
    assert reply['type'] in ('reply', 'error')
    json.dumps(reply)
    if reply['type'] == 'error':
        assert reply['error']


async def _command(view, message):
    class Client:
        peer = ('127.0.0.1', 1)
    return await view._command(message, Client())


# -- the RESET-state check -----------------------------------------------------------------
@given(st.one_of(st.lists(floats, min_size=0, max_size=8), st.lists(scalars, max_size=7),
                 trees))
def test_reset_state_is_bounded_or_refused(values):
    try:
        state = state_module.check_state(values)
    except state_module.InvalidStateError as exc:
        assert str(exc)
        return
    except TypeError:            # not even iterable: the doors hand it a sequence always
        assert not hasattr(values, '__iter__')
        return
    assert len(state) == 6 and state_module.all_finite(state)
    assert all(abs(v) <= 1e6 for v in state)


@given(st.tuples(*[floats] * 6))
def test_a_reset_frame_that_parses_is_either_bad_state_or_a_plant_state(p):
    frame = FRAME.pack(56, MsgType.RESET, *p, 1.0)
    try:
        _, payload = parse_request(frame)
        state_module.check_state(payload[:6])
    except (ProtocolError, state_module.InvalidStateError):
        return
    assert all(math.isfinite(v) and abs(v) <= 1e6 for v in p)


def test_struct_is_the_contract_layout():
    assert FRAME.size == 64 and struct.calcsize('!II7d') == 64
