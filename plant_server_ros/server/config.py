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
from ..runtime.settings import config_keys, SettingError

_log = logging.getLogger(__name__)
ConfigError = SettingError     # one refusal type for every door (named for this one)
KEYS = config_keys()           # dotted key -> Setting


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


def _read(path):
    try:
        import yaml
    except ImportError:
        raise ConfigError('reading a config file needs PyYAML (pip install pyyaml)') from None
    try:
        with open(path) as f:
            return yaml.safe_load(f) or {}
    except OSError as exc:
        raise ConfigError(f'cannot read {path}: {exc.strerror}') from None
    except yaml.YAMLError as exc:
        raise ConfigError(f'{path} is not valid YAML: {exc}') from None


def _flatten(tree, prefix=''):
    for key, value in tree.items():
        dotted = f'{prefix}{key}'
        if isinstance(value, dict) and dotted not in KEYS:
            yield from _flatten(value, dotted + '.')
        else:
            yield dotted, value
