"""
``dip_report``: figures and a Markdown summary of recorded episodes (MCAP).

    dip_report episode_0001_nominal.mcap [--out DIR] [--measured]
    dip_report recordings/ [--out DIR] [--measured]

Reads one file the :class:`~plant_server_ros.observers.recording.Recorder` wrote,
or every ``*.mcap`` of a directory in name order, and writes into the output
directory (default: ``<input>_report/`` beside the input, ``<input>`` without
``.mcap``):

- per episode (``<episode>`` is the file's name without ``.mcap``):
  ``<episode>_cart.png`` (cart position, track limits), ``<episode>_angles.png``
  (link angles in degrees), ``<episode>_force.png`` (applied force, the live
  disturbance force, the scheduled disturbance windows shaded) and
  ``<episode>_phase.png`` (phase portraits of both links); events (halt,
  e-stop, end of the scenario, disturbances, failsafe) are marked;
- ``campaign.png`` for several episodes: max |theta| and RMS force per
  episode, green for passed, red for failed, grey without criteria;
- ``summary.md``: for several episodes the campaign table first; then per
  episode its scenario, seed, parameters, why it ended, its metrics
  (:func:`~plant_server_ros.analysis.metrics.episode_metrics`, in SI units),
  the checks of the scenario's criteria, its events and its figures.

The metrics are computed on the ground truth (``/ground_truth``) by default,
on the measured state (``/state``) with ``--measured``.  The actuator limit
(saturation metrics) and the track limit are known only when the episode's
scenario sets them (``actuator.max_force``, ``safety.track_limit``); the fall
angle is the scenario's ``safety.fall_angle``, else the metrics' 0.6 rad.

Exit status: 0 done; 2 a missing input, a file that cannot be read as an
episode, or an output that cannot be written (one line says why).
"""

import math
from pathlib import Path
import sys
from urllib.parse import quote

import numpy as np

from .export import _read, EpisodeFileError, load_episode
from .metrics import campaign_table, check_criteria, CRITERIA, episode_metrics
from ..inputs import flags
from ..physics.state import wrap_angle

EXIT_OK, EXIT_ERROR = 0, 2
DISTURBANCE_TOPIC = '/disturbance'
FIGURE_SIZE = (12.0, 8.0)      # inches; at DPI: 1200 x 800 pixels
DPI = 100
FIGURES = ('cart', 'angles', 'force', 'phase')
DEFAULT_FALL_ANGLE = 0.6       # rad, as episode_metrics
END_KINDS = ('halt', 'estop', 'scenario_done')
MAX_EVENT_ROWS = 40
MAX_EVENT_LABELS = 12

# The metrics table of an episode: (key, label, unit, what it means).
METRICS = (
    ('duration', 'Duration', 's', 'length of the record'),
    ('steps', 'Control periods', '-', 'number of forces applied (samples - 1)'),
    ('balanced', 'Balanced', '-', 'neither fell nor halted'),
    ('fell', 'Fell', '-', 'an angle beyond {fall} rad, or halted for a fall or the track'),
    ('halted', 'Halted', '-', 'the plant halted (a safety limit, an e-stop, divergence)'),
    ('settling_time', 'Settling time', 's',
     'from then on |θ1|, |θ2| ≤ 0.02 rad and |x| ≤ 0.05 m to the end, for ≥ 1 s '
     '(— : never settled)'),
    ('max_abs_x', 'Max |x|', 'm', 'largest cart excursion'),
    ('max_abs_th1', 'Max |θ1|', 'rad', 'largest angle of link 1 from upright'),
    ('max_abs_th2', 'Max |θ2|', 'rad', 'largest angle of link 2 from upright'),
    ('overshoot_th1', 'Overshoot θ1', 'rad', 'largest swing of link 1 past upright'),
    ('overshoot_th2', 'Overshoot θ2', 'rad', 'largest swing of link 2 past upright'),
    ('iae_th1', 'IAE θ1', 'rad·s', 'integral of |θ1| over time'),
    ('iae_th2', 'IAE θ2', 'rad·s', 'integral of |θ2| over time'),
    ('ise_th1', 'ISE θ1', 'rad²·s', 'integral of θ1² over time'),
    ('ise_th2', 'ISE θ2', 'rad²·s', 'integral of θ2² over time'),
    ('itae_th1', 'ITAE θ1', 'rad·s²', 'integral of t·|θ1| over time (late errors weigh more)'),
    ('itae_th2', 'ITAE θ2', 'rad·s²', 'integral of t·|θ2| over time (late errors weigh more)'),
    ('rms_force', 'RMS force', 'N', 'root mean square of the applied force'),
    ('peak_force', 'Peak force', 'N', 'largest |force| applied'),
    ('time_in_saturation', 'Time in saturation', 's', 'time the force was at the actuator limit'),
    ('saturation_fraction', 'Saturation fraction', '-', 'fraction of the time at the limit'),
    ('mean_abs_du', 'Mean |Δu|', 'N', 'mean change of the force from one period to the next '
     '(chattering)'),
    ('sign_changes_per_s', 'Force sign changes', '1/s', 'sign changes of the force per second'),
    ('control_energy', 'Control energy', 'N²·s', 'integral of u² over time (effort, not '
     'joules)'),
    ('control_work', 'Control work', 'J', 'approximate work of the force on the cart'),
)
SATURATION_KEYS = ('time_in_saturation', 'saturation_fraction')
ANGLE_KEYS = ('max_abs_th1', 'max_abs_th2', 'overshoot_th1', 'overshoot_th2')

# The campaign table: (column of metrics.campaign_table, header).
CAMPAIGN_COLUMNS = (
    ('duration', 'Duration [s]'),
    ('max_abs_th1', 'Max |θ1| [rad]'),
    ('max_abs_th2', 'Max |θ2| [rad]'),
    ('max_abs_x', 'Max |x| [m]'),
    ('settling_time', 'Settling time [s]'),
    ('rms_force', 'RMS force [N]'),
    ('peak_force', 'Peak force [N]'),
    ('iae_th1', 'IAE θ1 [rad·s]'),
)

# How the figures mark the events: kind -> (color, line style, legend label, text label).
EVENT_STYLES = {
    'halt': ('tab:red', '-', 'halt', 'halt'),
    'estop': ('darkred', '-', 'emergency stop', 'e-stop'),
    'scenario_done': ('dimgray', '-', 'scenario done', 'done'),
    'disturbance_start': ('tab:orange', '--', 'scheduled disturbance starts', 'disturbance'),
    'disturbance': ('tab:purple', '--', 'live disturbance set', 'live'),
    'failsafe_on': ('tab:brown', '-.', 'failsafe on (no control: u = 0)', 'failsafe'),
    'failsafe_off': ('tab:olive', '-.', 'failsafe off (control again)', 'control'),
    'fault_start': ('crimson', ':', 'fault starts', 'fault'),
    'fault_end': ('seagreen', ':', 'fault ends', 'fault ends'),
    'overload_trip': ('crimson', '-.', 'motor overload cut-out', 'overload'),
}
PASS_COLOR, FAIL_COLOR, NEUTRAL_COLOR = '#2ca02c', '#d62728', '#9e9e9e'
_LABEL_BOX = {'boxstyle': 'square,pad=0.1', 'facecolor': 'white', 'edgecolor': 'none',
              'alpha': 0.8}


class ReportError(Exception):
    """An input that cannot be read, or an output that cannot be written (one line)."""


# -- reading -------------------------------------------------------------------

def episode_files(path):
    """Return the recordings ``path`` names: itself, or the ``*.mcap`` of a directory."""
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix == '.mcap' and p.is_file())
        if not files:
            raise ReportError(f'no .mcap files in {path}')
        return files
    if not path.exists():
        raise ReportError(f'no such file or directory: {path}')
    return [path]


def default_output(path):
    """Return ``<input>_report`` beside the input (``<input>`` without ``.mcap``)."""
    path = Path(path)
    name = path.name if path.is_dir() else (path.stem if path.suffix == '.mcap' else path.name)
    return path.resolve().parent / f'{name}_report'


def why_ended(events):
    """Return why an episode ended: its first halt/estop/scenario_done, or the recording's end."""
    for event in events:
        if event.get('kind') in END_KINDS:
            return f"{event['kind']}: {event.get('detail', '')}", event
    return 'end of recording', None


def _section(scenario, name):
    value = scenario.get(name) if isinstance(scenario, dict) else None
    return value if isinstance(value, dict) else {}


def _limit(section, key):
    value = section.get(key)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and \
            math.isfinite(value) and value > 0:
        return float(value)
    return None


def _live_disturbance(path, episode):
    """Return ``(times, values)`` of the live disturbance ``[F, tau1, tau2]`` of a file."""
    found = _read(path, (DISTURBANCE_TOPIC,))[0]
    stamp0, t0 = int(episode['stamp_ns'][0]), float(episode['t'][0])
    times, values = [], []
    for ns, message in found[DISTURBANCE_TOPIC]:
        data = list(message.data)
        if len(data) == 3 and all(math.isfinite(v) for v in data):
            times.append(t0 + (ns - stamp0) / 1e9)
            values.append(data)
    return np.array(times, dtype=float), np.array(values, dtype=float).reshape(-1, 3)


def _scheduled_windows(events, t_end):
    """Return ``[(start, end, detail)]`` of the scheduled disturbances, from their events."""
    windows, open_ = [], {}
    for event in events:
        kind, detail = event.get('kind'), event.get('detail', '')
        if kind == 'disturbance_start':
            open_.setdefault(detail, []).append(float(event['t']))
        elif kind == 'disturbance_end' and open_.get(detail):
            windows.append((open_[detail].pop(0), float(event['t']), detail))
    for detail, starts in open_.items():
        windows.extend((start, t_end, detail) for start in starts)
    return sorted(windows)


def _short_disturbance(detail):
    """Return ``kind on channel, amplitude`` of a disturbance event's detail text."""
    fields = dict(part.split(' ', 1) for part in detail.split(', ') if ' ' in part)
    text = f"{fields.get('kind', '?')} on {fields.get('channel', '?')}"
    unit = 'N' if fields.get('channel') == 'force' else 'N·m'
    if 'amplitude' in fields:
        text += f" {_fmt(_float(fields['amplitude']), 3)} {unit}"
    elif 'std' in fields:
        text += f" std {_fmt(_float(fields['std']), 3)} {unit}"
    return text


def _float(text):
    try:
        return float(text)
    except ValueError:
        return text


def analyse(path, measured=False):
    """
    Read one episode recording and compute what the report shows (a dict).

    Keys: ``path``, ``name`` (file name without ``.mcap``), ``episode`` (the
    loaded record of :func:`~.export.load_episode`), ``meta``, ``scenario``
    (its name), ``scenario_section`` (its description), ``number``, ``seed``,
    ``ended`` (as :func:`why_ended` says), ``end_event``, ``max_force``,
    ``track_limit``, ``fall_angle`` (of the metrics), ``safety_fall_angle``
    (the scenario's, or None), ``metrics``, ``criteria``, ``verdict`` (of
    ``check_criteria``, or None when the criteria are invalid: see
    ``criteria_error``), ``live`` (times, values of ``/disturbance``) and
    ``measured``.  Raises ReportError for a file that is not an episode
    recording.
    """
    path = Path(path)
    try:
        episode = load_episode(path, measured=measured)
        live = _live_disturbance(path, episode)
    except EpisodeFileError as exc:
        raise ReportError(str(exc)) from None
    # Only events with a time can be placed (a file not written by the Recorder may differ).
    episode['events'] = [e for e in episode['events'] if isinstance(e, dict) and
                         isinstance(e.get('t'), (int, float)) and math.isfinite(e['t'])]
    meta = episode['meta'] if isinstance(episode['meta'], dict) else {}
    scenario = meta.get('scenario', {})
    if not isinstance(scenario, dict):
        scenario = {'name': str(scenario)}
    ended, end_event = why_ended(episode['events'])
    max_force = _limit(_section(scenario, 'actuator'), 'max_force')
    safety = _section(scenario, 'safety')
    fall_angle = _limit(safety, 'fall_angle') or DEFAULT_FALL_ANGLE
    try:
        metrics = episode_metrics(episode['t'], episode['x'], episode['u'], max_force=max_force,
                                  ended=ended, fall_angle=fall_angle)
    except ValueError as exc:
        raise ReportError(f'{path}: cannot compute its metrics ({exc})') from None
    criteria = scenario.get('criteria') if isinstance(scenario.get('criteria'), dict) else {}
    try:
        verdict, criteria_error = check_criteria(metrics, criteria), None
    except ValueError as exc:
        verdict, criteria_error = None, str(exc)
    stem = path.name[:-len('.mcap')] if path.name.endswith('.mcap') else path.name
    return {'path': path, 'name': stem, 'episode': episode, 'meta': meta,
            'scenario': str(scenario.get('name', '?')), 'scenario_section': scenario,
            'number': meta.get('episode', '?'), 'seed': scenario.get('seed'),
            'ended': ended, 'end_event': end_event, 'max_force': max_force,
            'track_limit': _limit(safety, 'track_limit'), 'fall_angle': fall_angle,
            'safety_fall_angle': _limit(safety, 'fall_angle'), 'metrics': metrics,
            'criteria': criteria, 'verdict': verdict, 'criteria_error': criteria_error,
            'live': live, 'measured': measured}


def passed(item):
    """Return True, False, or None (no criteria, or criteria that cannot be checked)."""
    verdict = item['verdict']
    if verdict is None or not verdict['checks']:
        return None
    return verdict['passed']


# -- figures -------------------------------------------------------------------

def _figure(legend_below=False):
    """Return a figure on the Agg canvas (no pyplot, no display); room below for a legend."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    if legend_below:
        figure = Figure(figsize=FIGURE_SIZE, dpi=DPI)
        figure.subplots_adjust(left=0.07, right=0.985, top=0.91, bottom=0.18, hspace=0.08)
    else:
        figure = Figure(figsize=FIGURE_SIZE, dpi=DPI, layout='constrained')
    FigureCanvasAgg(figure)
    return figure


def _title(item, what):
    state = 'measured state' if item['measured'] else 'ground truth'
    return (f"Episode {item['number']}, scenario '{item['scenario']}': {what}\n"
            f"{item['name']} ({state})")


def _mark_events(ax, events, kinds, labels=True):
    """Draw a vertical line at each event of ``kinds``; one legend entry per kind."""
    from matplotlib.transforms import blended_transform_factory
    marked = [e for e in events if e.get('kind') in kinds]
    text_on = labels and len(marked) <= MAX_EVENT_LABELS
    transform = blended_transform_factory(ax.transData, ax.transAxes)
    seen = set()
    for event in marked:
        color, style, legend, short = EVENT_STYLES[event['kind']]
        t = float(event['t'])
        ax.axvline(t, color=color, linestyle=style, linewidth=1.2, alpha=0.9,
                   label=None if event['kind'] in seen else legend)
        seen.add(event['kind'])
        if text_on:
            if event['kind'] == 'disturbance':
                short = _live_label(event.get('detail', ''))
            elif event['kind'] == 'disturbance_start':
                short = 'scheduled: ' + _short_disturbance(event.get('detail', ''))
            elif event['kind'] in ('fault_start', 'fault_end'):
                short = f"{short}: {event.get('detail', '').split(' from ')[0]}"
            elif event['kind'] == 'halt':
                short = 'halt: ' + event.get('detail', '').split(' at t=')[0]
            ax.annotate(f'{short} (t={t:.2f} s)', xy=(t, 0.99), xycoords=transform,
                        xytext=(-2, 0), textcoords='offset points', rotation=90, va='top',
                        ha='right', fontsize=8, color=color, bbox=_LABEL_BOX)


def _live_label(detail):
    """Return a short label of a live disturbance event ('live [F, tau1, tau2] = [...]')."""
    try:
        values = [float(v) for v in detail.split('= [', 1)[1].rstrip(']').split(',')]
    except (IndexError, ValueError):
        return 'live'
    if not any(values):
        return 'live push off'
    if len(values) == 3 and not any(values[1:]):
        return f'live push F={values[0]:g} N'
    return 'live push [F, τ1, τ2]=[' + ', '.join(f'{v:g}' for v in values) + ']'


def _time_axes(ax, item):
    t = item['episode']['t']
    span = float(t[-1] - t[0]) if t[-1] > t[0] else 1.0
    ax.set_xlim(float(t[0]), float(t[0]) + 1.015 * span)      # an event at the end shows
    ax.set_xlabel('episode time t [s]')
    ax.grid(True, alpha=0.3)


def _legend_below(figure, *axes):
    """Put one legend of the entries of ``axes`` at the bottom of ``figure``, off the data."""
    handles, labels = [], []
    for ax in axes:
        h, lab = ax.get_legend_handles_labels()
        handles += h
        labels += lab
    figure.legend(handles, labels, loc='lower center', ncol=3, fontsize=9, frameon=False)


ALL_MARKS = ('halt', 'estop', 'scenario_done', 'disturbance_start', 'disturbance',
             'failsafe_on', 'failsafe_off', 'fault_start', 'fault_end', 'overload_trip')


def plot_cart(item, out):
    """Write the cart position over time, with the track limits if known."""
    figure = _figure(legend_below=True)
    ax = figure.add_subplot()
    t, x = item['episode']['t'], item['episode']['x']
    ax.plot(t, x[:, 0], color='tab:blue', linewidth=1.5, label='cart position x')
    ax.axhline(0.0, color='black', linewidth=0.8)
    if item['track_limit'] is not None:
        for sign in (1, -1):
            ax.axhline(sign * item['track_limit'], color='tab:red', linestyle='--',
                       linewidth=1.2, label=None if sign < 0 else
                       f"track limit ±{item['track_limit']:g} m")
    limit = item['criteria'].get('max_abs_x')
    if isinstance(limit, (int, float)) and not isinstance(limit, bool):
        for sign in (1, -1):
            ax.axhline(sign * limit, color='tab:green', linestyle=':', linewidth=1.2,
                       label=None if sign < 0 else f'criterion max |x| ≤ {limit:g} m')
    _mark_events(ax, item['episode']['events'], ALL_MARKS)
    _time_axes(ax, item)
    ax.set_ylabel('cart position x [m]')
    ax.set_title(_title(item, 'cart position'))
    _legend_below(figure, ax)
    figure.savefig(out, dpi=DPI)


def _broken_at_wraps(t, angle):
    """Return ``t`` and the angle in degrees, a gap where it wraps past ±180°."""
    t, degrees = np.asarray(t, dtype=float), np.degrees(angle)
    jumps = np.flatnonzero(np.abs(np.diff(angle)) > np.pi) + 1
    return np.insert(t, jumps, np.nan), np.insert(degrees, jumps, np.nan)


def plot_angles(item, out):
    """Write both link angles over time in degrees, with a zero line and known limits."""
    figure = _figure(legend_below=True)
    ax = figure.add_subplot()
    t, x = item['episode']['t'], item['episode']['x']
    angles = wrap_angle(x[:, 1:3])         # as the metrics judge them: (-pi, pi]
    for k, (color, label) in enumerate((('tab:blue', 'θ1 (link 1)'),
                                        ('tab:orange', 'θ2 (link 2)'))):
        ax.plot(*_broken_at_wraps(t, angles[:, k]), color=color, linewidth=1.5, label=label)
    ax.axhline(0.0, color='black', linewidth=0.8, label='upright (0)')
    limit = item['criteria'].get('max_abs_theta')
    if isinstance(limit, (int, float)) and not isinstance(limit, bool):
        for sign in (1, -1):
            ax.axhline(sign * math.degrees(limit), color='tab:green', linestyle=':',
                       linewidth=1.2, label=None if sign < 0 else
                       f'criterion max |θ| ≤ {limit:g} rad ({math.degrees(limit):.1f}°)')
    if item['safety_fall_angle'] is not None:
        fall = item['safety_fall_angle']
        for sign in (1, -1):
            ax.axhline(sign * math.degrees(fall), color='tab:red', linestyle='--',
                       linewidth=1.2, label=None if sign < 0 else
                       f'fall limit ±{fall:g} rad ({math.degrees(fall):.1f}°)')
    _mark_events(ax, item['episode']['events'], ALL_MARKS)
    _time_axes(ax, item)
    ax.set_ylabel('angle from upright [deg]')
    ax.set_title(_title(item, 'link angles'))
    _legend_below(figure, ax)
    figure.savefig(out, dpi=DPI)


def plot_force(item, out):
    """Write the applied force (a step plot), the live disturbance and the scheduled windows."""
    figure = _figure(legend_below=True)
    episode = item['episode']
    t, u, events = episode['t'], episode['u'], episode['events']
    live_t, live = item['live']
    dt = float(episode['dt']) if math.isfinite(episode['dt']) else 0.0
    if live.size and np.any(live[:, 1:] != 0.0):      # live torques: a panel of their own
        ax, tau_ax = figure.subplots(2, 1, sharex=True, gridspec_kw={'height_ratios': (3, 1)})
    else:
        ax, tau_ax = figure.add_subplot(), None
    t_end = float(t[-1])
    for k, (start, end, detail) in enumerate(_scheduled_windows(events, t_end)):
        for axis in (ax, tau_ax):
            if axis is not None:
                axis.axvspan(start, max(end, start + 0.002 * max(t_end, 1.0)),
                             color='tab:orange', alpha=0.25,
                             label='scheduled disturbance' if k == 0 and axis is ax else None)
        ax.annotate(f'scheduled: {_short_disturbance(detail)} (t={start:.2f} s)',
                    xy=(start, 0.99), xycoords=('data', 'axes fraction'), xytext=(-2, 0),
                    textcoords='offset points', rotation=90, fontsize=8, color='chocolate',
                    ha='right', va='top', bbox=_LABEL_BOX)
    if u.size:
        ax.step(t, np.append(u, u[-1]), where='post', color='tab:blue', linewidth=1.3,
                label='applied force u (held over each period)')
    if live.size and np.any(live[:, 0] != 0.0):
        # Recorded at the first sample after a change: it acted from the period before.
        starts = np.maximum(live_t - dt, float(t[0]))
        ax.step(np.append(starts, t_end), np.append(live[:, 0], live[-1, 0]), where='post',
                color='tab:purple', linewidth=1.3, label='live disturbance force F')
    ax.axhline(0.0, color='black', linewidth=0.8)
    if item['max_force'] is not None:
        for sign in (1, -1):
            ax.axhline(sign * item['max_force'], color='tab:red', linestyle='--',
                       linewidth=1.2, label=None if sign < 0 else
                       f"actuator limit ±{item['max_force']:g} N")
    _mark_events(ax, events, ('halt', 'estop', 'scenario_done', 'failsafe_on', 'failsafe_off',
                              'disturbance', 'fault_start', 'fault_end', 'overload_trip'))
    ax.set_ylabel('force on the cart [N]')
    ax.set_title(_title(item, 'applied force and disturbances'))
    _time_axes(ax, item)
    if tau_ax is None:
        _legend_below(figure, ax)
    else:
        ax.set_xlabel('')
        starts = np.maximum(live_t - dt, float(t[0]))
        for i, (name, color) in enumerate((('τ1', 'tab:green'), ('τ2', 'tab:brown')), 1):
            tau_ax.step(np.append(starts, t_end), np.append(live[:, i], live[-1, i]),
                        where='post', color=color, label=f'live disturbance torque {name}')
        tau_ax.axhline(0.0, color='black', linewidth=0.8)
        tau_ax.set_ylabel('torque [N·m]')
        _time_axes(tau_ax, item)
        _legend_below(figure, ax, tau_ax)
    figure.savefig(out, dpi=DPI)


def plot_phase(item, out):
    """Write the phase portraits θ1 vs θ̇1 and θ2 vs θ̇2 (degrees), start and end marked."""
    figure = _figure()
    x = item['episode']['x']
    axes = figure.subplots(1, 2)
    for ax, (i, name, color) in zip(axes, ((1, '1', 'tab:blue'), (2, '2', 'tab:orange'))):
        angle, rate = np.degrees(x[:, i]), np.degrees(x[:, i + 3])
        ax.plot(angle, rate, color=color, linewidth=1.0, alpha=0.9, label=f'link {name}')
        ax.plot(angle[0], rate[0], 'o', color='tab:green', markersize=9,
                label=f'start (t={item["episode"]["t"][0]:g} s)')
        end = item['end_event']
        end_label = f"end (t={item['episode']['t'][-1]:.2f} s" + \
            (f", {EVENT_STYLES[end['kind']][3]})" if end is not None else ')')
        ax.plot(angle[-1], rate[-1], 'X', color='tab:red', markersize=10, label=end_label)
        ax.axhline(0.0, color='black', linewidth=0.8)
        ax.axvline(0.0, color='black', linewidth=0.8)
        ax.set_xlabel(f'θ{name} [deg]')
        ax.set_ylabel(f'θ̇{name} [deg/s]')
        ax.set_title(f'link {name}: θ{name} vs θ̇{name}')
        ax.grid(True, alpha=0.3)
        ax.legend(loc='best', fontsize=9)
    figure.suptitle(_title(item, 'phase portraits'))
    figure.savefig(out, dpi=DPI)


def plot_campaign(items, out):
    """Write one bar per episode: max |θ| and RMS force, colored by pass/fail."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    figure = _figure()
    axes = figure.subplots(2, 1, sharex=True)
    positions = np.arange(len(items))
    colors = [{True: PASS_COLOR, False: FAIL_COLOR, None: NEUTRAL_COLOR}[passed(i)]
              for i in items]
    rows = (('max |θ| = max(|θ1|, |θ2|) [deg]', 'max_abs_theta', math.degrees,
             lambda m: max(m['max_abs_th1'], m['max_abs_th2'])),
            ('RMS force [N]', 'rms_force', float, lambda m: m['rms_force']))
    for ax, (label, criterion, scale, value) in zip(axes, rows):
        heights = [scale(value(i['metrics'])) for i in items]
        bars = ax.bar(positions, heights, width=0.6, color=colors, edgecolor='black',
                      linewidth=0.6)
        ax.bar_label(bars, fmt='%.3g', fontsize=8, padding=2)
        for k, item in enumerate(items):
            limit = item['criteria'].get(criterion)
            if isinstance(limit, (int, float)) and not isinstance(limit, bool):
                ax.hlines(scale(limit), k - 0.4, k + 0.4, color='black', linestyles='--',
                          linewidth=1.5)
        ax.set_ylabel(label)
        ax.grid(True, axis='y', alpha=0.3)
    axes[-1].set_xticks(positions)
    axes[-1].set_xticklabels([f"{i['number']}\n{i['scenario']}" for i in items],
                             rotation=0 if len(items) <= 8 else 60, fontsize=9)
    axes[-1].set_xlabel('episode (number, scenario)')
    handles = [Patch(color=PASS_COLOR, label='passed'), Patch(color=FAIL_COLOR, label='failed'),
               Patch(color=NEUTRAL_COLOR, label='no criteria'),
               Line2D([], [], color='black', linestyle='--', label='criterion limit')]
    axes[0].legend(handles=handles, loc='upper left', fontsize=9)
    count = sum(passed(i) is True for i in items)
    failed = sum(passed(i) is False for i in items)
    state = 'measured state' if items[0]['measured'] else 'ground truth'
    axes[0].set_title(f'Campaign: {len(items)} episodes, {count} passed, {failed} failed '
                      f'(metrics on the {state})')
    figure.savefig(out, dpi=DPI)


# -- the Markdown summary --------------------------------------------------------

def _fmt(value, digits=6):
    """Return a number as the summary prints it (``digits`` significant digits)."""
    if value is None:
        return '—'
    if isinstance(value, bool):
        return 'yes' if value else 'no'
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f'{value:.{digits}g}'
    return str(value)


def _cell(value):
    return str(value).replace('|', '\\|').replace('\n', ' ')


def _row(cells):
    return '| ' + ' | '.join(_cell(c) for c in cells) + ' |'


def _table(header, rows):
    lines = [_row(header), '|' + '|'.join('---' for _ in header) + '|']
    return lines + [_row(r) for r in rows]


def _count(n, noun):
    return f'{n} {noun}' + ('' if n == 1 else 's')


def _result(item):
    if item['criteria_error'] is not None:
        return 'not checked (invalid criteria)'
    verdict = passed(item)
    return {True: 'PASSED', False: 'FAILED', None: 'no criteria'}[verdict]


def _metric_value(item, key):
    if key in SATURATION_KEYS and item['max_force'] is None:
        return 'n/a'
    return _fmt(item['metrics'][key])


def _metric_note(item, key, meaning):
    value = item['metrics'][key]
    if key in ANGLE_KEYS:
        meaning += f' ({math.degrees(value):.2f}°)'
    elif key in SATURATION_KEYS:
        meaning += (f" (limit ±{item['max_force']:g} N)" if item['max_force'] is not None else
                    ': the actuator limit is not in the recording (the scenario sets no '
                    'actuator.max_force)')
    elif key == 'fell':
        meaning = meaning.format(fall=f"{item['fall_angle']:g}")
    return meaning


def _campaign_section(items):
    table = campaign_table([(i['number'], i['scenario'], i['metrics'],
                             i['criteria'] if i['criteria_error'] is None else None)
                            for i in items])
    results = [_result(i) for i in items]
    counts = ', '.join(f'{results.count(r)} {r.lower()}' for r in
                       ('PASSED', 'FAILED', 'no criteria', 'not checked (invalid criteria)')
                       if r in results)
    lines = ['## Campaign', '', f'{len(items)} episodes: {counts}.', '']
    header = ['Episode', 'Scenario', 'Seed', 'Result', 'Failed criteria', 'Why it ended'] + \
        [h for _, h in CAMPAIGN_COLUMNS]
    rows = []
    for item, row in zip(items, table):
        rows.append([row['episode'], row['scenario'], _fmt(item['seed']), _result(item),
                     row['failed'] or '—', row['ended']] +
                    [_fmt(row[c]) for c, _ in CAMPAIGN_COLUMNS])
    lines += _table(header, rows)
    lines += ['', '![Campaign: max |θ| and RMS force per episode](campaign.png)', '']
    return lines


def _describe_settings(scenario):
    lines = []
    names = {'duration': 'Duration', 'initial_state': 'Initial state',
             'disturbances': 'Scheduled disturbances', 'uncertainty': 'Parameter uncertainty',
             'sensor': 'Sensor', 'actuator': 'Actuator', 'network': 'Network',
             'safety': 'Safety limits'}
    for key, label in names.items():
        if key not in scenario:
            continue
        value = scenario[key]
        if key == 'duration':
            text = f'{value:g} s'
        elif key == 'initial_state':
            text = '[x, θ1, θ2, ẋ, θ̇1, θ̇2] = [' + ', '.join(f'{v:g}' for v in value) + ']'
        elif key == 'disturbances':
            text = '; '.join(', '.join(f'{k} {v}' for k, v in d.items()) for d in value)
        else:
            text = ', '.join(f'{k} {v}' for k, v in value.items()) \
                if isinstance(value, dict) else str(value)
        lines.append(f'  - {label}: {text}')
    return lines


def _episode_section(item):
    metrics, scenario = item['metrics'], item['scenario_section']
    episode = item['episode']
    state = 'measured state (`/state`)' if item['measured'] else 'ground truth (`/ground_truth`)'
    lines = [f"## Episode {item['number']}: scenario '{item['scenario']}'", '',
             f"- File: `{item['path'].name}`",
             f'- Result: **{_result(item)}**']
    if item['verdict'] is not None and item['verdict']['checks']:
        failed = [c['criterion'] for c in item['verdict']['checks'] if not c['passed']]
        checks = item['verdict']['checks']
        lines[-1] += f' ({len(checks) - len(failed)} of {len(checks)} criteria met' + \
            (f"; failed: {', '.join(failed)})" if failed else ')')
    lines += [f"- Scenario: {item['scenario']}",
              f"- Seed: {_fmt(item['seed']) if item['seed'] is not None else 'none (not seeded)'}",
              f"- Why it ended: {item['ended']}",
              f"- Record: {_count(len(episode['t']), 'sample')} over {metrics['duration']:g} s "
              f"(dt = {episode['dt']:g} s); metrics on the {state}"]
    if not episode['complete']:
        lines.append('- **Warning**: the file was not closed (its writer stopped): the '
                     'record is what it holds')
    settings = _describe_settings(scenario)
    if settings:
        lines += ['- Scenario settings:'] + settings
    parameters = item['meta'].get('parameters')
    if isinstance(parameters, dict) and parameters:
        drawn = 'uncertainty' in scenario
        origin = 'drawn for this episode (uncertainty: ' + ', '.join(
            f'{k} {v}' for k, v in scenario['uncertainty'].items()) + ')' if drawn else \
            'as configured (no parameter uncertainty)'
        lines.append(f'- Parameters, {origin}: ' + ', '.join(
            f'{k} = {_fmt(v)}' for k, v in parameters.items()))
    lines += ['', '### Metrics', '']
    lines += _table(['Metric', 'Value', 'Unit', 'Meaning'],
                    [[label, _metric_value(item, key), unit, _metric_note(item, key, meaning)]
                     for key, label, unit, meaning in METRICS])
    lines += ['', '### Criteria', '']
    if item['criteria_error'] is not None:
        lines.append(f"The criteria could not be checked: {item['criteria_error']}")
    elif not item['verdict']['checks']:
        lines.append('The scenario sets no criteria.')
    else:
        rows = [[c['criterion'], CRITERIA[c['criterion']], _fmt(c['limit']),
                 _fmt(c['value']) if c['value'] is not None else '— (never settled)',
                 'pass' if c['passed'] else 'FAIL'] for c in item['verdict']['checks']]
        lines += _table(['Criterion', 'Check', 'Limit', 'Value', 'Result'], rows)
    events = [e for e in episode['events'] if e.get('kind') != 'episode']
    lines += ['', '### Events', '']
    if events:
        rows = [[f"{float(e.get('t', float('nan'))):.3f}", e.get('kind', '?'),
                 e.get('detail', '')] for e in events[:MAX_EVENT_ROWS]]
        lines += _table(['t [s]', 'Kind', 'Detail'], rows)
        if len(events) > MAX_EVENT_ROWS:
            lines.append(f'\n… and {len(events) - MAX_EVENT_ROWS} more events.')
    else:
        lines.append('None.')
    lines += ['', '### Figures', '']
    for name, caption in zip(FIGURES, ('Cart position', 'Link angles',
                                       'Applied force and disturbances', 'Phase portraits')):
        file = quote(f"{item['name']}_{name}.png")
        lines += [f'[{caption}]({file}):', '', f'![{caption}]({file})', '']
    return lines


def summary(items, source):
    """Return the Markdown summary of the analysed episodes of ``source``."""
    lines = [f'# Episode report: {Path(source).name}', '',
             f"{_count(len(items), 'episode')} from `{source}`; made by `dip_report`.  "
             'Angles are measured from upright (0 = upright), in radians unless marked; forces in '
             'newtons, positions in metres, times in seconds from the start of the episode.',
             '']
    if len(items) > 1:
        lines += _campaign_section(items)
    for item in items:
        lines += _episode_section(item)
    return '\n'.join(lines).rstrip('\n') + '\n'


# -- the command -------------------------------------------------------------------

def write_report(source, out, measured=False):
    """Analyse the episodes of ``source`` and write figures and ``summary.md`` into ``out``."""
    files = episode_files(source)
    items = [analyse(path, measured) for path in files]
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        plots = dict(zip(FIGURES, (plot_cart, plot_angles, plot_force, plot_phase)))
        for item in items:
            for name, plot in plots.items():
                plot(item, out / f"{item['name']}_{name}.png")
        if len(items) > 1:
            plot_campaign(items, out / 'campaign.png')
        (out / 'summary.md').write_text(summary(items, source), encoding='utf-8')
    except OSError as exc:
        raise ReportError(f'cannot write {exc.filename or out}: {exc.strerror}') from None
    return items


def build_parser():
    parser = flags.ArgumentParser(
        prog='dip_report', description='Figures (PNG) and a Markdown summary (metrics, '
        'criteria, why it ended) of episode recordings (MCAP) of plant_server_ros.')
    parser.add_argument('input', help='an episode recording (.mcap) or a directory of them')
    parser.add_argument('--out', metavar='DIR',
                        help='the output directory (default: <input>_report beside the input)')
    parser.add_argument('--measured', action='store_true',
                        help='use the measured state (/state) instead of the ground truth')
    return parser


def main(argv=None):
    """Run ``dip_report``; return the exit status."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:                 # --help, or a usage error (status 2)
        return exc.code if isinstance(exc.code, int) else EXIT_ERROR
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print('dip_report: drawing the figures needs matplotlib (pip install matplotlib)',
              file=sys.stderr)
        return EXIT_ERROR
    out = Path(args.out) if args.out else default_output(args.input)
    try:
        items = write_report(args.input, out, measured=args.measured)
    except ReportError as exc:
        print(f'dip_report: {exc}', file=sys.stderr)
        return EXIT_ERROR
    for item in items:
        if item['episode'].get('damage'):
            print(f"dip_report: warning: {item['path']} is {item['episode']['damage']}; "
                  'reported the rest', file=sys.stderr)
        elif not item['episode']['complete']:
            print(f"dip_report: warning: {item['path']} was not closed; reported what it holds",
                  file=sys.stderr)
    print(f"dip_report: {_count(len(items), 'episode')} reported in {out}")
    return EXIT_OK


if __name__ == '__main__':
    sys.exit(main())
