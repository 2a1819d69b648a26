"""
Scenarios and campaigns: the conditions of an episode, as YAML files (no ROS).

A scenario names what an episode runs under: its initial state and length,
disturbances, parameter uncertainty, sensor, actuator and network models,
safety limits, a seed, and the pass criteria its results are judged by.
Every section is optional; what a scenario leaves out comes from the plant's
own settings (ROS parameters, ``PlantServer`` arguments).

A campaign is a list of scenarios, each repeated or given seeds of its own.
The plant starts in the first; a client's first RESET (re)starts it, and
each later new episode (a RESET on any door, a UDP ``seq`` of 1) plays the
next one, so an unchanged external controller runs a whole test plan; after
the last, it starts over (or, for a player made with ``repeat=N``, the plant
answers FINISHED once the campaign has been played N times).

    name: push_recovery
    seed: 3                    # seeds every random stream of the episode
    duration: 10.0             # s; then the episode ends (the plant halts)
    initial_state: [0, 0.05, -0.03, 0, 0, 0]
    disturbances:
      - {kind: pulse, channel: force, amplitude: 15, start: 2.0, duration: 0.1}
    uncertainty: {masses: 0.05, frictions: 0.1}
    sensor: {noise_std: 0.005, quantum: [0.0005, 0.01, 0.01, 0, 0, 0], velocities: derived}
    actuator: {time_constant: 0.02, slew_rate: 500, delay: 1}
    network: {latency_ms: 2, jitter_ms: 1, loss: 0.01}
    safety: {fall_angle: 0.6}
    criteria: {max_abs_theta: 0.3}

    campaign:
      - {scenario: nominal.yaml}
      - {scenario: push_recovery.yaml, seeds: [1, 2, 3]}
      - {scenario: noisy_sensors.yaml, repeats: 2}
      - {scenario: masses_10pct.yaml, episodes: 1000,        # a set: a Monte-Carlo sample
         criteria: {pass_rate: {min: 0.99, confidence: 0.95}}}
    seed: 7                    # the campaign's: the seeds of its sets derive from it

An entry with ``episodes: N`` is a *set*: N episodes of its scenario, each
with a seed of its own derived from the campaign's ``seed`` (default 0) by
:func:`set_seeds`, judged together by the set's ``criteria`` (the
``pass_rate`` of :data:`~.criteria.SET_CRITERIA`) as well as one by one.
"""

from dataclasses import dataclass, field, replace
import math
import os
from pathlib import Path
import sys

import numpy as np

from .actuator import ActuatorModel
from .criteria import validate_criteria, validate_set_criteria
from .disturbances import Disturbance
from .faults import FaultError, parse_list as parse_faults
from .network import NetworkModel
from .safety import SafetyLimits
from .sensors import CHANNELS, ChannelSpec, SensorModel
from .uncertainty import ParameterUncertainty
from ..inputs import yaml_file
from ..physics.state import check_state, InvalidStateError

SECTIONS = ('name', 'description', 'seed', 'duration', 'initial_state', 'disturbances',
            'uncertainty', 'sensor', 'actuator', 'network', 'safety', 'criteria', 'faults',
            'regression')
SENSOR_FIELDS = ('noise_std', 'bias', 'drift_std', 'quantum', 'dropout', 'stuck_from')
SENSOR_KEYS = SENSOR_FIELDS + ('delay', 'velocities')
ACTUATOR_KEYS = ('max_force', 'deadband', 'slew_rate', 'time_constant', 'delay')
# Sizes a file may ask for (docs/limits.md): each is allocated or played in
# full, so each is refused by name before anything is built.
MAX_DISTURBANCES = 1000
MAX_CAMPAIGN_ENTRIES = 1000
MAX_REPEATS = 10_000        # repeats of one entry, and seeds of one entry
MAX_EPISODES = 100_000      # episodes of a whole campaign
CAMPAIGN_KEYS = ('campaign', 'name', 'description', 'seed')
ENTRY_KEYS = ('scenario', 'repeats', 'seeds', 'episodes', 'criteria')
_ANY_PERIOD = 1.0           # s; what a check needs of a period (it depends on none)


class ScenarioError(ValueError):
    """A scenario or campaign the plant cannot run (names the file and key)."""


@dataclass(frozen=True)
class Scenario:
    """The validated conditions of one episode; None/empty: the plant's own settings."""

    name: str = 'default'
    description: str = ''
    seed: int = None
    duration: float = None
    initial_state: tuple = None
    disturbances: tuple = ()
    uncertainty: dict = field(default_factory=dict)
    sensor: dict = None
    actuator: dict = None
    network: dict = None
    safety: dict = None
    criteria: dict = field(default_factory=dict)
    # Tolerances of a run against a stored baseline (dip_test --baseline);
    # checked by plant_server_ros.testing.verdict, not by the plant.
    regression: dict = field(default_factory=dict)
    source: str = ''
    faults: tuple = ()           # conditions.faults.Fault, in the order they apply

    @classmethod
    def from_dict(cls, values, source='', dt=None):
        """
        Validate a scenario mapping; ScenarioError names the file and the key.

        ``dt``: the plant's period, if known (the checks do not depend on it).
        """
        where = f'scenario {source}: ' if source else 'scenario: '
        if not isinstance(values, dict):
            raise ScenarioError(f'{where}a scenario is a mapping, got {type(values).__name__}')
        try:
            return _build(cls, values, source, dt)
        except (ValueError, TypeError) as exc:
            raise ScenarioError(f'{where}{exc}') from None

    def over(self, base):
        """Return this scenario with the sections it leaves out taken from ``base``."""
        if base is None:
            return self
        filled = {}
        for key in ('sensor', 'actuator', 'network', 'safety', 'duration', 'initial_state'):
            if getattr(self, key) is None and getattr(base, key) is not None:
                filled[key] = getattr(base, key)
        if not self.uncertainty and base.uncertainty:
            filled['uncertainty'] = base.uncertainty
        if not self.disturbances and base.disturbances:
            filled['disturbances'] = base.disturbances
        return replace(self, **filled) if filled else self

    def sensor_model(self, dt, rng, noise_std):
        """Return the SensorModel of this scenario (``noise_std`` where it names none)."""
        return build_sensor(self.sensor or {}, dt, rng, noise_std)

    def actuator_model(self, dt, max_force):
        """Return the ActuatorModel of this scenario (``max_force`` where it names none)."""
        section = dict(self.actuator or {})
        section.setdefault('max_force', max_force)
        return ActuatorModel(dt, **section)

    def safety_limits(self, track_limit):
        """Return the SafetyLimits of this scenario (``track_limit`` where it names none)."""
        section = dict(self.safety or {})
        section.setdefault('track_limit', track_limit)
        return SafetyLimits.from_dict(section)

    def describe(self):
        """Return a dict of what this scenario sets (for the episode record and logs)."""
        out = {'name': self.name}
        for key in ('seed', 'duration', 'initial_state', 'uncertainty', 'sensor', 'actuator',
                    'network', 'safety', 'criteria'):
            value = getattr(self, key)
            if value not in (None, {}, ()):
                out[key] = list(value) if isinstance(value, tuple) else value
        if self.disturbances:
            out['disturbances'] = [d.to_dict() for d in self.disturbances]
        if self.faults:
            out['faults'] = [f.to_dict() for f in self.faults]
        return out


def _number(key, value, low=-math.inf, high=math.inf, integer=False):
    ok = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok or not (low <= value <= high):
        kind = 'an integer' if integer else 'a number'
        raise ValueError(f'{key} must be {kind} in [{low:g}, {high:g}], got {value!r}')
    return int(value) if integer else float(value)


def _build(cls, values, source, dt):
    dt = _ANY_PERIOD if dt is None else dt
    for key in values:
        if key not in SECTIONS:
            raise ValueError(f'{key} is not a scenario section (one of {list(SECTIONS)})')
    kwargs = {'source': str(source)}
    if 'name' in values:
        kwargs['name'] = str(values['name'])
    elif source:
        kwargs['name'] = Path(source).stem
    if 'description' in values:
        kwargs['description'] = str(values['description'])
    if values.get('seed') is not None:
        kwargs['seed'] = _number('seed', values['seed'], 0, 2 ** 63 - 1, integer=True)
    if values.get('duration') is not None:
        kwargs['duration'] = _number('duration', values['duration'], 0.0, 1e9)
        if kwargs['duration'] <= 0.0:
            raise ValueError('duration must be > 0 s')
    if values.get('initial_state') is not None:
        try:
            kwargs['initial_state'] = check_state(values['initial_state'])
        except InvalidStateError as exc:
            raise ValueError(f'initial_state: {exc}') from None
    disturbances = values.get('disturbances') or []
    if not isinstance(disturbances, list):
        raise ValueError('disturbances must be a list of mappings')
    if len(disturbances) > MAX_DISTURBANCES:
        raise ValueError(f'disturbances holds at most {MAX_DISTURBANCES} entries, '
                         f'got {len(disturbances)}')
    built = []
    for i, item in enumerate(disturbances):
        try:
            built.append(Disturbance.from_dict(item))
        except (ValueError, TypeError) as exc:
            raise ValueError(f'disturbances[{i}]: {exc}') from None
    kwargs['disturbances'] = tuple(built)
    if values.get('uncertainty'):
        ParameterUncertainty(_mapping('uncertainty', values['uncertainty']))
        kwargs['uncertainty'] = dict(values['uncertainty'])
    if values.get('sensor') is not None:
        section = _mapping('sensor', values['sensor'])
        build_sensor(section, dt, None, 0.0)                    # validates
        kwargs['sensor'] = section
    if values.get('actuator') is not None:
        section = _mapping('actuator', values['actuator'])
        for key in section:
            if key not in ACTUATOR_KEYS:
                raise ValueError(f'actuator.{key} is not an actuator setting '
                                 f'(one of {list(ACTUATOR_KEYS)})')
        _numbers('actuator', section)
        try:
            ActuatorModel(dt, **section)
        except ValueError as exc:
            raise ValueError(f'actuator: {exc}') from None
        kwargs['actuator'] = section
    if values.get('network') is not None:
        section = _mapping('network', values['network'])
        NetworkModel.from_dict(section)                         # validates
        kwargs['network'] = section
    if values.get('safety') is not None:
        section = _numbers('safety', _mapping('safety', values['safety']))
        SafetyLimits.from_dict(section)
        kwargs['safety'] = section
    if values.get('criteria') is not None:
        # Judged after the episode; checked now, so a typo is not run silently.
        kwargs['criteria'] = validate_criteria(_mapping('criteria', values['criteria']))
    if values.get('faults') is not None:
        try:
            kwargs['faults'] = parse_faults(values['faults'])
        except FaultError as exc:
            raise ValueError(str(exc)) from None
    if values.get('regression') is not None:
        kwargs['regression'] = dict(_mapping('regression', values['regression']))
    return cls(**kwargs)


def _mapping(key, value):
    if not isinstance(value, dict):
        raise ValueError(f'{key} must be a mapping, got {value!r}')
    return dict(value)


def _numbers(key, section):
    # The models convert with float(): without this, 'abc' would be refused
    # without its key's name and a boolean taken for 0 or 1.
    for name, value in section.items():
        try:
            ok = not isinstance(value, bool) and float(value) == float(value)
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise ValueError(f'{key}.{name} must be a number, got {value!r}')
    return section


def build_sensor(section, dt, rng, noise_std):
    """
    Return the SensorModel a ``sensor`` section describes.

    Each of :data:`SENSOR_FIELDS` is one number for all channels or a list
    with one per channel (six; three, for the positions, with derived
    velocities).  ``noise_std`` defaults to the plant's ``noise_std``.
    """
    for key in section:
        if key not in SENSOR_KEYS:
            raise ValueError(f'sensor.{key} is not a sensor setting (one of {list(SENSOR_KEYS)})')
    section = {'noise_std': noise_std, **section}
    velocities = section.get('velocities', 'measured')
    count = 3 if velocities == 'derived' else len(CHANNELS)
    per_channel = []
    for i in range(count):
        spec = {}
        for name in SENSOR_FIELDS:
            value = section.get(name)
            if isinstance(value, (list, tuple)):
                if len(value) not in (count, len(CHANNELS)):
                    raise ValueError(f'sensor.{name} takes one value or {count}, '
                                     f'got {len(value)}')
                value = value[i]
            if value is not None:
                spec[name] = value
        try:
            per_channel.append(ChannelSpec(**spec))
        except ValueError as exc:
            text = str(exc).replace('ChannelSpec.', 'sensor.')
            raise ValueError(f'{text} (channel {CHANNELS[i]})') from None
    per_channel += [ChannelSpec()] * (len(CHANNELS) - count)
    delay = section.get('delay', 0)
    try:
        return SensorModel(dt, per_channel, rng, delay=delay, velocities=velocities)
    except (ValueError, TypeError) as exc:
        raise ValueError(f'sensor: {exc}') from None


@dataclass(frozen=True)
class EpisodeSet:
    """A campaign entry played as a set: ``count`` episodes from ``first`` in play order."""

    name: str
    entry: int                   # its index in the campaign list
    first: int                   # its first episode's index in the played list (from 0)
    count: int
    criteria: dict = field(default_factory=dict)    # SET_CRITERIA


def set_seeds(campaign_seed, entry, count):
    """
    Return the ``count`` episode seeds of the set at campaign ``entry``.

    Episode ``k``'s seed is the 63-bit integer of numpy's
    ``SeedSequence(campaign_seed).spawn(entry + 1)[entry].spawn(count)[k]``
    (``generate_state(2, uint32)``: ``a << 31 | b >> 1``): independent
    streams, the same for the same campaign seed, however the set is split.
    """
    out = []
    for k in range(count):
        a, b = np.random.SeedSequence(int(campaign_seed), spawn_key=(entry, k)).generate_state(
            2, np.uint32)
        out.append((int(a) << 31) | (int(b) >> 1))
    return out


def load(source, dt=None):
    """
    Return the scenarios a file (or mapping) holds, in play order.

    A scenario file gives one; a campaign file (a ``campaign`` list) gives
    each entry's scenario once per seed (``seeds``), ``repeats`` times
    (seeds counting up from the scenario's own, when it has one) or
    ``episodes`` times (seeds derived from the campaign's: :func:`set_seeds`).
    """
    return load_campaign(source, dt)[0]


def load_campaign(source, dt=None):
    """Return ``(scenarios in play order, the EpisodeSets among them)`` of a file or mapping."""
    values, path = _read(source)
    if not isinstance(values, dict) or 'campaign' not in values:
        return [Scenario.from_dict(values, path or '', dt)], []
    entries = values['campaign']
    where = f'campaign {path}: ' if path else 'campaign: '
    unknown = sorted(str(k) for k in values if k not in CAMPAIGN_KEYS)
    if unknown:
        raise ScenarioError(f'{where}{", ".join(unknown)}: not a key of a campaign file '
                            f'(one of {list(CAMPAIGN_KEYS)}; the sections of a scenario go '
                            'in its own file or mapping)')
    if not isinstance(entries, list) or not entries:
        raise ScenarioError(f'{where}campaign must be a non-empty list')
    if len(entries) > MAX_CAMPAIGN_ENTRIES:
        raise ScenarioError(f'{where}campaign holds at most {MAX_CAMPAIGN_ENTRIES} entries, '
                            f'got {len(entries)}')
    try:
        campaign_seed = _number('seed', values.get('seed', 0), 0, 2 ** 63 - 1, integer=True)
    except ValueError as exc:
        raise ScenarioError(f'{where}{exc}') from None
    played, sets = [], []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or 'scenario' not in entry:
            raise ScenarioError(f'{where}campaign[{i}] must be a mapping with a scenario')
        unknown = set(entry) - set(ENTRY_KEYS)
        if unknown:
            raise ScenarioError(f'{where}campaign[{i}]: unknown keys {sorted(unknown)} (one of '
                                f'{list(ENTRY_KEYS)})')
        target = entry['scenario']
        if not isinstance(target, (str, dict)):
            raise ScenarioError(f'{where}campaign[{i}].scenario must be a file name or a '
                                f'mapping, got {target!r}')
        if isinstance(target, str) and path:
            target = str(Path(path).parent / target)
        inner, inner_path = _read(target)
        if isinstance(inner, dict) and 'campaign' in inner:    # even of a single entry
            raise ScenarioError(f'{where}campaign[{i}]: a campaign cannot hold a campaign')
        scenario = Scenario.from_dict(inner, inner_path or '', dt)
        episodes = None
        try:
            seeds = entry.get('seeds')
            repeats = _number(f'campaign[{i}].repeats', entry.get('repeats', 1), 1,
                              MAX_REPEATS, integer=True)
            if 'episodes' in entry:
                if 'seeds' in entry or 'repeats' in entry:
                    raise ValueError(f'campaign[{i}]: episodes draws its own seeds; give it '
                                     'without seeds or repeats')
                episodes = _number(f'campaign[{i}].episodes', entry['episodes'], 1,
                                   MAX_EPISODES, integer=True)
            elif 'criteria' in entry:
                raise ValueError(f'campaign[{i}].criteria judges a set: give it with '
                                 'episodes: N')
            try:
                criteria = validate_set_criteria(entry.get('criteria'))
            except ValueError as exc:
                raise ValueError(f'campaign[{i}].{exc}') from None
            if seeds is not None:
                if not isinstance(seeds, list) or not seeds:
                    raise ValueError(f'campaign[{i}].seeds must be a non-empty list')
                if len(seeds) > MAX_REPEATS:
                    raise ValueError(f'campaign[{i}].seeds holds at most {MAX_REPEATS} seeds, '
                                     f'got {len(seeds)}')
                seeds = [_number(f'campaign[{i}].seeds', s, 0, 2 ** 63 - 1, integer=True)
                         for s in seeds]
            elif repeats > 1:
                first = scenario.seed if scenario.seed is not None else 0
                seeds = [first + k for k in range(repeats)]
        except ValueError as exc:
            raise ScenarioError(f'{where}{exc}') from None
        count = episodes if episodes is not None else (1 if seeds is None else len(seeds))
        if len(played) + count > MAX_EPISODES:
            raise ScenarioError(f'{where}a campaign plays at most {MAX_EPISODES} episodes '
                                f'(campaign[{i}] goes beyond)')
        if episodes is not None:
            taken = {e.name for e in sets}
            name = scenario.name if scenario.name not in taken else f'{scenario.name}_{i}'
            sets.append(EpisodeSet(name, i, len(played), episodes, criteria))
            seeds = set_seeds(campaign_seed, i, episodes)
        if seeds is None:
            played.append(scenario)
        else:
            played += [replace(scenario, seed=seed) for seed in seeds]
    return played, sets


def find(name):
    """
    Return the path of scenario ``name``: as given, else one the package ships.

    The shipped ones (``config/scenarios/``) are found by file name alone in
    the source tree, under ``sys.prefix`` (pip) and in every prefix of
    ``AMENT_PREFIX_PATH`` (colcon, a ROS distribution).
    """
    path = Path(name)
    if path.exists() or path.is_absolute():
        return path
    places = [Path(__file__).resolve().parents[2] / 'config' / 'scenarios']
    prefixes = [sys.prefix] + os.environ.get('AMENT_PREFIX_PATH', '').split(os.pathsep)
    places += [Path(p) / 'share' / 'plant_server_ros' / 'config' / 'scenarios'
               for p in prefixes if p]
    for place in places:
        if (place / path).exists():
            return place / path
    return path


def _read(source):
    if isinstance(source, dict):
        return source, None
    path = str(find(source))
    try:
        return yaml_file.load(path) or {}, path
    except OSError as exc:
        raise ScenarioError(f'cannot read scenario {path}: {exc.strerror}') from None
    except yaml_file.YamlFileError as exc:
        raise ScenarioError(f'scenario {exc}') from None


class CampaignFinished(Exception):
    """A new episode was asked for after the last play of a campaign (``repeat=N``)."""


class ScenarioPlayer:
    """
    Hand out the scenarios of a campaign one episode after the other.

    ``repeat`` None (the default): after the last scenario, start over.
    ``repeat`` N: the campaign is played N times; asking for an episode
    after that raises :class:`CampaignFinished` (the plant answers FINISHED).
    """

    def __init__(self, scenarios, repeat=None):
        self.scenarios = list(scenarios)
        if not self.scenarios:
            raise ScenarioError('a campaign needs at least one scenario')
        if repeat is not None and (isinstance(repeat, bool) or not isinstance(repeat, int)
                                   or repeat < 1):
            raise ScenarioError(f'repeat must be None or an integer >= 1, got {repeat!r}')
        self.repeat = repeat
        self.played = 0

    @property
    def total(self):
        """Return how many episodes the campaign plays (None: it starts over for ever)."""
        return None if self.repeat is None else self.repeat * len(self.scenarios)

    @property
    def exhausted(self):
        """Return True once every episode of a ``repeat=N`` campaign has been handed out."""
        return self.total is not None and self.played >= self.total

    def peek(self):
        """Return the scenario the next episode will play, without moving on."""
        if self.exhausted:
            raise CampaignFinished(f'campaign finished: its {self.total} episode(s) were played')
        return self.scenarios[self.played % len(self.scenarios)]

    def advance(self):
        """Return the scenario of the next episode, and move on."""
        scenario = self.peek()
        self.played += 1
        return scenario

    @property
    def position(self):
        """Return ``(index, count)`` of the scenario playing now (index from 1)."""
        return (max(self.played, 1) - 1) % len(self.scenarios) + 1, len(self.scenarios)
