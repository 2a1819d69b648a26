"""
``dip_test`` and ``run_campaign``: verdicts, failures with their reasons, outputs.

Fast tests play short scenarios (1 s) in lock-step; the end-to-end ones (the
shipped campaign over TCP, UDP, with the C client, the ROS door) are marked
``slow``.  Each asserts the verdict and the reason it names, and that the
outputs say the same (table, JUnit XML, JSON, exit status).
"""

import ast
import json
import os
from pathlib import Path
import shutil
import socket
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

from plant_server_ros.clients import controllers
from plant_server_ros.conditions.scenario import load, ScenarioPlayer
from plant_server_ros.runtime.host import PlantHost
from plant_server_ros.runtime.schedule import PlantFinished
from plant_server_ros.testing import cli, run_campaign
from plant_server_ros.testing.junit import to_xml
import pytest

REPO = Path(__file__).resolve().parents[1]
CONTROLLERS = str(REPO / 'test' / '_dip_controllers.py')
PY = sys.executable
DIP_CLIENT = [PY, '-m', 'plant_server_ros.clients.cli', '--port', '{port}', '--seconds',
              '{duration}']
LQR = controllers.lqr(0.01, 20.0)


def lqr(measured, t):
    return LQR(measured)


def flipped_pd():
    gain = controllers.lqr_gain(0.01)
    bad = controllers.pd(-gain[:3], -gain[3:], 20.0)
    return lambda measured, t: bad(measured)


@pytest.fixture(autouse=True)
def checkout_importable(monkeypatch):
    """Let controller processes import this checkout."""
    path = os.pathsep.join([str(REPO), os.environ.get('PYTHONPATH', '')])
    monkeypatch.setenv('PYTHONPATH', path)


@pytest.fixture
def short(tmp_path):
    """Write a campaign of two 1 s scenarios (seeds 1 and 2), criteria on theta and x."""
    (tmp_path / 'calm.yaml').write_text(
        'name: calm\nseed: 1\nduration: 1.0\n'
        'criteria: {max_abs_theta: 0.3, max_abs_x: 1.0, max_deadline_misses: 1000}\n')
    (tmp_path / 'pushed.yaml').write_text(
        'name: pushed\nseed: 2\nduration: 1.0\n'
        'disturbances: [{kind: pulse, channel: force, amplitude: 10, start: 0.3, '
        'duration: 0.1}]\ncriteria: {max_abs_theta: 0.4, max_abs_x: 1.5}\n')
    path = tmp_path / 'short.yaml'
    path.write_text('campaign:\n  - {scenario: calm.yaml}\n  - {scenario: pushed.yaml}\n')
    return path


# -- the campaign's end ---------------------------------------------------------

def test_player_repeat_finishes_and_default_starts_over():
    scenarios = load('campaign.yaml')
    host = PlantHost({'mode': 'lockstep'}, scenario=ScenarioPlayer(scenarios, repeat=2))
    host.start()
    names = [(host.reset().result(1.0), host.plant.scenario.name)[1]
             for _ in range(2 * len(scenarios))]
    assert names == [s.name for s in scenarios] * 2
    with pytest.raises(PlantFinished, match='campaign finished'):
        host.reset()
    endless = PlantHost({'mode': 'lockstep'}, scenario=ScenarioPlayer(scenarios))
    endless.start()
    for _ in range(len(scenarios) + 1):
        endless.reset().result(1.0)
    assert endless.plant.scenario.name == scenarios[0].name   # started over, as before


# -- in-process Python controllers --------------------------------------------------

def test_python_lqr_passes_the_shipped_campaign_fast():
    began = time.perf_counter()
    result = run_campaign('campaign.yaml', controller=lqr)
    assert result.passed, result.explain()
    assert [e.scenario for e in result.episodes] == [s.name for s in load('campaign.yaml')]
    assert all(e.metrics['steps'] == 1000 and e.ended.startswith('scenario_done')
               for e in result.episodes)
    assert all(e.metrics['response_p50_ms'] is not None for e in result.episodes)
    assert time.perf_counter() - began < 30


def test_flipped_pd_fails_with_the_criteria_named(short):
    result = run_campaign(short, controller=flipped_pd())
    assert not result.passed
    for e in result.episodes:
        assert not e.passed
        assert any(f.startswith(('plant halted', 'pendulum fell')) for f in e.failures), \
            e.failures
        assert any(f.startswith('max_abs_theta: measured') and '> limit' in f
                   for f in e.failures), e.failures
    assert 'max_abs_theta' in result.explain() and 'FAIL' in repr(result)


def test_python_controller_that_raises_or_returns_nan_fails_with_the_reason(short):
    def broken(measured, t):
        if t > 0.2:
            raise RuntimeError('boom')
        return LQR(measured)
    result = run_campaign(short, controller=broken)
    assert all('controller raised RuntimeError: boom' in e.failures[0]
               for e in result.episodes)
    result = run_campaign(short, controller=lambda m, t: float('nan') if t > 0.1 else 0.0)
    assert all('non-finite command' in e.failures[0] for e in result.episodes)


def test_unknown_criterion_is_refused_by_name(tmp_path):
    path = tmp_path / 'bad.yaml'
    path.write_text('name: bad\nduration: 1.0\ncriteria: {max_abs_thetaa: 0.3}\n')
    with pytest.raises(Exception, match='max_abs_thetaa'):
        run_campaign(path, controller=lqr)
    assert cli.main([str(path), '--', PY, '-c', 'pass']) == 2


# -- commands over the legacy doors ------------------------------------------------------

def test_dip_client_per_episode_passes_over_tcp_with_outputs(short, tmp_path, capsys):
    junit, results = tmp_path / 'junit.xml', tmp_path / 'results.json'
    code = cli.main([str(short), '--out', str(tmp_path / 'out'), '--junit', str(junit),
                     '--json', str(results), '--no-figures', '--per-episode', '--',
                     *DIP_CLIENT])
    out = capsys.readouterr().out
    assert code == 0, out
    assert '2/2 episodes passed: PASS' in out
    suite = ET.parse(junit).getroot().find('testsuite')
    cases = suite.findall('testcase')
    assert [c.get('name') for c in cases] == ['01_calm[seed=1]', '02_pushed[seed=2]']
    assert suite.get('tests') == '2' and suite.get('failures') == '0'
    assert not any(c.find('failure') is not None for c in cases)
    data = json.loads(results.read_text())
    assert data['passed'] and len(data['episodes']) == 2
    assert all(e['metrics']['responses'] == 100 for e in data['episodes'])
    summary = (tmp_path / 'out' / 'summary.md').read_text()
    assert '01_calm[seed=1]: PASS' in summary
    recordings = sorted(p.name for p in (tmp_path / 'out' / 'episodes').iterdir())
    # One numbering: row 1, case 01_..., recording episode_01_... (not the plant's 0002).
    assert recordings == ['episode_01_calm.mcap', 'episode_02_pushed.mcap']
    assert [Path(f).name for e in data['episodes'] for f in e['files']] == recordings


def test_one_process_for_the_whole_campaign_ends_on_finished(short):
    # The loop client resets after each episode; after the second play the
    # plant answers FINISHED and it exits by itself.
    result = run_campaign(short, [PY, CONTROLLERS, 'loop', '{port}'], repeat=2)
    assert result.passed, result.explain()
    assert [e.name for e in result.episodes] == ['01_calm[seed=1]_play1',
                                                 '02_pushed[seed=2]_play1',
                                                 '03_calm[seed=1]_play2',
                                                 '04_pushed[seed=2]_play2']
    assert result.episodes[-1].stderr[-1] == 'campaign finished'


def test_bad_controller_command_fails_the_table_junit_and_exit_code(short, tmp_path, capsys):
    junit = tmp_path / 'junit.xml'
    code = cli.main([str(short), '--out', str(tmp_path / 'out'), '--junit', str(junit),
                     '--no-figures', '--per-episode', '--', PY, CONTROLLERS, 'flipped',
                     '{port}'])
    out = capsys.readouterr().out
    assert code == 1
    assert 'max_abs_theta: measured' in out and '0/2 episodes passed: FAIL' in out
    root = ET.parse(junit).getroot()
    failures = [c.find('failure') for c in root.iter('testcase')]
    assert all(f is not None for f in failures)
    message = failures[0].get('message')
    assert 'max_abs_theta: measured' in message and 'limit 0.3' in message
    assert 'plant halted' in message or 'pendulum fell' in message


@pytest.mark.slow
@pytest.mark.parametrize('command, reason', [
    ([PY, CONTROLLERS, 'hang', '{port}'], 'controller stopped answering: no control for 2.5 s'),
    ([PY, '-c', 'raise SystemExit(3)'], 'controller exited before starting the episode '
                                        '(exit code 3)'),
    ([PY, '-c', 'import time; time.sleep(60)'],
     'controller never started the episode within 2.5 s'),
    ([PY, CONTROLLERS, 'nan', '{port}'], 'controller sent a non-finite command'),
    ([PY, CONTROLLERS, 'crash', '{port}'], 'controller crashed during the episode'),
], ids=['hang', 'exits-at-once', 'never-connects', 'nan', 'crash'])
def test_a_misbehaving_controller_fails_with_its_reason_within_the_timeout(short, command,
                                                                           reason):
    began = time.monotonic()
    result = run_campaign(short, command, timeout=2.5)
    elapsed = time.monotonic() - began
    assert not result.passed
    assert len(result.episodes) == 2           # the run went on with the next episode
    for e in result.episodes:
        assert e.reason is not None and e.reason.startswith(reason), (e.reason, e.stderr)
    assert result.episodes[-1].controller_exit != 'still running'
    # Two episodes, each failed within about the timeout (plus process start-up).
    assert elapsed < 2 * (2.5 + 4.0), elapsed
    if 'hang' in command or 'crash' in command:
        assert {'hanging now', 'about to crash'} & set(result.episodes[0].stderr)


def test_setup_errors_exit_2_with_one_line(tmp_path, short, capsys):
    assert cli.main([str(tmp_path / 'missing.yaml'), '--', PY, '-c', 'pass']) == 2
    assert 'cannot read scenario' in capsys.readouterr().err
    assert cli.main([str(short), '--', 'no-such-controller-xyz']) == 2
    assert 'controller command not found: no-such-controller-xyz' in capsys.readouterr().err
    with socket.socket() as taken:
        taken.bind(('127.0.0.1', 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert cli.main([str(short), '--port', str(port), '--', PY, '-c', 'pass']) == 2
        err = capsys.readouterr().err
        assert f'TCP 127.0.0.1:{port}' in err and len(err.strip().splitlines()) == 1
    assert cli.main([str(short)]) == 2


# -- the regression gate ---------------------------------------------------------------

def test_baseline_passes_unchanged_and_names_a_regression(short, tmp_path):
    baseline = tmp_path / 'baseline.json'
    first = run_campaign(short, controller=lqr, save_baseline=baseline)
    assert first.passed
    stored = json.loads(baseline.read_text())['episodes']
    assert set(stored) == {'calm[seed=1]#1', 'pushed[seed=2]#1'}
    assert len(stored['calm[seed=1]#1']['trace']['t']) <= 201
    again = run_campaign(short, controller=lqr, baseline=baseline)
    assert again.passed, again.explain()
    # A softer controller: still within the criteria, but worse than the baseline.
    soft = controllers.lqr(0.01, 20.0, r=3.0)
    worse = run_campaign(short, controller=lambda m, t: soft(m), baseline=baseline)
    assert not worse.passed
    text = worse.explain()
    assert 'regression ise_th1: old' in text and ', new ' in text


def test_regression_section_of_the_scenario_sets_the_tolerances(short, tmp_path):
    baseline = tmp_path / 'baseline.json'
    run_campaign(short, controller=lqr, save_baseline=baseline)
    calm = tmp_path / 'calm.yaml'
    calm.write_text(calm.read_text() + 'regression: {relative: {ise_th1: 100.0}, trace: 0.5}\n')
    soft = controllers.lqr(0.01, 20.0, r=3.0)
    result = run_campaign(short, controller=lambda m, t: soft(m), baseline=baseline)
    calm_result, pushed_result = result.episodes
    assert calm_result.passed, calm_result.failures            # loose tolerances
    assert not pushed_result.passed                             # the defaults
    calm.write_text(calm.read_text().replace('trace: 0.5', 'trace: 0.000001'))
    result = run_campaign(short, controller=lambda m, t: soft(m), baseline=baseline)
    assert any(f.startswith('regression trace: deviates by') for f in
               result.episodes[0].failures)


# -- JUnit shape, timing criteria, the pytest plugin ------------------------------------

def test_junit_has_the_usual_schema_shape(short):
    result = run_campaign(short, controller=flipped_pd())
    root = ET.fromstring(to_xml(result))
    assert root.tag == 'testsuites'
    suites = root.findall('testsuite')
    assert len(suites) == 1
    suite = suites[0]
    for attribute in ('name', 'tests', 'failures', 'errors', 'time'):
        assert attribute in suite.attrib
    for case in suite.findall('testcase'):
        assert set(case.attrib) == {'classname', 'name', 'time'}
        float(case.get('time'))
        failure = case.find('failure')
        assert failure is not None and failure.get('message') and failure.get('type')
        assert {child.tag for child in case} <= {'failure', 'system-out', 'system-err'}


def test_timing_criteria_judge_the_response_time(short, tmp_path):
    slow = tmp_path / 'slow.yaml'
    slow.write_text('name: slow\nseed: 1\nduration: 0.2\n'
                    'criteria: {max_response_ms: 1.0, max_deadline_misses: 0}\n')

    def sluggish(measured, t):
        time.sleep(0.012)          # longer than dt: every control misses its deadline
        return LQR(measured)
    result = run_campaign(slow, controller=sluggish)
    (e,) = result.episodes
    assert e.metrics['deadline_misses'] == e.metrics['responses'] == 20
    assert e.metrics['response_p50_ms'] >= 12.0
    failed = {c['criterion'] for c in e.checks if not c['passed']}
    assert failed == {'max_response_ms', 'max_deadline_misses'}


@pytest.mark.slow
def test_pytest_plugin_fixture_reads_well(tmp_path, short):
    (tmp_path / 'test_user.py').write_text(
        'from plant_server_ros.clients import controllers\n'
        'K = controllers.lqr(0.01, 20.0)\n'
        'g = controllers.lqr_gain(0.01)\n'
        'BAD = controllers.pd(-g[:3], -g[3:], 20.0)\n'
        'def test_good(dip_campaign):\n'
        f'    assert dip_campaign({str(short)!r}, controller=lambda m, t: K(m)).passed\n'
        'def test_bad(dip_campaign):\n'
        f'    assert dip_campaign({str(short)!r}, controller=lambda m, t: BAD(m)).passed\n')
    # This checkout's plugin, as a suite asks for it (an older install's pytest11
    # entry point dip_test, if any, blocked by name).
    run = subprocess.run([PY, '-m', 'pytest', '-q', '-p', 'no:dip_test',
                          '-p', 'plant_server_ros.testing.pytest_plugin',
                          '-p', 'no:cacheprovider', str(tmp_path / 'test_user.py')],
                         capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert '1 failed, 1 passed' in run.stdout, run.stdout + run.stderr
    # The failed episode by name, its failed criterion with value and limit.
    assert '<CampaignResult FAIL' in run.stdout, run.stdout
    assert '01_calm[seed=1]: ' in run.stdout, run.stdout
    assert 'max_abs_theta: measured' in run.stdout
    assert 'dip_campaign 1:' in run.stdout and '0/2 episodes passed: FAIL' in run.stdout


# -- end to end: the shipped campaign ----------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize('door', ['tcp', 'udp'])
def test_shipped_campaign_passes_with_dip_client(door, tmp_path):
    command = DIP_CLIENT if door == 'tcp' else \
        [PY, '-m', 'plant_server_ros.clients.cli', '--udp', '--port', '{udp_port}',
         '--seconds', '{duration}']
    result = run_campaign('campaign.yaml', command, door=door, per_episode=True,
                          out=tmp_path / 'out', figures=False)
    assert result.passed, result.explain()
    assert len(result.episodes) == 8


@pytest.mark.slow
def test_shipped_campaign_passes_with_the_c_client(tmp_path):
    cc = shutil.which('cc') or shutil.which('gcc')
    if cc is None:
        pytest.skip('no C compiler')
    binary = tmp_path / 'dip_client'
    subprocess.run([cc, '-O2', '-std=c99', '-o', str(binary),
                    str(REPO / 'examples' / 'c' / 'dip_client.c'), '-lm'], check=True,
                   timeout=120)
    for door, args in (('tcp', ['--port', '{port}']), ('udp', ['--udp', '--port',
                                                               '{udp_port}'])):
        result = run_campaign('campaign.yaml', [str(binary), *args, '--seconds', '{duration}'],
                              door=door, per_episode=True)
        assert result.passed, (door, result.explain())


@pytest.mark.slow
def test_shipped_campaign_passes_a_ros_controller_under_the_ros_door(tmp_path, capsys):
    pytest.importorskip('rclpy')
    junit = tmp_path / 'junit.xml'
    code = cli.main(['campaign.yaml', '--door', 'ros', '--out', str(tmp_path / 'out'),
                     '--junit', str(junit), '--no-figures', '--timeout', '10', '--',
                     PY, str(REPO / 'test' / '_ros_controller.py')])
    out = capsys.readouterr().out
    assert code == 0, out
    assert '8/8 episodes passed: PASS' in out
    assert len(ET.parse(junit).getroot().findall('testsuite/testcase')) == 8


def test_the_docs_example_controller_passes(short, tmp_path):
    # docs/test_your_controller.md starts from this script: it must work as shown.
    text = (REPO / 'docs' / 'test_your_controller.md').read_text()
    script = text.split('```python\n', 1)[1].split('```', 1)[0]
    path = tmp_path / 'my_controller.py'
    path.write_text(script)
    result = run_campaign(short, [PY, str(path), '{port}'], per_episode=True)
    assert result.passed, result.explain()


@pytest.mark.slow
def test_realtime_mode_passes_and_measures_the_response_time(short, tmp_path):
    result = run_campaign(short, DIP_CLIENT, mode='realtime', per_episode=True)
    assert result.passed, result.explain()
    for e in result.episodes:
        # About one control per period of the 1 s episode, each answered well within dt.
        assert 90 <= e.metrics['responses'] <= 101, e.metrics['responses']
        assert e.metrics['response_p50_ms'] < 10.0
        assert 0.95 <= e.metrics['duration'] <= 1.0 + 1e-9


@pytest.mark.slow
def test_ctrl_c_stops_everything_and_still_writes_what_was_measured(short, tmp_path):
    long = tmp_path / 'long.yaml'
    long.write_text('campaign:\n  - {scenario: calm.yaml}\n  - {scenario: calm.yaml, '
                    'seeds: [7]}\n')
    (tmp_path / 'calm.yaml').write_text('name: calm\nseed: 1\nduration: 60.0\n'
                                        'criteria: {max_abs_theta: 0.3}\n')
    out, results = tmp_path / 'out', tmp_path / 'results.json'
    proc = subprocess.Popen([PY, '-m', 'plant_server_ros.testing.cli', str(long), '--mode',
                             'realtime', '--out', str(out), '--json', str(results),
                             '--no-figures', '--', PY, CONTROLLERS, 'loop', '{port}'],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=REPO)
    deadline = time.monotonic() + 30
    # Episode 1 is the plant's start-up one; 2 is the first the controller started.
    while not list((out / 'episodes').glob('episode_0002_*.mcap')) and \
            time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.0)
    proc.send_signal(2)                                   # Ctrl-C
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 1, stderr
    data = json.loads(results.read_text())
    assert data['interrupted'] and not data['passed']
    (episode,) = data['episodes']                 # the one that ran, as far as it went
    assert episode['reason'] == 'interrupted (Ctrl-C)' and episode['metrics']['steps'] > 50
    assert (out / 'summary.md').exists()
    # The controller (its own session, so the Ctrl-C reached dip_test alone) was ended.
    left = subprocess.run(['pgrep', '-f', f'{CONTROLLERS} loop'], capture_output=True,
                          text=True).stdout.split()
    assert left == [], left


def test_the_pytest_plugin_is_opt_in():
    # A pytest11 entry point would load it into every pytest run of a sourced workspace.
    tree = ast.parse((REPO / 'setup.py').read_text())
    groups = [k.value for node in ast.walk(tree) if isinstance(node, ast.Dict)
              for k in node.keys if isinstance(k, ast.Constant)]
    assert 'console_scripts' in groups and 'pytest11' not in groups


def test_the_pytest_plugin_costs_a_suite_that_does_not_use_it_nothing():
    code = ('import sys; import plant_server_ros.testing.pytest_plugin; '
            'print(sorted(m for m in ("numpy", "plant_server_ros.testing.runner") '
            'if m in sys.modules))')
    out = subprocess.run([PY, '-c', code], capture_output=True, text=True, timeout=60,
                         cwd=REPO).stdout
    assert out.strip() == '[]'
