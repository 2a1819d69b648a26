"""The settings table is the one place a setting lives: every door and doc follows it."""

import ast
import inspect
from pathlib import Path
import re

from plant_server_ros import PlantServer
from plant_server_ros.runtime import settings
from plant_server_ros.runtime.settings import of_node, SettingError, SETTINGS
from plant_server_ros.server import cli, config
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
PARAMETERS_DOC = REPO / 'docs' / 'parameters.md'

# The original project's config.yaml keys the server has always read.
ORIGINAL_KEYS = {
    'physics.cart_mass', 'physics.pendulum1_mass', 'physics.pendulum2_mass',
    'physics.pendulum1_length', 'physics.pendulum2_length', 'physics.pendulum1_com',
    'physics.pendulum2_com', 'physics.pendulum1_inertia', 'physics.pendulum2_inertia',
    'physics.gravity', 'physics.cart_friction', 'physics.joint1_friction',
    'physics.joint2_friction', 'simulation.dt', 'simulation.initial_state', 'hil.plant_ip',
    'hil.plant_port', 'hil.extra_latency_ms', 'hil.sensor_noise_std', 'global_seed'}
# dip_plant_server's flags before the table made them.
ORIGINAL_FLAGS = {'--config', '--max-steps', '--mode', '--bind', '--port', '--udp-port', '--dt',
                  '--noise', '--seed', '--latency-ms', '--scenario', '--web', '--record',
                  '--log-level'}


def _flatten(tree, prefix=''):
    for key, value in tree.items():
        if isinstance(value, dict):
            yield from _flatten(value, f'{prefix}{key}.')
        else:
            yield f'{prefix}{key}', value


@pytest.mark.parametrize('node', ['plant', 'bridge'])
def test_the_params_file_holds_every_setting_of_its_node_at_the_table_default(node):
    tree = yaml.safe_load((REPO / 'config' / 'plant_server.yaml').read_text())
    in_file = dict(_flatten(tree[f'/**/{node}']['ros__parameters']))
    assert in_file == {s.name: s.default_for(node) for s in of_node(node)
                       if s.default_for(node) is not None}       # unset ones: commented


def test_the_config_keys_are_the_original_layout():
    assert set(config.KEYS) == ORIGINAL_KEYS | {'simulation.use_full_dynamics'}
    # One setting, two names: the original pendulum1_* is the ROS link1_*.
    assert config.KEYS['physics.pendulum1_mass'].name == 'physics.link1_mass'


def test_every_flag_of_the_table_is_a_cli_flag_and_none_went_missing():
    flags = {flag for action in cli.build_parser()._actions for flag in action.option_strings}
    assert {s.flag for s in SETTINGS.values() if s.flag} <= flags
    assert ORIGINAL_FLAGS <= flags


def test_every_keyword_of_the_table_is_taken_by_plant_server():
    keywords = {s.keyword: s.default_for('PlantServer') for s in SETTINGS.values()
                if s.keyword and '[' not in s.keyword and s.keyword != 'web'}
    keywords['record'] = None           # '' is "no recording"; None leaves it off too
    keywords['scenario'] = None
    with PlantServer(bind_addr=('127.0.0.1', 0), **{**keywords, 'mode': 'lockstep'}) as server:
        assert server.host.values['integrator'] == 'rk6'


def test_plant_server_refuses_a_keyword_that_is_no_setting():
    with pytest.raises(TypeError, match='turbo'):
        PlantServer(bind_addr=('127.0.0.1', 0), turbo=True)


@pytest.mark.parametrize('label', ['dt', 'simulation.dt', '--dt', "parameter 'dt'"])
def test_one_message_shape_names_the_setting_as_each_door_spells_it(label):
    with pytest.raises(SettingError) as err:
        SETTINGS['dt'].check(5.0, label)
    assert str(err.value) == f'{label}: must be in [0.0001, 1], got 5.0'


def test_each_door_refuses_a_bad_value_in_that_shape():
    with pytest.raises(config.ConfigError, match=r'^dt: must be in \[0.0001, 1\], got 5$'):
        PlantServer(bind_addr=('127.0.0.1', 0), dt=5)
    with pytest.raises(config.ConfigError, match=r'^simulation\.dt: must be in'):
        PlantServer(bind_addr=('127.0.0.1', 0), cfg={'simulation': {'dt': 5}})
    with pytest.raises(SystemExit) as exit_:
        cli.build_parser().parse_args(['--dt', '5'])
    assert exit_.value.code == 2


def test_integer_and_number_kinds_are_told_apart():
    assert SETTINGS['max_steps'].problem(2.5) == 'must be an integer in [0, 4611686018427387904]'
    assert SETTINGS['max_force'].check(5) == 5.0
    assert isinstance(SETTINGS['max_force'].check(5), float)
    assert SETTINGS['sensor.bias'].check([0, 0, 0, 0, 0, 1]) == [0.0] * 5 + [1.0]
    assert SETTINGS['mode'].problem('turbo') == "must be one of ['realtime', 'lockstep']"
    assert SETTINGS['bind_address'].problem('') == 'must be a non-empty string'


def test_the_condition_settings_switch_on_only_what_is_not_off():
    values = settings.defaults()
    assert settings.condition_sections(values) == {}
    values.update({'sensor.delay': 2, 'actuator.slew_rate': 0.0, 'safety.fall_angle': 1.0})
    assert settings.condition_sections(values) == {'sensor': {'delay': 2},
                                                   'safety': {'fall_angle': 1.0}}


def test_busy_poll_defaults_are_one_entry_with_a_value_per_door():
    poll = SETTINGS['busy_poll_us']
    assert [poll.default_for(door) for door in
            ('plant', 'bridge', 'dip_hil', 'PlantServer', 'PlantServer lock-step')] == \
        [150, 300, 0, 0, 200]


def test_the_parameter_tables_of_the_docs_are_generated_from_the_table():
    text = PARAMETERS_DOC.read_text()
    blocks = re.findall(r'<!-- settings:begin (\w+) -->', text)
    assert set(blocks) == set(settings.TABLE_GROUPS), 'docs/parameters.md lacks a table'
    assert settings.render_docs(text) == text, (
        'docs/parameters.md is stale: python -m plant_server_ros.runtime.settings '
        'docs/parameters.md')


def test_the_params_file_is_the_one_the_table_generates():
    assert (REPO / 'config' / 'plant_server.yaml').read_text() == settings.params_yaml(), (
        'config/plant_server.yaml is stale: python -m plant_server_ros.runtime.settings '
        '--params > config/plant_server.yaml')


def _literal_defaults(tree):
    """Yield ``(name, value, line)`` of each parameter or class field with a literal default."""
    for node in ast.walk(tree):
        pairs = []
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            args = node.args
            positional = args.posonlyargs + args.args
            pairs = list(zip(positional[len(positional) - len(args.defaults):], args.defaults))
            pairs += [(a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None]
            pairs = [(a.arg, d) for a, d in pairs]
        elif isinstance(node, ast.ClassDef):
            pairs = [(s.target.id, s.value) for s in node.body if isinstance(s, ast.AnnAssign)
                     and isinstance(s.target, ast.Name) and s.value is not None]
        for name, default in pairs:
            if isinstance(default, ast.Constant):
                yield name, default.value, default.lineno


def test_no_default_of_a_setting_is_written_again_outside_the_table():
    # A parameter or field named after a setting, whose literal default is that
    # setting's default (at any door), is a copy that would silently stay behind
    # when the table changes: it must read the table (or, below it, the model's
    # own constant the table reads).
    package = Path(settings.__file__).resolve().parents[1]
    table = {name: [s.default] + [d for _, d in s.door_defaults]
             for name, s in settings.SETTINGS.items() if '.' not in name}
    copies = []
    for path in sorted(package.rglob('*.py')):
        if path == Path(settings.__file__).resolve():
            continue
        for name, value, line in _literal_defaults(ast.parse(path.read_text())):
            if name in table and not isinstance(value, bool) and value is not None and \
                    any(value == d and type(value) is type(d) for d in table[name]):
                copies.append(f'{path.relative_to(package.parent)}:{line}: {name}={value!r}')
    assert not copies, 'defaults written again outside the settings table:\n' + \
        '\n'.join(copies)


def test_the_models_own_defaults_are_the_tables():
    # physics stands below the table: the table reads these, never the other way.
    from plant_server_ros.physics.dynamics import DIPDynamics, DIPParams
    from plant_server_ros.physics.state import DEFAULT_INITIAL_STATE
    signature = inspect.signature(DIPDynamics)
    assert settings.SETTINGS['integrator'].default == signature.parameters['integrator'].default
    assert settings.SETTINGS['substeps'].default == signature.parameters['substeps'].default
    assert settings.SETTINGS['initial_state'].default == list(DEFAULT_INITIAL_STATE)
    for name, value in vars(DIPParams()).items():
        assert settings.SETTINGS[f'physics.{name}'].default == value
