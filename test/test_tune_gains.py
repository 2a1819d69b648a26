"""examples/tune_gains.py, run small: it tunes on a batch and proves the gain with dip_test."""

import importlib.util
from pathlib import Path

import numpy as np

EXAMPLE = Path(__file__).resolve().parents[1] / 'examples' / 'tune_gains.py'


def load_example():
    spec = importlib.util.spec_from_file_location('tune_gains', EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_tuning_example_runs_small_and_does_not_get_worse(capsys):
    example = load_example()
    gain, history, elapsed, summary = example.main(
        ['--generations', '3', '--plants', '2', '--seconds', '1', '--popsize', '3',
         '--proof-seeds', '1'])
    out = capsys.readouterr().out
    assert 'generation   3' in out and 'tuned in' in out and 'proof: dip_test' in out
    assert gain.shape == (6,) and np.all(np.isfinite(gain))
    assert history == sorted(history, reverse=True)          # the best only improves
    assert len(summary['LQR'].episodes) == len(summary['tuned'].episodes) == 1
    tuned = summary['tuned'].episodes[0]
    assert tuned.seed == 101 and tuned.ended.startswith('scenario_done')   # all of its 10 s
    assert summary['tuned'].passed, tuned.failures           # the shipped criteria held
    assert 'tuned seed 101: PASS' in out


def test_the_objective_gives_each_candidate_the_same_plants_and_noise():
    example = load_example()
    objective = example.BatchObjective(plants=3, seconds=0.2)
    twice = objective(np.zeros((6, 2)))
    assert twice[0] == twice[1]
    assert objective(np.zeros((6, 1)))[0] == twice[0]
