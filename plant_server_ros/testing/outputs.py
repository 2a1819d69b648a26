"""
What a run leaves behind: the table, summary.md (and figures), JUnit, JSON, a baseline.

The figures are ``dip_report``'s (:mod:`..analysis.report`), drawn from the
episode recordings; the summary is the runner's own, since it knows what a
recording does not (why the runner failed an episode, the response times,
the controller's last stderr lines).
"""

import json
import math
from pathlib import Path
import time

from . import junit as junit_xml, verdict

TABLE = (('#', 'index', '{}'), ('episode', 'name', '{}'), ('result', None, '{}'),
         ('max|th|', 'max_abs_theta', '{:.4f}'), ('max|x|', 'max_abs_x', '{:.3f}'),
         ('ISE th1', 'ise_th1', '{:.2e}'), ('rms F', 'rms_force', '{:.2f}'),
         ('resp p99 ms', 'response_p99_ms', '{:.3f}'), ('misses', 'deadline_misses', '{}'),
         ('why', None, '{}'))


def _value(e, key):
    m = e.metrics
    if key == 'max_abs_theta':
        return None if 'max_abs_th1' not in m else max(m['max_abs_th1'], m['max_abs_th2'])
    if key in ('index', 'name'):
        return getattr(e, key)
    return m.get(key)


# The metrics a set's histograms show (one PNG each): figures/set_NAME_METRIC.png.
HISTOGRAMS = ('max_abs_th1', 'max_abs_th2', 'max_abs_x', 'ise_th1', 'ise_th2', 'rms_force',
              'peak_force', 'settling_time', 'duration', 'response_p99_ms')


def in_sets(campaign):
    """Return the indices of the episodes judged with a set."""
    return {i for s in campaign.sets for i in s.indices}


def set_row(s):
    """Return a set's row of the table: its name, verdict, pass rate and interval."""
    cells = [f'{s.episodes}x', f'set:{s.name}', 'PASS' if s.passed else 'FAIL']
    cells += ['-'] * (len(TABLE) - 4)
    return cells + ['; '.join([s.describe()] + s.failures)]


def rows(campaign):
    """Return the header and the rows of the table, as strings (a set is one row)."""
    header = [h for h, _, _ in TABLE]
    out = [set_row(s) for s in campaign.sets]
    judged = in_sets(campaign)
    for e in campaign.episodes:
        if e.index in judged:
            continue
        row = []
        for title, key, fmt in TABLE:
            if title == 'result':
                row.append('PASS' if e.passed else 'FAIL')
            elif title == 'why':
                row.append('; '.join(e.failures))
            else:
                value = _value(e, key)
                row.append('-' if value is None else fmt.format(value))
        out.append(row)
    return header, out


def table(campaign):
    """Return the plain-text table of the run (one line per episode, then a verdict)."""
    header, body = rows(campaign)
    widths = [max(len(r[i]) for r in [header] + body) for i in range(len(header) - 1)]
    lines = []
    for r in [header] + body:
        cells = [c.ljust(w) for c, w in zip(r[:-1], widths)] + [r[-1]]
        lines.append('  '.join(cells).rstrip())
    passed = len(campaign.episodes) - len(campaign.failed)
    for item in campaign.sets:
        for w in item.worst:
            if not w['passed']:
                lines.append(f'  set:{item.name} worst #{w["index"]} (seed {w["seed"]}): '
                             f'{w["why"]}\n    replay: {w["replay"]}')
    lines.append(f'{passed}/{len(campaign.episodes)} episodes passed'
                 + (' (interrupted)' if campaign.interrupted else '')
                 + f': {"PASS" if campaign.passed else "FAIL"}')
    return '\n'.join(lines)


def summary_md(campaign, figures):
    """Return summary.md: the table, then each episode's verdict, timing, stderr, files."""
    header, body = rows(campaign)
    lines = [f'# dip_test: {campaign.source}', '',
             f'Door `{campaign.door}`, mode `{campaign.mode}`: '
             f'**{"PASS" if campaign.passed else "FAIL"}** '
             f'({len(campaign.episodes) - len(campaign.failed)} of {len(campaign.episodes)} '
             f'episodes passed{", interrupted" if campaign.interrupted else ""}).  '
             'Metrics on the ground truth; angles in rad from upright, forces in N, '
             'times in s (response times in ms).', '',
             '| ' + ' | '.join(h.replace('|', '\\|') for h in header) + ' |',
             '|' + ' --- |' * len(header)]
    lines += ['| ' + ' | '.join(c.replace('|', '\\|') for c in r) + ' |' for r in body]
    lines.append('')
    for item in campaign.sets:
        lines += set_md(item, figures)
    judged = in_sets(campaign)
    for e in campaign.episodes:
        if e.index in judged:
            continue
        lines += [f'## {e.name}: {"PASS" if e.passed else "FAIL"}', '',
                  f'Scenario `{e.scenario}`, seed {e.seed}, play {e.play}; ended: {e.ended}; '
                  f'wall time {e.wall_time:.2f} s; controller: {e.controller_exit or "-"}.', '']
        if e.failures:
            lines += ['Failures:', ''] + [f'- {f}' for f in e.failures] + ['']
        if e.checks:
            lines += ['| criterion | measured | limit | |', '| --- | --- | --- | --- |']
            lines += [f'| {c["criterion"]} | {_fmt(c["value"])} | {c["limit"]} | '
                      f'{"ok" if c["passed"] else "**FAILED**"} |' for c in e.checks]
            lines.append('')
        m = e.metrics
        if m.get('response_p50_ms') is not None:
            lines += [f'Response time (state sent -> control received): p50 '
                      f'{m["response_p50_ms"]:.3f} ms, p99 {m["response_p99_ms"]:.3f} ms, max '
                      f'{m["response_max_ms"]:.3f} ms over {m["responses"]} controls; '
                      f'{m["deadline_misses"]} deadline miss(es).', '']
        if m.get('compute_cycles_max') is not None:
            lines += [compute_line(m), '']
        if e.stderr:
            lines += ["The controller's last stderr lines:", '', '```'] + e.stderr + ['```', '']
        for path in e.files:
            name = Path(path).name
            lines.append(f'Recording: `episodes/{name}`')
            if figures:
                stem = name[:-len('.mcap')]
                lines += [''] + [f'![{what}](figures/{stem}_{what}.png)'
                                 for what in ('cart', 'angles', 'force', 'phase')]
            lines.append('')
    return '\n'.join(lines).rstrip('\n') + '\n'


def compute_line(m):
    """Return the cycles per step a controller on its own chip reported, in words."""
    text = (f'Compute (cycles per control step, reported by the controller): min '
            f'{m["compute_cycles_min"]}, p50 {m["compute_cycles_p50"]:.0f}, max '
            f'{m["compute_cycles_max"]} over {m["compute_steps"]} steps')
    if m.get('compute_fraction_max') is not None:
        text += (f'; at {m["compute_clock_hz"] / 1e6:g} MHz the worst is '
                 f'{m["compute_us_max"]:.1f} us, {m["compute_fraction_max"]:.4f} of the period')
    return text + '.'


def set_md(item, figures):
    """Return the lines of a set's section: verdict, interval, histograms, worst episodes."""
    lines = [f'## set:{item.name}: {"PASS" if item.passed else "FAIL"}', '',
             f'{item.describe()}.', '']
    if item.failures:
        lines += ['Failures:', ''] + [f'- {f}' for f in item.failures] + ['']
    if figures:
        lines += [f'![{m}](figures/set_{item.name}_{m}.png)' for m in HISTOGRAMS] + ['']
    lines += ['Worst episodes (each replayed alone by its command):', '',
              '| # | episode | seed | result | max\\|th\\| | why |',
              '| --- | --- | --- | --- | --- | --- |']
    lines += [f'| {w["index"]} | {w["name"]} | {w["seed"]} | '
              f'{"PASS" if w["passed"] else "FAIL"} | {w["max_abs_theta"]:.4f} | '
              f'{w["why"].replace("|", "/")} |' for w in item.worst]
    lines.append('')
    for w in item.worst:
        lines += [f'```\n{w["replay"]}\n```']
    lines.append('')
    return lines


def draw_histograms(campaign, directory):
    """Draw a histogram of each metric of :data:`HISTOGRAMS` over each set's episodes."""
    if not campaign.sets:
        return
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    by_index = {e.index: e for e in campaign.episodes}
    directory.mkdir(parents=True, exist_ok=True)
    for item in campaign.sets:
        episodes = [by_index[i] for i in item.indices if i in by_index]
        for metric in HISTOGRAMS:
            values = [e.metrics.get(metric) for e in episodes]
            values = [v for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
            fig, ax = plt.subplots(figsize=(5, 3.2))
            if values:
                ax.hist(values, bins=min(50, max(5, len(values) // 10)))
            ax.set_title(f'set:{item.name}: {metric} ({len(values)} of {len(episodes)})')
            ax.set_xlabel(metric)
            ax.set_ylabel('episodes')
            fig.tight_layout()
            fig.savefig(directory / f'set_{item.name}_{metric}.png', dpi=80)
            plt.close(fig)


def _fmt(value):
    if isinstance(value, float):
        return f'{value:.6g}'
    return str(value)


def draw_figures(campaign, directory):
    """Draw dip_report's four figures of every recorded episode into ``directory``."""
    from ..analysis import report
    directory.mkdir(parents=True, exist_ok=True)
    plots = (('cart', report.plot_cart), ('angles', report.plot_angles),
             ('force', report.plot_force), ('phase', report.plot_phase))
    judged = in_sets(campaign)
    worst = {w['index'] for s in campaign.sets for w in s.worst}
    for e in campaign.episodes:
        if e.index in judged and e.index not in worst:
            continue             # a set's episodes: its histograms, and its worst ones
        for path in e.files:
            item = report.analyse(path)
            for name, plot in plots:
                plot(item, directory / f'{item["name"]}_{name}.png')


def _clean(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def write_all(campaign, out=None, junit=None, json_file=None, save_baseline=None,
              figures=False):
    """
    Write every output asked for; their paths go into ``campaign.files``.

    One that cannot be written (the disk filled up, the directory went) does
    not stop the others: why goes into ``campaign.errors``, one line each.
    """
    started = time.perf_counter()

    def attempt(name, path, write):
        try:
            write()
        except (OSError, ValueError) as exc:
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            campaign.errors.append(f'cannot write {name} {path}: {why}')
            return
        campaign.files[name] = Path(path)

    if out is not None:
        out = Path(out)
        if figures:
            begun = time.perf_counter()
            try:
                draw_figures(campaign, out / 'figures')
                draw_histograms(campaign, out / 'figures')
            except Exception as exc:  # noqa: B902 - a figure lost is said, the rest written
                campaign.errors.append(f'cannot draw the figures in {out / "figures"}: '
                                       f'{type(exc).__name__}: {exc}')
                figures = False
            campaign.timings['figures_s'] = time.perf_counter() - begun
        path = out / 'summary.md'

        def summary():
            out.mkdir(parents=True, exist_ok=True)
            path.write_text(summary_md(campaign, figures), encoding='utf-8')
        attempt('summary', path, summary)
    if junit is not None:
        attempt('junit', junit, lambda: junit_xml.write(campaign, junit))
    if save_baseline is not None:
        attempt('baseline', save_baseline,
                lambda: verdict.save_baseline(save_baseline, campaign.episodes, campaign.source))
    campaign.timings['outputs_s'] = time.perf_counter() - started
    if json_file is not None:
        attempt('json', json_file, lambda: Path(json_file).write_text(
            json.dumps(_clean(campaign.to_dict()), indent=1, allow_nan=False),
            encoding='utf-8'))
