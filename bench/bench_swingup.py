"""
Swing-up success rate: N seeded ``swingup_masses_10pct`` episodes, lock-step, dip_test's verdict.

    python bench/bench_swingup.py [--episodes 100] [--first-seed 1] [--scenario FILE]
                                  [--plan FILE] [--max-force N] [--command]

Each episode is a plant drawn from its seed (masses, frictions +-10 %,
lengths, centres of mass, inertias +-5 %); the reference controller
(:mod:`plant_server_ros.clients.swingup`) runs in this process through
dip_test's runner (``run_campaign(controller=...)``: the same plant, clock
and judge as the command door), or with ``--command`` as ``dip_client
--controller swingup`` over TCP.  Prints each failure, the success rate and
the median time to upright.  CPU-heavy: run it with ``nice``.
"""

import argparse
import os
from pathlib import Path
import statistics
import sys
import tempfile
import time

from plant_server_ros.clients.swingup import SwingUp
from plant_server_ros.testing.runner import run_campaign
import yaml

SCENARIOS = Path(__file__).resolve().parents[1] / 'config' / 'scenarios'


def main(argv=None):
    """Run the episodes; print the failures and the success rate."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[1])
    parser.add_argument('--episodes', type=int, default=100)
    parser.add_argument('--first-seed', type=int, default=1)
    parser.add_argument('--scenario', default=str(SCENARIOS / 'swingup_masses_10pct.yaml'))
    parser.add_argument('--plan', default=None, help='a plan file (default: the shipped one)')
    parser.add_argument('--max-force', type=float, default=30.0,
                        help="the controller's force limit (the scenario's drive) [N]")
    parser.add_argument('--command', action='store_true',
                        help='run dip_client --controller swingup over TCP instead')
    args = parser.parse_args(argv)
    seeds = list(range(args.first_seed, args.first_seed + args.episodes))
    with tempfile.TemporaryDirectory() as tmp:
        campaign = Path(tmp) / 'campaign.yaml'
        campaign.write_text(yaml.safe_dump(
            {'campaign': [{'scenario': str(Path(args.scenario).resolve()), 'seeds': seeds}]}))
        began = time.perf_counter()
        if args.command:
            command = [sys.executable, '-m', 'plant_server_ros.clients.cli', '--port', '{port}',
                       '--controller', 'swingup', '--seconds', '{duration}',
                       '--max-force', str(args.max_force)]
            if args.plan:
                command += ['--plan', args.plan]
            result = run_campaign(str(campaign), command, per_episode=True, cwd=os.getcwd())
        else:
            result = run_campaign(str(campaign),
                                  controller=SwingUp(args.plan, max_force=args.max_force))
        wall = time.perf_counter() - began
    passed = [e for e in result.episodes if e.passed]
    for e in result.episodes:
        if not e.passed:
            print(f'FAIL {e.name}: {"; ".join(e.failures)}')
    times = [e.metrics['upright_time'] for e in passed]
    n = len(result.episodes)
    print(f'swing-up: {len(passed)}/{n} passed ({100.0 * len(passed) / max(n, 1):.0f} %), '
          f'seeds {seeds[0]}..{seeds[-1]}, {Path(args.scenario).name}, '
          f'{"dip_client over TCP" if args.command else "in process"}')
    if times:
        print(f'time to upright: median {statistics.median(times):.2f} s, '
              f'max {max(times):.2f} s; wall {wall:.1f} s (measured under load)')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
