"""A policy as a controller process: judged by dip_test like any other controller."""

import os
from pathlib import Path
import subprocess
import sys

from plant_server_ros.clients import policy
from plant_server_ros.testing import run_campaign
import pytest

REPO = Path(__file__).resolve().parents[1]
CLIENT = [sys.executable, '-m', 'plant_server_ros.clients.policy']


@pytest.fixture(autouse=True)
def importable(monkeypatch):
    """Let the controller process import this checkout and test/_policies.py."""
    path = os.pathsep.join([str(REPO), str(REPO / 'test'), os.environ.get('PYTHONPATH', '')])
    monkeypatch.setenv('PYTHONPATH', path)


@pytest.fixture
def two_short(tmp_path):
    """Two 1 s episodes of the nominal plant (seeds 1 and 2), nominal.yaml's criteria."""
    for seed in (1, 2):
        (tmp_path / f's{seed}.yaml').write_text(
            f'name: short{seed}\nseed: {seed}\nduration: 1.0\n'
            'criteria: {max_abs_theta: 0.3, max_abs_x: 1.0}\n')
    path = tmp_path / 'campaign.yaml'
    path.write_text('campaign:\n  - {scenario: s1.yaml}\n  - {scenario: s2.yaml}\n')
    return path


def test_a_callable_policy_passes_dip_test_over_a_whole_campaign(two_short):
    result = run_campaign(str(two_short), command=CLIENT + [
        '--policy', '_policies:lqr', '--port', '{port}'], timeout=30.0)
    assert result.passed and len(result.episodes) == 2


def test_a_policy_started_per_episode_ends_after_its_episode(two_short):
    result = run_campaign(str(two_short), command=CLIENT + [
        '--policy', '_policies:lqr', '--port', '{port}'], per_episode=True, timeout=30.0)
    assert result.passed and len(result.episodes) == 2


def test_a_bad_policy_is_judged_failed(two_short):
    result = run_campaign(str(two_short), command=CLIENT + [
        '--policy', '_policies:push_right', '--port', '{port}'], timeout=30.0)
    assert not result.passed
    assert all(not e.passed for e in result.episodes)


@pytest.mark.parametrize('spec, message', [
    ('_policies:nothing_here', 'has no nothing_here'),
    ('no_such_module_xyz:f', 'cannot import no_such_module_xyz'),
    ('just_a_name', 'model file (.zip) or module:callable'),
])
def test_a_policy_that_cannot_load_exits_2_with_one_line(spec, message):
    run = subprocess.run(CLIENT + ['--policy', spec, '--port', '1'], capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == policy.EXIT_ERROR
    assert message in run.stderr and 'Traceback' not in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1


def test_an_action_of_the_wrong_shape_is_refused(two_short):
    result = run_campaign(str(two_short), command=CLIENT + [
        '--policy', '_policies:broken', '--port', '{port}'], timeout=30.0)
    assert not result.passed


def test_the_client_observes_and_scales_as_the_task_does(monkeypatch):
    import numpy as np
    from plant_server_ros.gym.tasks import observe
    seen = []

    def spy(obs):
        seen.append(obs)
        return np.array([0.25])
    monkeypatch.setattr(policy, 'load_callable', lambda spec: spy)
    controller = policy.make_policy(policy.build_parser().parse_args(['--policy', 'm:f']))
    state = (0.1, 0.2, -0.1, 0.0, 0.3, -0.3)
    assert controller(state) == pytest.approx(0.25 * 20.0)
    np.testing.assert_array_equal(seen[0], observe(state))


def test_a_saved_sb3_model_runs_through_dip_test(tmp_path, two_short):
    """An untrained PPO and its VecNormalize: loaded and run (the verdict is not the point)."""
    pytest.importorskip('stable_baselines3', reason='the rl extra (requirements/rl.txt)')
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import VecNormalize
    from plant_server_ros.gym.sb3 import SB3VecEnv
    venv = VecNormalize(SB3VecEnv(2, 'balance', seed=1))
    PPO('MlpPolicy', venv, n_steps=64, batch_size=64, device='cpu', seed=1).save(
        tmp_path / 'model.zip')
    venv.save(tmp_path / 'stats.pkl')
    result = run_campaign(str(two_short), command=CLIENT + [
        '--policy', str(tmp_path / 'model.zip'), '--normalize', str(tmp_path / 'stats.pkl'),
        '--port', '{port}'], timeout=60.0)
    assert len(result.episodes) == 2
    assert all(e.reason is None or 'controller' not in str(e.reason) for e in result.episodes)
