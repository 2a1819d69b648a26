"""Nonsense refused by name: bounded YAML files, flags, states, parameters, damaged recordings."""

import math
import os
from pathlib import Path
import subprocess
import sys
import time

from plant_server_ros.conditions.scenario import load, Scenario, ScenarioError
from plant_server_ros.inputs import yaml_file
from plant_server_ros.physics.dynamics import DIPParams
from plant_server_ros.physics.state import all_finite, check_state, InvalidStateError, \
    STATE_NAMES
from plant_server_ros.server import config
import pytest

REPO = Path(__file__).resolve().parents[1]


def laughs(levels=9):
    """Return a "billion laughs" YAML text: ten aliases per level."""
    lines = ['a0: &a0 [x, x, x, x, x, x, x, x, x, x]']
    for k in range(1, levels + 1):
        lines.append(f'a{k}: &a{k} [' + ', '.join([f'*a{k - 1}'] * 10) + ']')
    return '\n'.join(lines) + '\n'


def run_cli(*args, timeout=30):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, '-m', 'plant_server_ros.server.cli', *args],
                          env=env, capture_output=True, text=True, timeout=timeout)


def one_line_exit_2(result, *words):
    lines = (result.stdout + result.stderr).strip().splitlines()
    assert result.returncode == 2, result.stdout + result.stderr
    assert len(lines) == 1 and 'Traceback' not in lines[0], lines
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


# -- the YAML reader -------------------------------------------------------------------------
def test_alias_expansion_is_refused_while_composing():
    begin = time.monotonic()
    with pytest.raises(yaml_file.YamlFileError, match='expands to more than'):
        yaml_file.parse(laughs())
    assert time.monotonic() - begin < 2.0


def test_merge_keys_count_what_they_copy():
    text = 'a: &a {' + ', '.join(f'k{i}: 0' for i in range(100)) + '}\n'
    text += 'b: &b {<<: [' + ', '.join(['*a'] * 1) + ']}\n'
    assert yaml_file.parse(text)['b']['k99'] == 0
    many = 'a: &a [' + ', '.join(['0'] * 1000) + ']\n' + \
        'b: [' + ', '.join(['*a'] * 200) + ']\n'             # 200 000 nodes expanded
    with pytest.raises(yaml_file.YamlFileError, match='expands'):
        yaml_file.parse(many)


@pytest.mark.parametrize('text', ['[' * 3000 + ']' * 3000, 'a:\n' + ''.join(
    ' ' * k + f'k{k}:\n' for k in range(1, 100)) + ' ' * 100 + '1\n'], ids=['flow', 'block'])
def test_deep_nesting_is_refused_by_depth(text):
    with pytest.raises(yaml_file.YamlFileError, match='nested deeper than 64'):
        yaml_file.parse(text)


def test_deep_nesting_through_aliases_is_refused():
    text = 'a: &a ' + '[' * 40 + ']' * 40 + '\nb: ' + '[' * 30 + '*a' + ']' * 30 + '\n'
    with pytest.raises(yaml_file.YamlFileError, match='nested deeper'):
        yaml_file.parse(text)


def test_size_and_encoding(tmp_path):
    big = tmp_path / 'big.yaml'
    big.write_bytes(b'# ' + b'x' * yaml_file.MAX_BYTES + b'\n')
    with pytest.raises(yaml_file.YamlFileError, match='larger than'):
        yaml_file.load(big)
    latin = tmp_path / 'latin.yaml'
    latin.write_bytes('name: caf\xe9\n'.encode('latin-1'))
    with pytest.raises(yaml_file.YamlFileError, match=r'not UTF-8 text \(byte 9\)'):
        yaml_file.load(latin)
    bom = tmp_path / 'bom.yaml'
    bom.write_bytes('name: café\n'.encode('utf-8-sig'))
    assert yaml_file.load(bom) == {'name': 'café'}


@pytest.mark.parametrize('text, value', [
    ('1e-300', 1e-300), ('1e5', 1e5), ('-2E+3', -2000.0), ('1.5e3', 1500.0), ('1_000', 1000),
    ('0o17', 15), ('0x1F', 31), ('.inf', math.inf), ('"1e5"', '1e5'), ('1e5x', '1e5x'),
    ('e5', 'e5'), ('1.0', 1.0)])
def test_numbers_in_every_spelling(text, value):
    assert yaml_file.parse(f'v: {text}') == {'v': value}
    assert type(yaml_file.parse(f'v: {text}')['v']) is type(value)


def test_a_number_written_1e_300_is_a_number_in_a_config(tmp_path):
    path = tmp_path / 'config.yaml'
    path.write_text('physics: {pendulum1_inertia: 1e-300}\nsimulation: {dt: 1e-2}\n')
    assert config.load(path) == {'physics.link1_inertia': 1e-300, 'dt': 0.01}


def test_the_config_spin_is_gone(tmp_path):
    path = tmp_path / 'config.yaml'
    path.write_text(laughs() + 'physics: {cart_mass: 1.0}\n')
    with pytest.raises(config.ConfigError, match='expands to more than'):
        config.load(path)


# -- scenarios and campaigns ----------------------------------------------------------------
@pytest.mark.parametrize('section, words', [
    ({'sensor': {'delay': 10 ** 8}}, 'sensor: delay must be an integer number of samples in '
     '[0, 1000], got 100000000'),
    ({'actuator': {'delay': 1001}}, 'actuator: delay must be an int in [0, 1000]'),
    ({'criteria': {'max_abs_theta': '0.3'}}, "criteria.max_abs_theta must be a number, got '0.3'"),
    ({'criteria': {'max_abs_tehta': 0.3}}, 'criteria.max_abs_tehta is not a criterion'),
    ({'criteria': {'balanced': 1}}, 'criteria.balanced must be true or false'),
    ({'disturbances': [{'kind': 'step', 'channel': 'force'}] * 1001},
     'disturbances holds at most 1000 entries, got 1001'),
], ids=['sensor-delay', 'actuator-delay', 'string-limit', 'unknown-criterion', 'balanced',
        'disturbances'])
def test_scenario_sizes_and_criteria_are_refused_by_name(section, words):
    with pytest.raises(ScenarioError) as info:
        Scenario.from_dict(section)
    assert words in str(info.value)


def test_scenario_bounds_keep_their_edges():
    assert Scenario.from_dict({'sensor': {'delay': 1000}, 'actuator': {'delay': 1000},
                               'criteria': {'max_abs_theta': 0.3, 'balanced': True}})


@pytest.mark.parametrize('entry, words', [
    ({'scenario': {}, 'repeats': 10 ** 9}, 'campaign[0].repeats must be an integer in '
     '[1, 10000], got 1000000000'),
    ({'scenario': {}, 'seeds': list(range(10001))}, 'campaign[0].seeds holds at most 10000'),
    ({'scenario': 5}, 'campaign[0].scenario must be a file name or a mapping, got 5'),
    ({'scenario': ['a.yaml']}, 'campaign[0].scenario must be a file name or a mapping'),
    ('nominal.yaml', 'campaign[0] must be a mapping with a scenario'),
], ids=['repeats', 'seeds', 'int', 'list', 'string'])
def test_campaign_entries_are_refused_by_name(entry, words):
    begin = time.monotonic()
    with pytest.raises(ScenarioError) as info:
        load({'campaign': [entry]})
    assert words in str(info.value)
    assert time.monotonic() - begin < 2.0


def test_a_campaign_plays_at_most_max_episodes():
    with pytest.raises(ScenarioError, match='at most 100000 episodes'):
        load({'campaign': [{'scenario': {}, 'repeats': 10000}] * 11})


def test_scenario_files_go_through_the_bounded_reader(tmp_path):
    path = tmp_path / 'lol.yaml'
    path.write_text(laughs())
    with pytest.raises(ScenarioError, match=f'scenario {path} expands'):
        load(str(path))


# -- states and parameters ------------------------------------------------------------------
def test_finite_values_are_finite():
    assert all_finite([1e308, 1e308, 0.0])
    assert not all_finite([1e308, math.inf, 0.0])
    assert not all_finite([math.nan, 0.0])
    assert not all_finite([math.inf, -math.inf])


@pytest.mark.parametrize('field', range(6), ids=STATE_NAMES)
@pytest.mark.parametrize('bad', [math.nan, math.inf, -math.inf], ids=['nan', 'inf', '-inf'])
def test_every_field_of_a_state_is_checked_for_finiteness(field, bad):
    state = [0.0] * 6
    state[field] = bad
    with pytest.raises(InvalidStateError, match=f'not finite: {STATE_NAMES[field]} ='):
        check_state(state)


@pytest.mark.parametrize('field', range(6), ids=STATE_NAMES)
def test_every_field_of_a_state_is_bounded(field):
    state = [0.0] * 6
    state[field] = 1e300
    with pytest.raises(InvalidStateError, match=f'{STATE_NAMES[field]} = 1e\\+300 .* is beyond'):
        check_state(state)
    state[field] = -1e6                      # the bound itself is fine
    assert check_state(state)[field] == -1e6


def test_overflowing_finite_state_is_beyond_not_non_finite():
    with pytest.raises(InvalidStateError, match='beyond what the dynamics can represent'):
        check_state([1e308, 1e308, 0, 0, 0, 0])


@pytest.mark.parametrize('changes, words', [
    ({'link2_com': 0.0, 'link2_inertia': 0.0}, 'link2_com and link2_inertia'),
    ({'link1_com': 0.0, 'link1_inertia': 0.0, 'link2_com': 0.0, 'link2_inertia': 0.0},
     'link2_com and link2_inertia'),
    ({'link2_com': 1e-9, 'link2_inertia': 0.0}, 'link2_com and link2_inertia'),
], ids=['link2-point', 'both-points', 'link2-tiny'])
def test_singular_mass_matrices_are_refused_naming_the_parameters(changes, words):
    with pytest.raises(ValueError, match='mass matrix is singular or ill-conditioned') as info:
        DIPParams(**changes)
    assert words in str(info.value)


def test_plants_with_a_regular_mass_matrix_are_accepted():
    DIPParams()
    DIPParams(link1_com=0.0, link1_inertia=0.0)     # link 2's mass at its end gives link 1 inertia
    DIPParams(link2_inertia=0.0)
    DIPParams(cart_mass=1e6, link2_mass=1e-6)


def test_a_singular_config_is_a_config_error(tmp_path):
    path = tmp_path / 'config.yaml'
    path.write_text('physics: {pendulum2_com: 0, pendulum2_inertia: 0}\n')
    with pytest.raises(config.ConfigError, match='physics: the mass matrix'):
        config.physics(config.load(path))


# -- dip_plant_server's flags and files -----------------------------------------------------
@pytest.mark.parametrize('args, words', [
    (['--port', '70000'], ['--port', '[0, 65535]']),
    (['--port', '-1'], ['--port', '[0, 65535]']),
    (['--udp-port', '65536'], ['--udp-port']),
    (['--web', '99999'], ['--web']),
    (['--dt', 'nan'], ['--dt']),
    (['--latency-ms', '-1'], ['--latency-ms']),
    (['--max-steps', '-1'], ['--max-steps']),
], ids=['port-high', 'port-low', 'udp-port', 'web', 'dt-nan', 'latency', 'max-steps'])
def test_flags_out_of_range_exit_2_in_one_line(args, words):
    one_line_exit_2(run_cli('--port', '0', *args), *words)


def test_record_onto_a_file_names_the_record_path(tmp_path):
    path = tmp_path / 'a_file'
    path.write_text('')
    line = one_line_exit_2(run_cli('--port', '0', '--record', str(path)), '--record', str(path))
    assert 'listen' not in line


@pytest.mark.parametrize('content, words', [
    (laughs().encode(), 'expands to more than'),
    (b'a: \xff\n', 'not UTF-8 text'),
    (b'[' * 5000 + b']' * 5000, 'nested deeper than 64'),
    (b'hil: {plant_port: 70000}\n', 'hil.plant_port'),
], ids=['aliases', 'encoding', 'depth', 'port'])
def test_bad_config_files_exit_2_in_one_line(tmp_path, content, words):
    path = tmp_path / 'config.yaml'
    path.write_bytes(content)
    one_line_exit_2(run_cli('--port', '0', '--config', str(path), timeout=20), words)


def test_a_huge_sensor_delay_exits_2_before_allocating(tmp_path):
    path = tmp_path / 'scenario.yaml'
    path.write_text('sensor: {delay: 100000000}\n')
    one_line_exit_2(run_cli('--port', '0', '--scenario', str(path), timeout=20), 'sensor')


# -- dip_export of a damaged recording ------------------------------------------------------
@pytest.fixture
def recording(tmp_path):
    pytest.importorskip('mcap')
    pytest.importorskip('mcap_ros2')
    from plant_server_ros.observers.recording import Recorder
    from plant_server_ros.runtime.lockstep import LockstepSchedule
    from plant_server_ros.runtime.plant import Plant
    from plant_server_ros.runtime.schedule import Fanout, PlantListener
    plant = Plant(dt=0.01, seed=2)
    recorder = Recorder(tmp_path / 'rec', plant, 0.01, chunk_size=4096)
    schedule = LockstepSchedule(plant, Fanout(PlantListener(), [recorder]))
    schedule.start()
    schedule.reset()
    for _ in range(300):
        schedule.control(0.0)
    recorder.close()
    return recorder.files[-1]


def test_export_of_an_intact_recording_is_quiet_under_strict(recording, capsys):
    from plant_server_ros.analysis import export
    assert export.main([str(recording), '--strict']) == 0
    assert capsys.readouterr().err == ''


@pytest.mark.parametrize('where', [0.3, 0.5])
def test_export_says_what_a_damaged_recording_lost(recording, tmp_path, capsys, where):
    from plant_server_ros.analysis import export
    data = bytearray(recording.read_bytes())
    at = int(len(data) * where)
    data[at:at + 2000] = bytes(2000)                # part of its middle overwritten
    damaged = tmp_path / 'damaged.mcap'
    damaged.write_bytes(bytes(data))
    out = tmp_path / 'out.csv'
    assert export.main([str(damaged), '--csv', str(out)]) == 0
    err = capsys.readouterr().err
    assert f'{damaged} is damaged: 1 of ' in err and 'chunks skipped (at byte' in err
    assert 'messages lost' in err and 'was not closed' not in err
    assert 'misses 10 samples between its first and last' in err
    rows = out.read_text().splitlines()
    assert len(rows) == 1 + 301 - 10              # the rest exported
    assert export.main([str(damaged), '--csv', str(out), '--strict']) == 1


@pytest.mark.parametrize('field', range(6), ids=STATE_NAMES)
def test_a_reset_beyond_the_dynamics_is_bad_state_on_the_tcp_door(field):
    import threading
    from plant_server_ros import PlantServer
    from plant_server_ros.clients.tcp_client import LegacyClient
    from plant_server_ros.legacy.protocol import ErrorCode, ProtocolError
    ready = threading.Event()
    server = PlantServer(bind_addr=('127.0.0.1', 0), mode='lockstep', server_ready_event=ready,
                         track_limit=1000.0 if field == 0 else 2.0)   # the table's widest
    thread = threading.Thread(target=server.start, daemon=True)
    thread.start()
    try:
        assert ready.wait(10)
        target = [0.0] * 6
        target[field] = 1e300
        with LegacyClient(port=server.port, timeout=5.0) as client:
            with pytest.raises(ProtocolError) as err:
                client.reset(target)
        assert err.value.code is ErrorCode.BAD_STATE
        assert server.plant.state != tuple(target)          # not carried
    finally:
        server.stop()
        thread.join(10)
        server.close()
