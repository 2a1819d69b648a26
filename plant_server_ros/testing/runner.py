"""
``run_campaign``: play a scenario or campaign against a controller, judge every episode.

The controller is a command (started with the plant's address, see
:mod:`.controller_process`) served over a door (``tcp``, ``udp``, ``serial``: a
:class:`~..server.plant_server.PlantServer` in this process, no DDS;
``ros``: :mod:`.ros_door`), or a Python callable ``controller(measured,
t) -> force`` stepped through the plant host directly (no sockets: fast
enough for a unit test).  The plant plays the campaign ``repeat`` times
(:class:`~..conditions.scenario.ScenarioPlayer`), then answers FINISHED.

Each episode is started by the controller (a RESET, a UDP ``seq`` of 1;
``ros``: by the runner) and ends when its scenario's duration is over, the
plant halts, or the runner fails it: no start within ``timeout`` s, no
control for ``timeout`` s, still running ``duration + timeout`` s after its
start, an early exit or a crash, a non-finite command.  Its metrics
(:func:`~..analysis.metrics.episode_metrics` on the ground truth, plus the
response times of :mod:`.timing`) are judged by the scenario's criteria
and, given a baseline, by the regression gate (:mod:`.verdict`).

Everything is checked before the run starts (:class:`SetupError`, one line):
every scenario has a duration of at most :data:`MAX_EPISODE_SAMPLES`
periods, the run plays at most ``MAX_EPISODES`` episodes (the campaign's
times ``repeat``), every output file can be written, the baseline reads.
A run ends with everything it started (:mod:`.controller_process`) however
it ends; a signal (:class:`RunGuard`) ends it as Ctrl-C does: what was
judged is written, and further signals wait for that.
"""

from collections import namedtuple
from dataclasses import dataclass, field, replace
import math
import os
from pathlib import Path
import threading
import time

from . import verdict
from .controller_process import (check_command, CommandError, ControllerProcess, end_run,
                                 episode_stderr, expand, new_run_tag, RunGuard,
                                 stderr_mark)
from .episodes import EpisodeCollector
# SetupError and EpisodeResult are imported from here too (cli, pytest_plugin, users).
from .judge import (DEFAULT_FALL_ANGLE, EpisodeResult, evaluate, last_t,  # noqa: F401
                    POLL, SetupError)
from .timing import ResponseTimer, TimedBackend
from ..conditions.scenario import (load_campaign, MAX_EPISODES, Scenario, ScenarioError,
                                   ScenarioPlayer, set_seeds)
from ..physics.state import InvalidStateError
from ..runtime.schedule import PlantFinished, PlantHalted
from ..runtime.settings import SETTINGS

DOORS = ('tcp', 'udp', 'serial', 'ros')
DEFAULT_TIMEOUT = 10.0      # s; a Python controller importing scipy on a busy machine needs a few
MAX_EPISODE_SAMPLES = 1_000_000     # periods of one episode (10 000 s at dt = 0.01 s)


@dataclass
class CampaignResult:
    """Every episode's result; ``passed`` when every criterion of every episode held."""

    source: str
    door: str
    mode: str
    episodes: list = field(default_factory=list)
    interrupted: bool = False
    out: str = None
    files: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)
    errors: list = field(default_factory=list)     # outputs that could not be written
    sets: list = field(default_factory=list)       # set_verdict.SetResult of each set

    @property
    def passed(self):
        """
        Return True when at least one episode ran, uninterrupted, and every verdict held.

        An episode of a set is judged with its set (its pass rate), the others one by one.
        """
        judged = {i for s in self.sets for i in s.indices}
        return bool(self.episodes) and not self.interrupted and \
            all(e.passed for e in self.episodes if e.index not in judged) and \
            all(s.passed for s in self.sets)

    @property
    def failed(self):
        """Return the episodes that failed."""
        return [e for e in self.episodes if not e.passed]

    def __bool__(self):
        return self.passed

    def __repr__(self):
        # What pytest prints for ``assert result.passed``: the reasons, not the fields.
        verdict = 'PASS' if self.passed else 'FAIL'
        # One line: pytest shows a repr with its newlines escaped.
        return (f'<CampaignResult {verdict} '
                f'{len(self.episodes) - len(self.failed)}/{len(self.episodes)} passed | '
                + self.explain().replace('\n', ' | ') + '>')

    def to_dict(self):
        """Return a JSON-ready dict of the run."""
        return {'source': self.source, 'door': self.door, 'mode': self.mode,
                'passed': self.passed, 'interrupted': self.interrupted,
                'episodes': [e.to_dict() for e in self.episodes],
                'files': {k: str(v) for k, v in self.files.items()}, 'timings': self.timings,
                'errors': list(self.errors), 'sets': [s.to_dict() for s in self.sets]}

    def explain(self):
        """Return the failures, one line each (what pytest shows)."""
        lines = []
        if self.interrupted:
            lines.append('the run was interrupted')
        judged = {i for s in self.sets for i in s.indices}
        for s in self.sets:
            if not s.passed:
                lines.append(f'set:{s.name}: ' + '; '.join(s.failures))
        for e in self.failed:
            if e.index not in judged:
                lines.append(f'{e.name}: ' + '; '.join(e.failures))
        return '\n'.join(lines) if lines else 'every criterion of every episode held'


# -- the plan ---------------------------------------------------------------

def load_plan(source, dt=SETTINGS['dt'].default, repeat=1, sets=False):
    """
    Return the scenarios of ``source`` in play order, each one playable (SetupError).

    ``sets``: return ``(scenarios, its EpisodeSets)``.
    """
    if not isinstance(repeat, int) or isinstance(repeat, bool) or repeat < 1:
        raise SetupError(f'repeat must be an integer >= 1, got {repeat!r}')
    try:
        scenarios, episode_sets = load_campaign(source, dt)
    except ScenarioError as exc:
        raise SetupError(str(exc)) from None
    for scenario in scenarios:
        try:
            verdict.validate(scenario)
        except verdict.CriteriaError as exc:
            raise SetupError(str(exc)) from None
        _check_duration(scenario, dt)
    if len(scenarios) * repeat > MAX_EPISODES:
        raise SetupError(f'a run plays at most {MAX_EPISODES} episodes: {len(scenarios)} '
                         f'episode(s) of {source} played {repeat} times are '
                         f'{len(scenarios) * repeat}')
    return (scenarios, episode_sets) if sets else scenarios


def _check_duration(scenario, dt):
    """Refuse a scenario that would never end (no duration) or hold too many samples."""
    where = f'scenario {scenario.source or scenario.name}'
    if scenario.duration is None:
        if scenario == replace(Scenario(), name=scenario.name, source=scenario.source):
            raise SetupError(f'{where} is empty: dip_test needs a scenario with at least a '
                             'duration')
        raise SetupError(f'{where} has no duration: dip_test needs one to end each episode '
                         '(e.g. duration: 10.0)')
    periods = scenario.duration / dt
    if periods > MAX_EPISODE_SAMPLES:
        raise SetupError(f'{where}: duration {scenario.duration:g} s is {periods:.0f} periods '
                         f'of {dt:g} s; dip_test plays at most {MAX_EPISODE_SAMPLES} per '
                         'episode')


def check_outputs(junit=None, json_file=None, save_baseline=None, out=None):
    """Refuse, before the run, an output file that cannot be written (SetupError, one line)."""
    named = {}
    for flag, path in (('--junit', junit), ('--json', json_file),
                       ('--save-baseline', save_baseline)):
        if path is None:
            continue
        where = os.path.abspath(path)
        if where in named:
            raise SetupError(f'{flag} and {named[where]} name the same file: {path}')
        named[where] = flag
        _writable(flag, Path(path))
    if out is not None:
        _writable('--out', Path(out) / 'summary.md')


def _writable(flag, path):
    if path.is_dir():
        raise SetupError(f'{flag} {path}: is a directory, not a file')
    parent = path.parent
    if not parent.is_dir():
        what = 'is not a directory' if parent.exists() else 'does not exist'
        raise SetupError(f'{flag} {path}: the directory {parent} {what}')
    existed = path.exists()
    try:
        # Opened for writing as the run will (not truncated); a new file removed again.
        fd = os.open(path, os.O_WRONLY | (0 if existed else os.O_CREAT | os.O_EXCL), 0o644)
        os.close(fd)
        if not existed:
            os.unlink(path)
    except OSError as exc:
        raise SetupError(f'{flag} {path}: cannot write: {exc.strerror}') from None


Slot = namedtuple('Slot', 'index scenario play key name set_name')


def _slots(scenarios, repeat, sets=()):
    """Return a :class:`Slot` for each episode, in play order (its index from 1)."""
    seen = {}
    slots = []
    member = {}
    for episode_set in sets:
        for k in range(episode_set.first, episode_set.first + episode_set.count):
            member[k] = episode_set.name
    for play in range(1, repeat + 1):
        for at, scenario in enumerate(scenarios):
            seed = scenario.seed
            label = f'{scenario.name}[seed={seed}]' if seed is not None else scenario.name
            seen[label] = seen.get(label, 0) + 1
            key = f'{label}#{seen[label]}'
            index = len(slots) + 1
            name = f'{index:02d}_{label}' + (f'_play{play}' if repeat > 1 else '')
            slots.append(Slot(index, scenario, play, key, name, member.get(at)))
    return slots


def seeded(scenarios, seed):
    """
    Return ``scenarios`` each with a seed: an unseeded one gets its own from the run's.

    Spread over workers, an episode cannot continue the plant's random
    streams from the episode before it (another worker played that one):
    scenario ``k`` without a seed gets ``set_seeds(seed, MAX_EPISODES, k + 1)[k]``
    (an entry index no campaign has), so every episode is its seed's alone.
    """
    missing = [k for k, s in enumerate(scenarios) if s.seed is None]
    if not missing:
        return scenarios
    seeds = set_seeds(seed, MAX_EPISODES, missing[-1] + 1)
    return [s if s.seed is not None else replace(s, seed=seeds[k])
            for k, s in enumerate(scenarios)]


# -- the entry point ---------------------------------------------------------------

def run_campaign(source, command=None, controller=None, *, door='tcp', mode='lockstep',
                 out=None, repeat=1, per_episode=False, timeout=DEFAULT_TIMEOUT,
                 baseline=None, save_baseline=None, junit=None, json_file=None,
                 figures=False, seed=1, settings=None, grace=2.0, port=0,
                 udp_port=SETTINGS['udp_port'].default,
                 on_episode=None, cwd=None, only=None, workers=None, ray=None, batch=None,
                 replay=None):
    """
    Play ``source`` (a scenario or campaign file) against a controller; a CampaignResult.

    Exactly one of ``command`` (a list of arguments, placeholders allowed),
    ``controller`` (a callable ``(measured state, t) -> force``) and
    ``batch`` (a vectorised callable ``(N, 6) -> (N,)``, or its
    ``'module:function'``: :mod:`.batch_door`) is given.  ``out``: a
    directory for the recordings, ``summary.md`` and figures
    (``figures=True``); None records nothing.  ``junit``, ``json_file``,
    ``save_baseline``: files to write; ``baseline``: a file to compare
    against.  ``on_episode(result)`` hears each verdict as it comes.
    ``only``: play only the episodes of that seed (a replay).  ``workers``:
    that many worker processes (:mod:`.workers`); ``ray``: Ray tasks (an
    address, or ``'local'``: :mod:`.ray_tasks`).  ``replay``: ``(dip_test's
    words, the command)`` for the replay commands of a set's worst
    episodes.  Raises SetupError when the run cannot start.  In the main
    thread a signal ends the run as Ctrl-C does (:class:`RunGuard`).
    """
    with RunGuard() as guard:
        return _run_campaign(guard, source, command, controller, door=door, mode=mode,
                             out=out, repeat=repeat, per_episode=per_episode,
                             timeout=timeout, baseline=baseline, save_baseline=save_baseline,
                             junit=junit, json_file=json_file, figures=figures, seed=seed,
                             settings=settings, grace=grace, port=port, udp_port=udp_port,
                             on_episode=on_episode, cwd=cwd, only=only, workers=workers,
                             ray=ray, batch=batch, replay=replay)


@dataclass
class Job:
    """What plays episodes, picklable: a worker process or a Ray task builds a play of it."""

    command: list
    door: str
    mode: str
    values: dict                 # the plant's settings (mode, seed; record: a directory)
    timeout: float
    per_episode: bool
    grace: float
    cwd: str = None
    baseline: dict = None        # the loaded baseline's entries
    keep_trace: bool = False     # a baseline is being saved
    tag: str = None              # the run's tag: what escapes a worker is ended with the run
    source: object = None        # the ROS door's plant node reads its file


def open_play(job, slots, values=None, port=0, udp_port=SETTINGS['udp_port'].default,
              tag=None):
    """Return the play of ``slots`` on a plant and a controller of their own (SetupError)."""
    values = dict(job.values if values is None else values)
    scenarios = [slot.scenario for slot in slots]
    if job.door == 'ros':
        from .ros_door import RosCampaign
        return RosCampaign(scenarios, slots, values, job.command, 1, job.timeout,
                           job.per_episode, job.grace, job.cwd, source=job.source,
                           tag=tag or job.tag)
    return _SocketCampaign(scenarios, slots, values, job.command, 1, job.timeout,
                           job.per_episode, job.grace, job.door, port, udp_port, job.cwd,
                           tag=tag or job.tag)


def play_chunk(job, slots, on_episode=None, record=None, tag_prefix=None):
    """
    Play ``slots`` on a plant and controller of their own; return their EpisodeResults.

    What a worker process (:mod:`.workers`) or a Ray task (:mod:`.ray_tasks`)
    runs: a fresh play per chunk, closed with everything it started however
    it ends.  ``record``: the directory of its recordings (None: none);
    ``tag_prefix``: the run's tag, so that the run's end finds what escaped.
    """
    values = dict(job.values)
    values.pop('record', None)
    if record is not None:
        Path(record).mkdir(parents=True, exist_ok=True)
        values['record'] = str(record)
    tag = new_run_tag() if tag_prefix is None else f'{tag_prefix}/{new_run_tag()}'
    part = CampaignResult('', job.door, job.mode)

    def heard(result):
        if not job.keep_trace:
            result.trace = {}
        if on_episode is not None:
            on_episode(result)
    play = open_play(job, slots, values, tag=tag)
    try:
        play.run(part, job.baseline, heard)
    finally:
        try:
            play.close()
        finally:
            end_run(tag, job.grace)
    _attach_files(part, play.recorded_files())
    return part.episodes


def _run_campaign(guard, source, command, controller, *, door, mode, out, repeat,
                  per_episode, timeout, baseline, save_baseline, junit, json_file, figures,
                  seed, settings, grace, port, udp_port, on_episode, cwd, only, workers, ray,
                  batch, replay):
    from . import outputs
    if sum(x is not None for x in (command, controller, batch)) != 1:
        raise SetupError('give one of a controller command, a Python controller or a batch '
                         'controller')
    if door not in DOORS:
        raise SetupError(f'door must be tcp, udp, serial or ros, got {door!r}')
    if mode not in ('lockstep', 'realtime'):
        raise SetupError(f'mode must be lockstep or realtime, got {mode!r}')
    if not (isinstance(timeout, (int, float)) and timeout > 0 and math.isfinite(timeout)):
        raise SetupError(f'timeout must be a number > 0 s, got {timeout!r}')
    spread = workers is not None or ray is not None
    if workers is not None and ray is not None:
        raise SetupError('give --workers or --ray, not both')
    if spread and command is None:
        raise SetupError('--workers and --ray run a controller command (give it after --)')
    if batch is not None and mode != 'lockstep':
        raise SetupError('--batch steps in lock-step only (the batch has no wall clock)')
    values = dict(settings or {})
    if door == 'serial':
        # A pseudo-terminal pair made by the plant's serial door: the command gets its
        # path ({device}, DIP_DEVICE); a settings' serial_device (a real board) wins.
        values.setdefault('serial_device', 'pty')
    dt = values.get('dt', 0.01)
    scenarios, sets = load_plan(source, dt, repeat, sets=True)
    if spread or batch is not None:
        scenarios = seeded(scenarios, seed)
    if only is not None:
        scenarios = [s for s in scenarios if s.seed == only]
        if not scenarios:
            raise SetupError(f'no episode of {source} has seed {only} (--only)')
        sets = []
    check_outputs(junit=junit, json_file=json_file, save_baseline=save_baseline)
    old = None
    if baseline is not None:
        try:
            old = verdict.load_baseline(baseline)
        except ValueError as exc:
            raise SetupError(str(exc)) from None
    out = Path(out) if out is not None else None
    record = None
    if out is not None:
        record = out / 'episodes'
        try:
            record.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SetupError(f'cannot write {record}: {exc.strerror}') from None
        check_outputs(out=out)
    kind = 'python' if controller else ('batch' if batch is not None else door)
    campaign = CampaignResult(str(source), kind, mode, out=None if out is None else str(out))
    slots = _slots(scenarios, repeat, sets)
    values.update(mode=mode, seed=seed)
    if record is not None:
        values['record'] = str(record)
    if save_baseline is not None and len(slots) > verdict.MAX_BASELINE_EPISODES:
        raise SetupError(f'--save-baseline: a baseline holds at most '
                         f'{verdict.MAX_BASELINE_EPISODES} episodes, this run plays '
                         f'{len(slots)}')

    def heard(result):
        if save_baseline is None:
            result.trace = {}           # judged: only a baseline to save needs it
        if on_episode is not None:
            on_episode(result)
    started = time.perf_counter()
    tag = new_run_tag()
    job = Job(command, door, mode, values, timeout, per_episode, grace, cwd, old,
              save_baseline is not None, tag, source)
    files = []
    if spread or batch is not None:
        try:
            if batch is not None:
                from .batch_door import run_batch
                run_batch(campaign, slots, batch, values, old, heard)
            elif workers is not None:
                from .workers import run_workers
                run_workers(campaign, play_chunk, job, slots, workers, heard, record)
            else:
                from .ray_tasks import run_ray
                run_ray(campaign, play_chunk, job, slots, ray, heard, record)
            guard.wrap_up()
        except KeyboardInterrupt:
            guard.wrap_up()
            campaign.interrupted = True
        finally:
            guard.wrap_up()
            end_run(tag, grace)
        campaign.episodes.sort(key=lambda e: e.index)
    else:
        try:
            if controller is not None:
                play = _InProcess(scenarios, slots, values, controller, repeat)
            elif door == 'ros':
                from .ros_door import RosCampaign
                play = RosCampaign(scenarios, slots, values, command, repeat, timeout,
                                   per_episode, grace, cwd, source=source, tag=tag)
            else:
                play = _SocketCampaign(scenarios, slots, values, command, repeat, timeout,
                                       per_episode, grace, door, port, udp_port, cwd, tag=tag)
        except KeyboardInterrupt:
            guard.wrap_up()                      # nothing ran yet: the interrupt goes on up
            raise
        try:
            play.run(campaign, old, heard)
            guard.wrap_up()
        except KeyboardInterrupt:
            guard.wrap_up()
            campaign.interrupted = True
        finally:
            guard.wrap_up()
            closing = time.perf_counter()
            try:
                play.close()                     # ends the command; flushes the recordings
            finally:
                end_run(tag, grace)              # any process of the run that escaped its end
            campaign.timings['close_s'] = time.perf_counter() - closing
        files = play.recorded_files()
    campaign.timings['run_s'] = time.perf_counter() - started
    campaign.timings['metrics_s'] = sum(e.metrics_time for e in campaign.episodes)
    if files:
        _attach_files(campaign, files)
    judging = time.perf_counter()
    _judge_sets(campaign, sets, slots, replay)
    campaign.timings['sets_s'] = time.perf_counter() - judging
    outputs.write_all(campaign, out=out, junit=junit, json_file=json_file,
                      save_baseline=save_baseline, figures=figures)
    return campaign


def _timing(data, timer):
    """Return an episode's timing: kept when the next one started, else the timer's now."""
    kept = None if data is None else data.timing
    return kept if kept is not None else timer.summary()


def _judge_sets(campaign, sets, slots, replay):
    """Judge every set on its episodes that ran (:mod:`.set_verdict`)."""
    if not sets:
        return
    from .set_verdict import judge_set
    by_set = {}
    for e in campaign.episodes:
        if e.set_name is not None:
            by_set.setdefault(e.set_name, []).append(e)
    counted = {}
    for slot in slots:
        if slot.set_name is not None:
            counted[slot.set_name] = counted.get(slot.set_name, 0) + 1
    for episode_set in sets:
        planned = replace(episode_set, count=counted.get(episode_set.name, episode_set.count))
        campaign.sets.append(judge_set(planned, by_set.get(episode_set.name, []), replay))


def _attach_files(campaign, files):
    """
    Give each episode its recordings, named by the run's own numbering.

    The recorder names a file by the plant's episode count (``episode_0002_``:
    the plant's start-up episode is its first); the table, the summary, the
    JUnit cases and the figures number the run's episodes from 1, so the files
    take that number too (``episode_01_calm.mcap`` is row 1, ``01_calm[...]``).
    """
    by_number = {}
    for path in files:
        try:
            by_number.setdefault(int(Path(path).name.split('_')[1]), []).append(str(path))
        except (IndexError, ValueError):
            continue
    for result in campaign.episodes:
        if result.plant_episode is None:
            continue
        result.files = []
        for path in by_number.get(result.plant_episode, []):
            old = Path(path)
            rest = old.name.split('_', 2)[2] if old.name.count('_') >= 2 else old.name
            new = old.with_name(f'episode_{result.index:02d}_{rest}')
            try:
                old.rename(new)
            except OSError:
                new = old                # kept as the recorder named it
            result.files.append(str(new))


# -- a Python controller, no sockets ---------------------------------------------------

class _InProcess:
    """Step the host directly: reset, then ``controller(measured, t)`` per period."""

    def __init__(self, scenarios, slots, values, controller, repeat):
        from ..observers.recording import Recorder
        from ..runtime.host import PlantHost
        self.slots = slots
        self.controller = controller
        self.timer = ResponseTimer(values.get('dt', 0.01))
        player = ScenarioPlayer(scenarios, repeat=repeat)
        try:
            self.host = PlantHost(values, scenario=player, recorder=Recorder)
        except (ValueError, InvalidStateError) as exc:
            raise SetupError(str(exc)) from None
        self.collector = EpisodeCollector(self.host.plant, self.timer)
        self.host.add_observer(self.collector)
        self.host.start()

    def run(self, campaign, baseline, on_episode):
        host, timer = self.host, self.timer
        max_force = host.values['max_force']
        for index, scenario, play, key, name, set_name in self.slots:
            result = EpisodeResult(index, scenario.name, scenario.seed, play, key, name,
                                   set_name=set_name)
            began = time.perf_counter()
            reason = None
            try:
                sample = host.reset().result(1.0)
            except PlantFinished as exc:
                reason = f'plant finished early: {exc}'
                sample = None
            data = self.collector.current
            while sample is not None and host.halted is None:
                try:
                    u = float(self.controller(sample.measured, sample.t))
                except Exception as exc:  # noqa: B902 - the controller's failure is a verdict
                    reason = f'controller raised {type(exc).__name__}: {exc}'
                    host.estop(f'dip_test: {reason}')
                    break
                timer.received()
                if not math.isfinite(u):
                    reason = (f'controller returned a non-finite command ({u}) at '
                              f't={sample.t:.3f} s')
                    host.estop(f'dip_test: {reason}')
                    break
                try:
                    sample = host.control(u).result(1.0)
                except PlantHalted:
                    break
            result.wall_time = time.perf_counter() - began
            evaluate(result, data, scenario, max_force, _timing(data, self.timer), reason,
                     baseline)
            campaign.episodes.append(result)
            if on_episode is not None:
                on_episode(result)

    def recorded_files(self):
        recorder = self.host.recorder
        return [] if recorder is None else list(recorder.files)

    def close(self):
        self.host.stop()


# -- a command over the legacy doors --------------------------------------------------

class _SocketCampaign:
    """A PlantServer in this process (TCP and UDP), the command as its client."""

    def __init__(self, scenarios, slots, values, command, repeat, timeout, per_episode, grace,
                 door, port, udp_port, cwd, tag=None):
        from ..server.config import ConfigError
        from ..server.plant_server import PlantServer
        self.slots, self.command, self.timeout = slots, command, timeout
        self.per_episode, self.grace, self.door, self.cwd = per_episode, grace, door, cwd
        self.tag = tag
        self.player = ScenarioPlayer(scenarios, repeat=repeat)
        self.timer = ResponseTimer(values.get('dt', 0.01))
        self.proc = None
        # The collector's episodes this campaign has used; the first one is the
        # plant's start-up episode, which a controller's first RESET replaces.
        self._next = 1
        self._ready = threading.Event()
        kwargs = {k: v for k, v in values.items() if k not in ('mode', 'seed', 'record')}
        try:
            self.server = PlantServer(bind_addr=('127.0.0.1', port), mode=values['mode'],
                                      seed=values['seed'], record=values.get('record'),
                                      udp_addr=('127.0.0.1', udp_port), scenario=self.player,
                                      server_ready_event=self._ready, **kwargs)
        except OSError as exc:
            raise SetupError(f'cannot listen on {exc.filename}: {exc.strerror}') from None
        except (ConfigError, ValueError, TypeError) as exc:
            raise SetupError(str(exc)) from None
        self.host = self.server.host
        self.address = {'host': '127.0.0.1', 'port': self.server.port,
                        'udp_port': self.server.udp_port, 'namespace': None,
                        'dt': self.host.dt, 'device': self.server.serial_path}
        self.collector = EpisodeCollector(self.host.plant, self.timer)
        self.host.add_observer(self.collector)
        self.server.sessions.backend = TimedBackend(self.server.sessions.backend, self.timer)
        # A controller on its own chip reports its cycles per step (the serial door).
        self.server.sessions.compute_listener = self.timer.computed
        self._thread = threading.Thread(target=self.server.start, daemon=True,
                                        name='dip_test-plant')
        self._thread.start()
        if not self._ready.wait(10.0):
            self.close()
            raise SetupError('the plant server did not come up within 10 s')
        try:
            check_command(expand(command, dict(self.address, duration='')))
        except CommandError as exc:
            self.close()
            raise SetupError(str(exc)) from None

    # -- what the plant was told ---------------------------------------------
    def _non_finite(self):
        return self.server.non_finite_commands()

    def _start(self, scenario):
        # The last process is gone; its UDP session would hold the seat for the
        # idle timeout (a UDP peer never says goodbye): free it for the new one.
        sessions = self.server.sessions
        holder = sessions.holder
        if holder is not None:
            sessions.release(holder)
        address = dict(self.address, duration=scenario.duration or '')
        self.proc = ControllerProcess(self.command, address, cwd=self.cwd, run=self.tag)

    def _end(self, grace=None):
        if self.proc is not None:
            self.proc.end(self.grace if grace is None else grace)

    def run(self, campaign, baseline, on_episode):
        max_force = self.host.values['max_force']
        for index, scenario, play, key, name, set_name in self.slots:
            result = EpisodeResult(index, scenario.name, scenario.seed, play, key, name,
                                   set_name=set_name)
            began = time.perf_counter()
            self._current, interrupted = None, False
            mark = stderr_mark(self.proc)
            try:
                data, reason = self._episode(scenario)
            except KeyboardInterrupt:
                # Ctrl-C: what this episode measured so far is still judged and written.
                data, reason, interrupted = self._current, 'interrupted (Ctrl-C)', True
            result.wall_time = time.perf_counter() - began
            if self.proc is not None:
                result.stderr = episode_stderr(self.proc, mark)
                result.controller_exit = self.proc.describe_exit()
            evaluate(result, data, scenario, max_force, _timing(data, self.timer), reason,
                     baseline)
            campaign.episodes.append(result)
            if on_episode is not None:
                on_episode(result)
            if interrupted:
                raise KeyboardInterrupt
        # The campaign is over: a controller that resets now is answered FINISHED,
        # and should exit by itself; what it said then belongs to the last episode.
        if self.proc is not None and campaign.episodes:
            if self.proc.alive:
                self.proc.wait(self.grace)
            self._end()
            last = campaign.episodes[-1]
            last.stderr = episode_stderr(self.proc, mark)
            last.controller_exit = self.proc.describe_exit()

    def _episode(self, scenario):
        """Run one episode; ``(EpisodeData or None, reason or None)``."""
        collector = self.collector
        seen = self._next            # this episode's place in collector.episodes
        # Counted before the controller can start the episode: a quick one may
        # reset, run and send its NaN within one poll of the wait below.
        nan_before = self._non_finite()
        fresh = self.per_episode or self.proc is None or not self.proc.alive
        if fresh:
            if self.proc is not None:
                # A controller that ran its episode exits by itself: let it, briefly.
                self.proc.wait(min(self.grace, 1.0))
                self._end()
            self._start(scenario)
        proc = self.proc
        # 1. The controller starts the episode (a RESET, a UDP seq of 1).
        deadline = time.monotonic() + self.timeout
        while True:
            # Whether it exited is read first: a quick one may reset, run and
            # exit between the two reads, and has then started its episode.
            exited = not proc.alive
            if len(collector.episodes) > seen:
                break
            if exited and not fresh:
                # The last episode's process was still on its way out (as one
                # is after an error reply): this episode gets a new one.
                self._end()
                self._start(scenario)
                proc, fresh = self.proc, True
                deadline = time.monotonic() + self.timeout
                continue
            if exited:
                self._skip()
                return None, (f'controller exited before starting the episode '
                              f'({proc.describe_exit()})')
            if time.monotonic() > deadline:
                self._end()
                self._skip()
                return None, (f'controller never started the episode within '
                              f'{self.timeout:g} s (no connection, or no RESET)')
            collector.wait(POLL)
        data = self._current = collector.episodes[seen]
        self._next += 1
        # 2. It drives the episode to its end.
        start = time.monotonic()
        end_by = None if scenario.duration is None else \
            start + scenario.duration + self.timeout
        while True:
            if data.ended is not None:
                return data, None
            if len(collector.episodes) > seen + 1:
                data.ended = data.ended or 'reset'      # the controller moved on: cut short
                return data, None
            now = time.monotonic()
            # Whether it exited is read first: one that sent a NaN and exited on
            # the error reply is then judged by the NaN, counted before that reply.
            exited = not proc.alive
            if self._non_finite() > nan_before:
                reason = f'controller sent a non-finite command at t={last_t(data):.3f} s'
                self._halt(reason)
                return data, reason
            if exited:
                if data.ended is not None:
                    return data, None
                reason = (f'controller {"crashed" if (proc.returncode or 0) < 0 else "exited"}'
                          f' during the episode at t={last_t(data):.3f} s '
                          f'({proc.describe_exit()})')
                self._halt(reason)
                return data, reason
            last = self.timer.last_control
            quiet_since = max(start, last if last is not None else start)
            if now - quiet_since > self.timeout:
                reason = (f'controller stopped answering: no control for {self.timeout:g} s '
                          f'at t={last_t(data):.3f} s')
                self._end()
                self._halt(reason)
                return data, reason
            if end_by is not None and now > end_by:
                reason = (f'controller hung: the episode still ran {self.timeout:g} s past '
                          f'its {scenario.duration:g} s')
                self._end()
                self._halt(reason)
                return data, reason
            collector.wait(POLL)
        # (never reached)

    def _halt(self, reason):
        """End the plant's episode where the runner failed it (the recording says why)."""
        self.host.estop(f'dip_test: {reason}')

    def _skip(self):
        """Move the campaign past an episode that never started."""
        with self.host.lock:
            if not self.player.exhausted:
                self.player.advance()

    def recorded_files(self):
        recorder = self.host.recorder
        return [] if recorder is None else list(recorder.files)

    def close(self):
        if self.proc is not None:
            if self.proc.alive and not self.per_episode:
                self.proc.wait(0.5)
            self._end()
        self.server.stop()
        self._thread.join(10.0)
        self.server.close()
