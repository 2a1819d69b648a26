"""dip_report: figures and the Markdown summary of recorded episodes, without ROS."""

import dataclasses
import importlib
import re
import struct
import sys
import zlib

import numpy as np
from plant_server_ros.analysis import export, report
from plant_server_ros.analysis.metrics import check_criteria, episode_metrics
from plant_server_ros.clients.controllers import lqr
from plant_server_ros.conditions.scenario import Scenario, ScenarioPlayer
from plant_server_ros.observers.recording import Recorder
from plant_server_ros.runtime.lockstep import LockstepSchedule
from plant_server_ros.runtime.plant import Plant
from plant_server_ros.runtime.schedule import Fanout, PlantHalted, PlantListener
import pytest

# Recording and reading need mcap and mcap-ros2-support, the figures matplotlib (each
# is imported where it is used): without them the tests skip (not the module: a
# module-level skip ends the collection of the whole folder under launch_testing's
# plugin, colcon test; see test_collection.py).
REASONS = {'mcap': 'dip_report reads MCAP: mcap is not installed (pip install mcap)',
           'mcap_ros2': 'dip_report reads ROS 2 messages: mcap-ros2-support is not installed '
                        '(pip install mcap-ros2-support)',
           'matplotlib': 'dip_report draws with matplotlib: it is not installed '
                         '(pip install matplotlib)'}


def _missing():
    for name, reason in REASONS.items():
        try:
            importlib.import_module(name)
        except ImportError:
            return reason
    return None


MISSING = _missing()
pytestmark = pytest.mark.skipif(MISSING is not None, reason=str(MISSING))

DT = 0.01
WIDTH, HEIGHT = 1200, 800
# Balanced by the LQR on the measured state through a scheduled pulse and a live push.
BALANCE = {'name': 'balance', 'seed': 3, 'duration': 10.0,
           'initial_state': [0.0, 0.05, -0.03, 0.0, 0.0, 0.0],
           'disturbances': [{'kind': 'pulse', 'channel': 'force', 'amplitude': 5.0,
                             'start': 2.0, 'duration': 0.1}],
           'uncertainty': {'masses': 0.05},
           'actuator': {'max_force': 20.0},
           'sensor': {'noise_std': 0.001},
           'safety': {'track_limit': 1.5, 'fall_angle': 0.6},
           'criteria': {'max_abs_theta': 0.2, 'max_abs_x': 0.5, 'settling_time': 9.0,
                        'rms_force': 10.0, 'balanced': True}}
# No control: the pendulum falls and the safety supervisor halts the plant.
FALL = {'name': 'no control', 'seed': 4, 'duration': 6.0,
        'initial_state': [0.0, 0.05, -0.03, 0.0, 0.0, 0.0],
        'safety': {'fall_angle': 0.6},
        'criteria': {'max_abs_theta': 0.3, 'balanced': True}}
LIVE_PUSH = (3.0, 3.5)        # s: a live force of 4 N on the cart over this window


@pytest.fixture(scope='module')
def recordings(tmp_path_factory):
    """Two episodes, one file each: balanced by the LQR, then fallen without control."""
    directory = tmp_path_factory.mktemp('campaign')
    scenarios = [Scenario.from_dict(s, dt=DT) for s in (BALANCE, FALL)]
    plant = Plant(dt=DT, seed=1, scenarios=ScenarioPlayer(scenarios))
    fanout = Fanout(PlantListener(), [])
    schedule = LockstepSchedule(plant, fanout)
    controller = lqr(DT, 20.0)
    schedule.start()
    # As a client does: its first reset (re)starts the first scenario (episode 2).
    recorder = Recorder(directory, plant, DT)
    fanout.observers.append(recorder)
    state = schedule.reset().measured
    try:
        for k in range(10000):
            t = k * DT
            if abs(t - LIVE_PUSH[0]) < DT / 2:
                schedule.set_disturbance(4.0)
            elif abs(t - LIVE_PUSH[1]) < DT / 2:
                schedule.set_disturbance(0.0)
            state = schedule.control(controller(state)).measured
    except PlantHalted:
        pass
    schedule.reset()                          # the next scenario: no control
    try:
        for _ in range(10000):
            schedule.control(0.0)
    except PlantHalted:
        pass
    recorder.close()
    assert recorder.dropped == 0 and recorder.error is None
    assert [p.name for p in recorder.files] == ['episode_0002_balance.mcap',
                                                'episode_0003_no_control.mcap']
    return directory, recorder.files


@pytest.fixture(scope='module')
def campaign_report(recordings):
    directory, files = recordings
    assert report.main([str(directory)]) == 0
    out = directory.parent / f'{directory.name}_report'
    return out, files


def png_info(path):
    """Return ``(width, height)`` from the IHDR chunk of a PNG file (checks the signature)."""
    data = path.read_bytes()
    assert data[:8] == b'\x89PNG\r\n\x1a\n', f'{path} is not a PNG file'
    length, kind = struct.unpack('>I4s', data[8:16])
    assert kind == b'IHDR' and length == 13
    width, height = struct.unpack('>II', data[16:24])
    (crc,) = struct.unpack('>I', data[29:33])
    assert crc == zlib.crc32(data[12:29]) & 0xFFFFFFFF
    return width, height


def check_png(path):
    assert path.is_file(), f'{path.name} was not written'
    assert png_info(path) == (WIDTH, HEIGHT)
    from matplotlib.image import imread
    pixels = imread(path)
    assert pixels.shape[:2] == (HEIGHT, WIDTH)
    channels = np.rint(pixels * 255).astype(np.uint32).reshape(-1, pixels.shape[2])
    packed = np.zeros(len(channels), dtype=np.uint32)
    for c in range(channels.shape[1]):
        packed = (packed << 8) | channels[:, c]
    colors = len(np.unique(packed))
    assert colors > 20, f'{path.name} looks blank ({colors} colours)'
    drawn = np.count_nonzero(packed != packed[0])       # not the background's colour
    assert drawn > 0.02 * packed.size, f'{path.name} looks blank ({drawn} pixels drawn)'


def cells(line):
    r"""Return the cells of a Markdown table row (``\|`` is an escaped bar)."""
    parts = re.split(r'(?<!\\)\|', line.strip())[1:-1]
    return [p.strip().replace('\\|', '|') for p in parts]


def sections(text):
    """Return ``{heading: [lines]}`` of the ``## `` sections of a Markdown text."""
    found, current = {}, None
    for line in text.splitlines():
        if line.startswith('## '):
            current = line[3:]
            found[current] = []
        elif current is not None:
            found[current].append(line)
    return found


def table_after(lines, heading):
    """Return the rows (lists of cells, header first) of the first table after ``heading``."""
    start = lines.index(heading)
    rows = []
    for line in lines[start + 1:]:
        if line.startswith('|'):
            if not re.fullmatch(r'\|(---\|)+', line):
                rows.append(cells(line))
        elif rows:
            break
    return rows


def expected(path, measured=False):
    """Return (episode, metrics, verdict, ended) as computed here, from dip_export's reader."""
    episode = export.load_episode(path, measured=measured)
    scenario = episode['meta']['scenario']
    ends = [e for e in episode['events'] if e['kind'] in ('halt', 'estop', 'scenario_done')]
    ended = f"{ends[0]['kind']}: {ends[0]['detail']}" if ends else 'end of recording'
    metrics = episode_metrics(episode['t'], episode['x'], episode['u'],
                              max_force=scenario.get('actuator', {}).get('max_force'),
                              ended=ended,
                              fall_angle=scenario.get('safety', {}).get('fall_angle', 0.6))
    return episode, metrics, check_criteria(metrics, scenario.get('criteria')), ended


def approx(text, value):
    """``text`` (printed with 6 significant digits) stands for ``value``."""
    if value is None:
        return text.startswith('—')
    if isinstance(value, bool):
        return text == ('yes' if value else 'no')
    return float(text) == pytest.approx(value, rel=1e-5, abs=1e-300)


def test_the_episodes_balance_and_fall(recordings):
    _, files = recordings
    _, good, verdict, ended = expected(files[0])
    assert good['balanced'] and verdict['passed'] and ended.startswith('scenario_done')
    assert good['duration'] == pytest.approx(10.0)
    _, bad, verdict, ended = expected(files[1])
    assert bad['fell'] and not verdict['passed']
    assert ended.startswith('halt: pendulum fell at t=')


def test_every_figure_is_a_png_of_the_size_and_not_blank(campaign_report):
    out, files = campaign_report
    for path in files:
        for name in ('cart', 'angles', 'force', 'phase'):
            check_png(out / f'{path.stem}_{name}.png')
    check_png(out / 'campaign.png')
    assert (out / 'summary.md').is_file()


def test_summary_metrics_equal_episode_metrics(campaign_report):
    out, files = campaign_report
    text = (out / 'summary.md').read_text(encoding='utf-8')
    found = sections(text)
    labels = {label: key for key, label, _, _ in report.METRICS}
    headings = [h for h in found if h.startswith('Episode')]
    assert headings == ["Episode 2: scenario 'balance'", "Episode 3: scenario 'no control'"]
    for heading, path in zip(headings, files):
        lines = found[heading]
        _, metrics, verdict, ended = expected(path)
        rows = table_after(lines, '### Metrics')
        assert rows[0] == ['Metric', 'Value', 'Unit', 'Meaning']
        assert {labels[r[0]] for r in rows[1:]} == set(labels.values())
        for label, value, unit, _ in rows[1:]:
            key = labels[label]
            if value == 'n/a':            # saturation without a known actuator limit
                assert key in report.SATURATION_KEYS and 'max_force' not in \
                    export.load_episode(path)['meta']['scenario'].get('actuator', {})
                continue
            assert approx(value, metrics[key]), (heading, key, value, metrics[key])
        checks = table_after(lines, '### Criteria')
        assert checks[0] == ['Criterion', 'Check', 'Limit', 'Value', 'Result']
        assert len(checks) - 1 == len(verdict['checks'])
        for row, check in zip(checks[1:], verdict['checks']):
            assert row[0] == check['criterion']
            assert approx(row[2], check['limit'])
            assert approx(row[3], check['value'])
            assert row[4] == ('pass' if check['passed'] else 'FAIL')
        result = 'PASSED' if verdict['passed'] else 'FAILED'
        assert f'- Result: **{result}**' in '\n'.join(lines)
        assert f'- Why it ended: {ended}' in lines
        for name in ('cart', 'angles', 'force', 'phase'):
            assert f'({path.stem}_{name}.png)' in '\n'.join(lines)


def test_fallen_episode_says_why_it_ended(campaign_report):
    out, files = campaign_report
    found = sections((out / 'summary.md').read_text(encoding='utf-8'))
    lines = found["Episode 3: scenario 'no control'"]
    (line,) = [x for x in lines if x.startswith('- Why it ended: ')]
    assert line.startswith('- Why it ended: halt: pendulum fell at t=')
    assert '- Result: **FAILED** (0 of 2 criteria met; failed: max_abs_theta, balanced)' in lines
    assert '- Seed: 4' in lines
    first = found["Episode 2: scenario 'balance'"]
    assert '- Seed: 3' in first
    assert any(x.startswith('- Parameters, drawn for this episode (uncertainty: masses 0.05): '
                            'cart_mass = ') for x in first)
    assert any(x.startswith('- Why it ended: scenario_done: scenario balance complete')
               for x in first)


def test_campaign_table_comes_first_and_matches(campaign_report):
    out, files = campaign_report
    text = (out / 'summary.md').read_text(encoding='utf-8')
    assert list(sections(text))[0] == 'Campaign'
    rows = table_after(sections(text)['Campaign'], '')
    header = rows[0]
    assert header[:6] == ['Episode', 'Scenario', 'Seed', 'Result', 'Failed criteria',
                          'Why it ended']
    columns = dict(report.CAMPAIGN_COLUMNS)
    keys = {h: k for k, h in columns.items()}
    assert len(rows) == 3
    for row, path, first in zip(rows[1:], files, (['2', 'balance', '3'],
                                                  ['3', 'no control', '4'])):
        _, metrics, verdict, ended = expected(path)
        assert row[:3] == first
        assert row[3] == ('PASSED' if verdict['passed'] else 'FAILED')
        failed = [c['criterion'] for c in verdict['checks'] if not c['passed']]
        assert row[4] == (', '.join(failed) or '—')
        assert row[5] == ended
        for title, value in zip(header[6:], row[6:]):
            assert approx(value, metrics[keys[title]]), (title, value)
    assert '(campaign.png)' in text


def test_measured_state_report_of_one_file(recordings, tmp_path):
    _, files = recordings
    out = tmp_path / 'one'
    assert report.main([str(files[0]), '--out', str(out), '--measured']) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted([f'{files[0].stem}_{n}.png' for n in
                            ('cart', 'angles', 'force', 'phase')] + ['summary.md'])
    text = (out / 'summary.md').read_text(encoding='utf-8')
    assert '## Campaign' not in text
    _, metrics, _, _ = expected(files[0], measured=True)
    _, truth, _, _ = expected(files[0])
    assert metrics['iae_th1'] != truth['iae_th1']
    rows = table_after(sections(text)["Episode 2: scenario 'balance'"], '### Metrics')
    (iae,) = [r for r in rows if r[0] == 'IAE θ1']
    assert approx(iae[1], metrics['iae_th1'])
    assert 'measured state (`/state`)' in text


def test_default_output_beside_a_file(recordings, tmp_path):
    _, files = recordings
    copy = tmp_path / files[1].name
    copy.write_bytes(files[1].read_bytes())
    assert report.main([str(copy)]) == 0
    out = tmp_path / f'{files[1].stem}_report'
    check_png(out / f'{files[1].stem}_force.png')
    assert not (out / 'campaign.png').exists()


def test_missing_and_unreadable_inputs(tmp_path, capsys):
    missing = tmp_path / 'missing.mcap'
    assert report.main([str(missing)]) == 2
    err = capsys.readouterr().err
    assert err == f'dip_report: no such file or directory: {missing}\n'
    text = tmp_path / 'notes.mcap'
    text.write_text('t,x\n0,0\n')
    assert report.main([str(text), '--out', str(tmp_path / 'out')]) == 2
    err = capsys.readouterr().err
    assert 'is not an MCAP file' in err and err.count('\n') == 1
    assert not (tmp_path / 'out' / 'summary.md').exists()
    empty = tmp_path / 'empty'
    empty.mkdir()
    assert report.main([str(empty)]) == 2
    assert capsys.readouterr().err == f'dip_report: no .mcap files in {empty}\n'
    assert report.main([]) == 2                       # usage error


def test_short_stopped_cut_and_unjudged_episodes(tmp_path, capsys):
    # An e-stop under live torques, a criterion the metrics do not know, a file cut off
    # mid-write: reported all the same, each saying what it is.  (A one-sample episode
    # is not even kept by the recorder: nothing happened in it.)
    odd = Scenario.from_dict({'name': 'odd', 'criteria': {'max_abs_theta': 0.3},
                              'disturbances': [{'kind': 'step', 'channel': 'tau1',
                                                'amplitude': 0.05, 'start': 0.2}]}, dt=DT)
    # A scenario file with it is refused when loaded; a recording may still hold one.
    odd = dataclasses.replace(odd, criteria={'max_abs_theta': 0.3, 'wobble': 1})
    plant = Plant(dt=DT, seed=2, scenarios=ScenarioPlayer([odd]))
    recorder = Recorder(tmp_path / 'rec', plant, DT, chunk_size=4096)
    schedule = LockstepSchedule(plant, Fanout(PlantListener(), [recorder]))
    schedule.start()                            # episode 1: its t = 0 sample only, not kept
    schedule.reset()
    for _ in range(30):
        schedule.control(0.5)
    schedule.set_disturbance(1.0, 0.1, -0.05)
    for _ in range(20):
        schedule.control(-0.5)
    schedule.estop('operator pressed the button')
    schedule.reset()
    for _ in range(300):
        schedule.control(0.0)
    recorder.close()
    second, third = recorder.files
    assert len(list((tmp_path / 'rec').glob('*.mcap'))) == 2
    data = third.read_bytes()
    third.write_bytes(data[:len(data) // 2])    # its writer died
    assert report.main([str(tmp_path / 'rec')]) == 0
    err = capsys.readouterr().err
    assert f'dip_report: warning: {third} was not closed' in err
    out = tmp_path / 'rec_report'
    for path in (second, third):
        for name in ('cart', 'angles', 'force', 'phase'):
            check_png(out / f'{path.stem}_{name}.png')
    check_png(out / 'campaign.png')
    found = sections((out / 'summary.md').read_text(encoding='utf-8'))
    stopped, cut = (found[f"Episode {n}: scenario 'odd'"] for n in (2, 3))
    assert '- Why it ended: estop: emergency stop at t=0.500 s (operator pressed the ' \
        'button)' in stopped
    assert '- Result: **not checked (invalid criteria)**' in stopped
    assert any(line.startswith('The criteria could not be checked: criteria.wobble is not a '
                               'criterion') for line in stopped)
    assert any(line.startswith('- **Warning**: the file was not closed') for line in cut)
    rows = table_after(cut, '### Metrics')
    (duration,) = [r for r in rows if r[0] == 'Duration']
    assert 0.0 < float(duration[1]) < 3.0


def test_a_bad_file_in_a_directory_stops_the_report(recordings, tmp_path, capsys):
    _, files = recordings
    (tmp_path / files[0].name).write_bytes(files[0].read_bytes())
    (tmp_path / 'episode_0009_broken.mcap').write_bytes(b'\x89MCAP0\r\n' + b'\0' * 64)
    out = tmp_path / 'out'
    assert report.main([str(tmp_path), '--out', str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith('dip_report: ') and 'episode_0009_broken.mcap' in err
    assert err.count('\n') == 1
    assert not out.exists()


def test_without_matplotlib_it_says_so(recordings, tmp_path, monkeypatch, capsys):
    _, files = recordings
    monkeypatch.setitem(sys.modules, 'matplotlib', None)        # its import fails
    assert report.main([str(files[0]), '--out', str(tmp_path / 'out')]) == 2
    assert capsys.readouterr().err == 'dip_report: drawing the figures needs matplotlib ' \
        '(pip install matplotlib)\n'
