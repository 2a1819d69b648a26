"""
Run one benchmark on two commits, interleaved in one run, to tell if a change is slower.

Checks out ``REV`` (default: the parent of HEAD) into a temporary git
worktree and runs the same bench script from that tree and from this
checkout, alternately, ``--rounds`` times each (A B A B ...), so that both
see the same machine load.  Each figure the bench prints as ``name=NUMBER
unit`` is collected; the medians per commit and their ratio (this checkout
over REV) are printed.

    python bench/bench_before_after.py --rev 3cddc0e --rounds 3 -- \
        bench_plant_server.py --placement one-core --steps 20000
"""

import argparse
from pathlib import Path
import re
import statistics
import subprocess
import sys
import tempfile

REPO = Path(__file__).resolve().parents[1]
FIGURE = re.compile(r'(p50|p90|p99|ratio [^=]*|median)[ =]+([0-9.]+)|([0-9.]+) (steps/s)')


def figures(output):
    """Return ``{what the line says before the figure + its name: value}`` of one run."""
    found = {}
    for line in output.splitlines():
        matches = list(FIGURE.finditer(line))
        if not matches:
            continue
        head = line[:matches[0].start()].split(':')[0].strip()    # what the line measures
        for match in matches:
            name = match.group(1) or match.group(4)
            value = match.group(2) or match.group(3)
            found[f'{head} {name.strip()}'] = float(value)
    return found


def run(tree, script, args, this_script=False):
    if this_script:          # this checkout's script, importing the package from ``tree``
        command = [sys.executable, str(REPO / 'bench' / script), *args, '--tree', str(tree)]
    else:
        command = [sys.executable, str(tree / 'bench' / script), *args]
    result = subprocess.run(command, capture_output=True, text=True, cwd=tree, timeout=1800)
    if result.returncode:
        raise SystemExit(f'{tree}: {script} failed:\n{result.stdout}\n{result.stderr}')
    return figures(result.stdout)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--rev', default='HEAD~1', help='the commit to compare with')
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--this-script', action='store_true',
                        help="run this checkout's script on both trees (it takes --tree DIR)")
    parser.add_argument('bench', nargs=argparse.REMAINDER,
                        help='-- SCRIPT [ARGS]: a script of bench/ and its arguments')
    args = parser.parse_args()
    bench = [a for a in args.bench if a != '--']
    if not bench:
        parser.error('name the bench: -- bench_plant_server.py ...')
    script, bench_args = bench[0], bench[1:]
    with tempfile.TemporaryDirectory() as tmp:
        before = Path(tmp) / 'before'
        subprocess.run(['git', '-C', str(REPO), 'worktree', 'add', '--detach', '-q',
                        str(before), args.rev], check=True)
        try:
            runs = {'before': [], 'after': []}
            for _ in range(args.rounds):
                runs['before'].append(run(before, script, bench_args, args.this_script))
                runs['after'].append(run(REPO, script, bench_args, args.this_script))
        finally:
            subprocess.run(['git', '-C', str(REPO), 'worktree', 'remove', '--force',
                            str(before)], check=False)
    print(f'{script} {" ".join(bench_args)}: {args.rounds} rounds each, interleaved; '
          f'before = {args.rev}, after = this checkout')
    for name in runs['after'][0]:
        old = [r[name] for r in runs['before'] if name in r]
        new = [r[name] for r in runs['after'] if name in r]
        if not old:
            continue
        a, b = statistics.median(old), statistics.median(new)
        ratio = f'{b / a:.3f}' if a else 'n/a'
        print(f'  {name:60s} before {a:10.1f}  after {b:10.1f}  after/before {ratio}')


if __name__ == '__main__':
    main()
