"""
One episode judged: its result, the verdict on it, and what the runner's doors share.

:mod:`.runner` (a Python controller, the TCP and UDP doors) and
:mod:`.ros_door` (the ROS door) both play episodes and fill an
:class:`EpisodeResult` per episode with :func:`evaluate`.
"""

from dataclasses import asdict, dataclass, field
import time

from . import verdict
from ..analysis.metrics import episode_metrics

DEFAULT_FALL_ANGLE = 0.6
POLL = 0.05               # s between looks at the controller process while waiting


class SetupError(Exception):
    """The run cannot start: a bad file, a port in use, a command not found (one line why)."""


@dataclass
class EpisodeResult:
    """The verdict on one episode, with what it is based on."""

    index: int                     # 1.. in play order
    scenario: str
    seed: int
    play: int                      # which play of the campaign (1.. repeat)
    key: str                       # its name in a baseline
    name: str                      # its test case name
    passed: bool = False
    failures: list = field(default_factory=list)   # every reason, in words
    reason: str = None             # why the runner or the plant failed it, if so
    checks: list = field(default_factory=list)
    metrics: dict = field(default_factory=dict)
    trace: dict = field(default_factory=dict)      # kept when a baseline is saved
    ended: str = ''
    files: list = field(default_factory=list)
    stderr: list = field(default_factory=list)
    controller_exit: str = None
    wall_time: float = 0.0
    plant_episode: int = None
    metrics_time: float = 0.0      # s spent computing metrics and the verdict
    set_name: str = None           # the set (campaign entry with episodes: N) it belongs to

    def to_dict(self):
        """Return a JSON-ready dict (no trace)."""
        out = asdict(self)
        out.pop('trace')
        out['files'] = [str(f) for f in self.files]
        return out


def evaluate(result, data, scenario, max_force, timing=None, reason=None, baseline=None):
    """Fill ``result`` from the episode's record ``data`` (EpisodeData or None)."""
    began = time.perf_counter()
    failures = [reason] if reason else []
    metrics = {}
    t = x = u = None
    if data is not None:
        t, x, u = data.record()        # one consistent snapshot (the plant may still step)
    ran = t is not None and t.size > 0
    if ran:
        safety = scenario.safety or {}
        fall = safety.get('fall_angle', DEFAULT_FALL_ANGLE)
        force_limit = (scenario.actuator or {}).get('max_force', max_force)
        ended = data.ended or result.ended or 'stopped'
        metrics = episode_metrics(t, x, u, max_force=force_limit, ended=ended, fall_angle=fall)
        result.trace = verdict.decimate(t, x)
        result.ended = ended
        result.plant_episode = data.number
        if data.ended_kind in ('halt', 'estop') and not reason:
            failures.append(f'plant {"halted" if data.ended_kind == "halt" else "e-stopped"}: '
                            f'{data.ended.split(": ", 1)[1]}')
        elif metrics['fell'] and not reason:
            # No safety limit halted it (the scenario sets no fall_angle): still a fall.
            worst = max(metrics['max_abs_th1'], metrics['max_abs_th2'])
            failures.append(f'pendulum fell: max |theta| {worst:.4g} rad > {fall:g} rad')
    else:
        metrics = {'duration': 0.0, 'steps': 0, 'balanced': False, 'fell': False,
                   'halted': False, 'ended': result.ended or 'not started'}
    metrics.update(timing or {})
    if not ran:
        # Nothing ran: the reason is the verdict, there is nothing to check criteria on.
        passed, checks, messages = False, [], failures
    else:
        passed, checks, messages = verdict.judge(metrics, scenario.criteria, failures)
    if baseline is not None:
        old = baseline.get(result.key)
        if old is None:
            messages.append(f'regression: {result.key} is not in the baseline')
        else:
            messages += verdict.regressions(old, metrics, result.trace, scenario.regression)
    result.metrics, result.checks, result.failures = metrics, checks, messages
    result.reason = reason
    result.passed = passed and not messages
    result.metrics_time = time.perf_counter() - began
    if data is not None:
        data.release()
    return result


def last_t(data):
    """Return the time of the last sample of ``data`` (an EpisodeData or None), or 0."""
    return data.t[-1] if data is not None and data.t else 0.0
