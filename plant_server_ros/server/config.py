"""
The original project's ``config.yaml``, read into the server's settings.

Only the keys the plant server uses are read (:data:`KEYS`, from the
settings table: each setting names its key of the original layout); every
other key of that file is ignored with a debug line.  A value of the wrong type or out
of range is refused with its dotted name and the range, before anything
listens.
"""

import logging
from pathlib import Path

from ..conditions.network import NetworkModel
from ..inputs import yaml_file
from ..physics.dynamics import DIPParams
from ..runtime.settings import config_keys, SettingError

_log = logging.getLogger(__name__)
ConfigError = SettingError     # one refusal type for every door (named for this one)
KEYS = config_keys()           # dotted key -> Setting
# The original physics block's names -> DIPParams fields (pendulum1_* is link1_*).
PHYSICS = {key.split('.', 1)[1]: setting.name.split('.', 1)[1]
           for key, setting in KEYS.items() if key.startswith('physics.')}


def load_config(path):
    """Return the mapping of the YAML file ``path`` (the seed's ``cfg``); its keys checked."""
    cfg = _read(path)
    if not isinstance(cfg, dict):
        raise ConfigError(f'{path}: a config is a mapping of sections, got '
                          f'{type(cfg).__name__}')
    load_with_labels(cfg)                 # refused now, by key, not when a server starts
    return cfg


def load(cfg):
    """Return the settings of ``cfg`` (None, a dict, or a YAML file path): ``{name: value}``."""
    return load_with_labels(cfg)[0]


def load_with_labels(cfg):
    """
    Return ``(values, labels)`` of ``cfg``: the settings it gives, by their table names.

    ``labels`` maps each of them to its dotted key, so that a refusal found
    later (an initial state off the track) names the key the user wrote.
    """
    if cfg is None:
        return {}, {}
    if isinstance(cfg, (str, Path)):
        cfg = _read(cfg)
    if not isinstance(cfg, dict):
        raise ConfigError(f'a config is a mapping of sections, got {type(cfg).__name__}')
    values, labels = {}, {}
    for key, value in _flatten(cfg):
        setting = KEYS.get(key)
        if setting is None:
            _log.debug('config key %s is not used by the plant server: ignored', key)
            continue
        values[setting.name] = setting.check(value, key)
        labels[setting.name] = key
    return values, labels


def network(values):
    """Return the legacy links' network of ``values``: the fixed latency, seeded."""
    seed = values.get('seed')
    return NetworkModel(latency_ms=values.get('extra_latency_ms', 0.0),
                        seed=None if seed is None or seed < 0 else f'{seed}:network')


def physics(values):
    """Return the DIPParams of ``values`` (defaults where they are silent); ConfigError."""
    given = {name.split('.', 1)[1]: v for name, v in values.items() if name.startswith('physics.')}
    try:
        return DIPParams(**given)
    except ValueError as exc:
        raise ConfigError(f'physics: {exc}') from None


def _read(path):
    """Return the YAML of ``path``, read within the bounds of :mod:`..inputs.yaml_file`."""
    try:
        return yaml_file.load(path) or {}
    except OSError as exc:
        raise ConfigError(f'cannot read {path}: {exc.strerror}') from None
    except yaml_file.YamlFileError as exc:
        raise ConfigError(str(exc)) from None


def _flatten(tree, prefix=''):
    for key, value in tree.items():
        dotted = f'{prefix}{key}'
        if isinstance(value, dict) and dotted not in KEYS:
            yield from _flatten(value, dotted + '.')
        else:
            yield dotted, value
