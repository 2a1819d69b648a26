"""examples/train_ppo.py, run small: it trains, writes its outputs, proves with dip_test."""

import importlib.util
import json
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / 'examples' / 'train_ppo.py'


def load_example():
    spec = importlib.util.spec_from_file_location('train_ppo', EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_training_example_runs_small_to_a_verdict(tmp_path, monkeypatch, capsys):
    """2,048 steps learn nothing: every output is written, the verdicts are FAIL, exit 1."""
    pytest.importorskip('stable_baselines3', reason='the rl extra (requirements/rl.txt)')
    pytest.importorskip('matplotlib', reason='the learning curve needs matplotlib')
    monkeypatch.setenv('PYTHONPATH', os.pathsep.join([str(REPO),
                                                      os.environ.get('PYTHONPATH', '')]))
    example = load_example()
    code = example.main(['--out', str(tmp_path), '--steps', '2048', '--check-every', '1024',
                         '--episodes', '4', '--kernel', 'numpy'])
    out = capsys.readouterr().out
    assert code == 1 and 'targets NOT met: ' in out
    for name in ('ppo_balance.zip', 'vecnormalize.pkl', 'learning_curve.png', 'result.json'):
        assert (tmp_path / name).stat().st_size > 0, name
    result = json.loads((tmp_path / 'result.json').read_text())
    assert result['steps'] == 2048 and len(result['curve']['checks']) == 2
    assert result['dip_test'] == {'nominal.yaml': False, 'masses_10pct.yaml': False}
    assert result['hyperparameters'] == example.DEFAULTS and not result['targets_met']
    assert 'dip_test nominal.yaml FAIL' in result['targets_missed']


def test_a_setting_outside_the_table_is_refused():
    example = load_example()
    with pytest.raises(SystemExit):
        example.main(['--hp', 'learning_rat=1'])


def test_defaults_gives_ppo_nothing_and_refuses_a_setting():
    """--defaults is PPO('MlpPolicy', env) as SB3 ships it: no setting, no policy_kwargs."""
    example = load_example()
    args = example.parse(['--defaults'])
    assert example.ppo_kwargs(args) == {} and args.n_envs == example.LANES['defaults']
    assert example.ppo_kwargs(example.parse([]))['policy_kwargs'] == {'log_std_init': -1.0}
    assert 'policy_kwargs' not in example.ppo_kwargs(example.parse(['--zoo']))
    for extra in (['--hp', 'gamma=0.9'], ['--log-std-init', '-1'], ['--zoo']):
        with pytest.raises(SystemExit):
            example.parse(['--defaults'] + extra)
