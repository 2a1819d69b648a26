"""dip_test's Monte-Carlo campaigns: sets, pass rates, --only, --workers, --ray, --batch."""

import json
import math
import os
from pathlib import Path
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

import numpy as np
from plant_server_ros.clients import controllers
from plant_server_ros.conditions.scenario import load_campaign, ScenarioError, set_seeds
from plant_server_ros.testing import cli, run_campaign, SetupError
from plant_server_ros.testing.set_verdict import interval, lower_bound
import pytest

REPO = Path(__file__).resolve().parents[1]
PY = sys.executable
DIP_CLIENT = [PY, '-m', 'plant_server_ros.clients.cli', '--port', '{port}', '--seconds',
              '{duration}']
SCENARIO = {'name': 'wobbly', 'duration': 1.0,
            'uncertainty': {'masses': 0.1, 'lengths': 0.05, 'frictions': 0.1},
            'criteria': {'max_abs_theta': 0.3, 'max_abs_x': 1.0}}
# The controller process (re)started a second time kills its parent: the worker
# process (or Ray worker) that plays its chunk; a third time, given a fourth
# argument, it stops it (SIGSTOP: a hung worker).  Counted with files made at once.
KILLER = """
import itertools, os, sys
for k in itertools.count(1):
    try:
        os.close(os.open(os.path.join(sys.argv[1], str(k)), os.O_CREAT | os.O_EXCL))
        break
    except FileExistsError:
        continue
if k == 2:
    os.kill(os.getppid(), 9)
if k == 3 and len(sys.argv) > 4:
    os.kill(os.getppid(), 19)
os.execv(sys.executable, [sys.executable, '-m', 'plant_server_ros.clients.cli', '--port',
                          sys.argv[2], '--seconds', sys.argv[3]])
"""


def campaign(episodes, minimum=None, seed=5, scenario=SCENARIO):
    entry = {'scenario': dict(scenario), 'episodes': episodes}
    if minimum is not None:
        entry['criteria'] = {'pass_rate': {'min': minimum, 'confidence': 0.95}}
    return {'seed': seed, 'campaign': [entry]}


def lqr(measured, t, _lqr=controllers.lqr()):
    return _lqr(measured)


def comparable(metrics):
    """Return the metrics a run's timing does not change (response times aside)."""
    return {k: v for k, v in metrics.items()
            if not k.startswith('response') and k not in ('deadline_misses', 'responses')}


@pytest.fixture(autouse=True)
def checkout_importable(monkeypatch):
    """Let controller processes and workers import this checkout."""
    monkeypatch.setenv('PYTHONPATH', os.pathsep.join([str(REPO),
                                                      os.environ.get('PYTHONPATH', '')]))


# -- sets, seeds, the pass rate ------------------------------------------------------------

def test_a_set_draws_its_seeds_from_the_campaign_seed_as_documented():
    scenarios, sets = load_campaign(campaign(4, 0.5, seed=9))
    child = np.random.SeedSequence(9).spawn(1)[0].spawn(4)[3]
    a, b = child.generate_state(2, np.uint32)
    assert scenarios[3].seed == (int(a) << 31) | (int(b) >> 1)
    assert [s.seed for s in scenarios] == set_seeds(9, 0, 4)
    assert len({s.seed for s in scenarios}) == 4
    assert sets[0].count == 4 and sets[0].criteria['pass_rate'] == {'min': 0.5,
                                                                    'confidence': 0.95}


@pytest.mark.parametrize('entry, words', [
    ({'episodes': 3, 'seeds': [1]}, 'episodes draws its own seeds'),
    ({'criteria': {'pass_rate': {'min': 0.9}}}, 'judges a set'),
    ({'episodes': 3, 'criteria': {'pass_rate': {'min': 1.5}}}, 'pass_rate.min'),
    ({'episodes': 3, 'criteria': {'pass_rate': {'min': 0.9, 'confidence': 1}}}, 'confidence'),
    ({'episodes': 3, 'criteria': {'max_abs_x': 1.0}}, 'not a criterion of a set'),
    ({'episodes': 0}, 'episodes must be an integer'),
    ({'episodes': 100_001}, 'episodes must be an integer'),
])
def test_a_bad_set_is_refused_by_name(entry, words):
    with pytest.raises(ScenarioError, match=words):
        load_campaign({'campaign': [{'scenario': SCENARIO, **entry}]})


def test_the_pass_rate_bound_is_clopper_pearson():
    # 299 of 299 is the smallest all-pass sample that shows 99 % at 95 % confidence.
    assert lower_bound(299, 299, 0.95) >= 0.99 > lower_bound(298, 298, 0.95)
    assert lower_bound(299, 299, 0.95) == pytest.approx(0.05 ** (1 / 299))
    assert lower_bound(0, 10, 0.95) == 0.0
    low, high = interval(5, 10, 0.95)
    assert low < 0.5 < high and low == pytest.approx(0.187086, abs=1e-6)


def test_a_set_is_judged_on_its_pass_rate_and_reported(tmp_path):
    out, junit, js = tmp_path / 'out', tmp_path / 'junit.xml', tmp_path / 'run.json'
    # 12 of 12 pass, but 12 episodes cannot show 99 %: the set fails on its bound.
    result = run_campaign(campaign(12, 0.99), controller=lqr, out=out, junit=junit,
                          json_file=js, figures=True,
                          replay=(['dip_test', 'c.yaml'], ['ctl', '{port}']))
    assert all(e.passed for e in result.episodes) and len(result.episodes) == 12
    (item,) = result.sets
    assert not item.passed and not result.passed
    assert item.lower == pytest.approx(0.05 ** (1 / 12))
    assert 'pass_rate: lower bound' in item.failures[0]
    assert item.worst[0]['replay'].startswith('dip_test c.yaml --only ')
    assert item.worst[0]['replay'].endswith(" -- ctl '{port}'")
    summary = (out / 'summary.md').read_text()
    assert '## set:wobbly: FAIL' in summary and '--only' in summary
    assert (out / 'figures' / 'set_wobbly_max_abs_th1.png').stat().st_size > 0
    suites = {s.get('name'): s for s in ET.parse(junit).getroot().findall('testsuite')}
    assert suites['set:wobbly'].get('failures') == '1'
    props = {p.get('name'): p.get('value') for p in suites['set:wobbly'].iter('property')}
    assert props['episodes'] == '12' and props['passed_episodes'] == '12'
    data = json.loads(js.read_text())
    assert data['sets'][0]['passed'] is False and len(data['episodes']) == 12
    # The same set with a minimum 12 passes can show (0.05 ** (1 / 12) = 0.78) passes.
    assert run_campaign(campaign(12, 0.7), controller=lqr).passed


def test_only_replays_one_episode_of_a_set_alone():
    whole = run_campaign(campaign(5), controller=lqr)
    pick = whole.episodes[3]
    alone = run_campaign(campaign(5), controller=lqr, only=pick.seed)
    assert [e.seed for e in alone.episodes] == [pick.seed] and not alone.sets
    assert comparable(alone.episodes[0].metrics) == comparable(pick.metrics)
    with pytest.raises(SetupError, match='has seed 12345'):
        run_campaign(campaign(5), controller=lqr, only=12345)


# -- on every core, on Ray -------------------------------------------------------------------

def _killer(tmp_path, stop=False):
    script = tmp_path / 'killer.py'
    script.write_text(KILLER)
    (tmp_path / 'starts').mkdir()
    return [PY, str(script), str(tmp_path / 'starts'), '{port}', '{duration}'] + \
        (['stop'] if stop else [])


def test_workers_give_the_same_metrics_and_a_dead_or_hung_worker_fails_its_episode_only(
        tmp_path):
    one = run_campaign(campaign(4, 0.0), DIP_CLIENT, workers=1, timeout=20)
    assert one.passed, one.explain()
    two = run_campaign(campaign(4, 0.0), _killer(tmp_path, stop=True), workers=2, timeout=20)
    assert [e.index for e in two.episodes] == [1, 2, 3, 4]
    dead = sorted((e.reason for e in two.episodes if not e.passed), key=lambda r: 'hung' in r)
    assert len(dead) == 2, two.explain()
    assert 'died (killed by SIGKILL)' in dead[0] and 'hung: no heartbeat' in dead[1]
    for a, b in zip(one.episodes, two.episodes):
        if b.passed:
            assert comparable(a.metrics) == comparable(b.metrics), a.name


def test_ray_tasks_give_the_same_metrics_and_a_failed_task_fails_its_episode_only(tmp_path):
    pytest.importorskip('ray', reason='the ray extra is not installed (pip install ray)')
    one = run_campaign(campaign(4, 0.0), DIP_CLIENT, workers=1, timeout=20)
    ray_run = run_campaign(campaign(4, 0.0), _killer(tmp_path), ray='local', timeout=30)
    dead = [e for e in ray_run.episodes if not e.passed]
    assert len(dead) == 1 and 'ray task failed' in dead[0].reason, ray_run.explain()
    assert sorted(e.index for e in ray_run.episodes) == [1, 2, 3, 4]
    for a, b in zip(one.episodes, ray_run.episodes):
        if b.passed:
            assert comparable(a.metrics) == comparable(b.metrics), a.name


def test_ray_is_refused_by_name_without_ray(monkeypatch):
    monkeypatch.setitem(sys.modules, 'ray', None)      # as if it were not installed
    with pytest.raises(SetupError, match=r"needs Ray: pip install 'plant_server_ros\[ray\]'"):
        run_campaign(campaign(2), DIP_CLIENT, ray='local')


def _tagged(prefix):
    found = []
    for name in os.listdir('/proc'):
        if not name.isdigit():
            continue
        try:
            with open(f'/proc/{name}/environ', 'rb') as f:
                if f'DIP_TEST_RUN={prefix}'.encode() in f.read():
                    found.append(int(name))
        except OSError:
            continue
    return found


@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='reads /proc (Linux)')
def test_ctrl_c_ends_every_worker_and_controller(tmp_path):
    path = tmp_path / 'long.yaml'
    path.write_text(json.dumps(campaign(4, scenario=dict(SCENARIO, duration=60.0))))
    proc = subprocess.Popen([PY, '-m', 'plant_server_ros.testing.cli', str(path), '--mode',
                             'realtime', '--workers', '2', '--no-figures', '--out',
                             str(tmp_path / 'out'), '--'] + DIP_CLIENT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while len(_tagged(f'{proc.pid}-')) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(_tagged(f'{proc.pid}-')) >= 2, 'the two controllers never started'
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err.decode()[-2000:]
    assert b'Traceback' not in err
    assert _tagged(f'{proc.pid}-') == []


# -- in the batch ----------------------------------------------------------------------------

def test_the_batch_gives_each_episode_the_plants_metrics_and_verdict():
    plan = campaign(6, 0.5, scenario=dict(SCENARIO, duration=2.0))
    batch = run_campaign(plan, batch='plant_server_ros.clients.controllers:lqr_batch')
    plant = run_campaign(plan, controller=lqr)
    assert [e.seed for e in batch.episodes] == [e.seed for e in plant.episodes]
    for a, b in zip(plant.episodes, batch.episodes):
        assert a.passed == b.passed and a.failures == b.failures
        for key, value in comparable(a.metrics).items():
            if isinstance(value, float):
                assert math.isclose(b.metrics[key], value, rel_tol=1e-9, abs_tol=1e-12), key
            else:
                assert b.metrics[key] == value, key
    assert batch.sets[0].describe() == plant.sets[0].describe()


def test_a_bad_batch_controller_is_refused_or_fails_its_episodes():
    with pytest.raises(SetupError, match='has no nothing_here'):
        run_campaign(campaign(2), batch='plant_server_ros.clients.controllers:nothing_here')
    result = run_campaign(campaign(2), batch=lambda obs: np.zeros(3))
    assert not result.passed and 'shape (3,)' in result.episodes[0].failures[0]


def test_the_cli_refuses_a_command_with_batch_and_workers_with_ray(capsys):
    assert cli.main(['x.yaml', '--batch', 'a:b', '--', 'ctl']) == 2
    assert cli.main(['x.yaml', '--workers', '2', '--ray', '--', 'ctl']) == 2
    assert cli.main(['x.yaml', '--workers', '0', '--', 'ctl']) == 2


# -- the ROS door ------------------------------------------------------------------------------

def test_ros_args_in_the_controller_command_are_the_controllers_not_dip_tests(tmp_path):
    # rclpy once parsed dip_test's own argv, controller's --ros-args included: a
    # params file only the controller reads (here: one missing) was a traceback.
    pytest.importorskip('rclpy')
    path = tmp_path / 'one.yaml'
    path.write_text('name: one\nseed: 1\nduration: 1.0\ncriteria: {max_abs_theta: 0.3}\n')
    base = [PY, '-m', 'plant_server_ros.testing.cli', str(path), '--door', 'ros',
            '--no-figures', '--out', str(tmp_path / 'out'), '--timeout', '20', '--', PY,
            str(REPO / 'test' / '_ros_controller.py'), '--ros-args']
    proc = subprocess.run(base + ['-r', '__ns:=/dip_test'], capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stdout.decode() + proc.stderr.decode()[-2000:]
    proc = subprocess.run(base + ['--params-file', str(tmp_path / 'missing.yaml')],
                          capture_output=True, timeout=120)
    assert b'Traceback' not in proc.stderr, proc.stderr.decode()[-2000:]
    assert proc.returncode == 1 and b'controller exited before it listened' in proc.stdout
