"""
PlantBatch's plant-steps per second at one N, on two commits, interleaved in one run.

Checks out ``--rev`` into a temporary git worktree and times
``bench_batch.batch_rate`` of that tree and of this checkout alternately
(A B A B ..., each in a fresh process, so both see the same machine load and
neither the other's imports): the conditions off, and white sensor noise +
the ``masses_10pct`` uncertainty + 20 N saturation on.  Prints each round and
the medians with their ratio (this checkout over REV).

    python bench/bench_batch_before_after.py --rev 8e73b9d [--n 4096] [--rounds 5]
                                             [--kernel numba] [--lane-steps 2000000]
"""

import argparse
from pathlib import Path
import statistics
import subprocess
import sys
import tempfile

REPO = Path(__file__).resolve().parents[1]
PROBE = """
import sys
sys.path.insert(0, {bench!r})
import bench_batch
bench_batch.KERNEL = {kernel!r}
bench_batch.batch_rate({n}, False, 100_000)          # compile / load the kernel first
print(bench_batch.batch_rate({n}, False, {steps}), bench_batch.batch_rate({n}, True, {steps}))
"""


def rates(tree, args):
    code = PROBE.format(bench=str(tree / 'bench'), kernel=args.kernel, n=args.n,
                        steps=args.lane_steps)
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                         cwd=tree, timeout=900)
    if out.returncode:
        raise SystemExit(f'{tree}: {out.stderr.strip().splitlines()[-1:]}')
    off, on = (float(v) for v in out.stdout.split()[-2:])
    return off, on


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--rev', default='HEAD~1', help='the commit to compare with')
    parser.add_argument('--n', type=int, default=4096)
    parser.add_argument('--rounds', type=int, default=5)
    parser.add_argument('--kernel', default='numba', choices=('numpy', 'numba'))
    parser.add_argument('--lane-steps', type=int, default=2_000_000)
    args = parser.parse_args()
    runs = {'before': [], 'after': []}
    with tempfile.TemporaryDirectory() as tmp:
        before = Path(tmp) / 'before'
        subprocess.run(['git', '-C', str(REPO), 'worktree', 'add', '--detach', '-q',
                        str(before), args.rev], check=True)
        try:
            for k in range(args.rounds):
                for name, tree in (('before', before), ('after', REPO)):
                    runs[name].append(rates(tree, args))
                    off, on = runs[name][-1]
                    print(f'round {k + 1} {name:6s}: off {off:12,.0f}  on {on:12,.0f} '
                          'plant-steps/s', flush=True)
        finally:
            subprocess.run(['git', '-C', str(REPO), 'worktree', 'remove', '--force',
                            str(before)], check=False)
    print(f'N = {args.n}, kernel {args.kernel}, {args.rounds} rounds each, interleaved; '
          f'before = {args.rev}, after = this checkout (medians, plant-steps/s)')
    for i, what in enumerate(('conditions off', 'noise + uncertainty + saturation')):
        a = statistics.median(r[i] for r in runs['before'])
        b = statistics.median(r[i] for r in runs['after'])
        print(f'  {what:34s} before {a:12,.0f}  after {b:12,.0f}  after/before {b / a:.3f}')


if __name__ == '__main__':
    main()
