"""
The original project's ``config.yaml``, read into the server's settings.

Only the keys the plant server uses are read (:data:`KEYS`); every other key
of that file is ignored with a debug line.  A value of the wrong type or out
of range is refused with its dotted name and the range, before anything
listens.
"""

import logging
import math
from pathlib import Path

from ..inputs import yaml_file
from ..physics.dynamics import DIPParams
from ..physics.state import check_state, InvalidStateError

_log = logging.getLogger(__name__)


class ConfigError(ValueError):
    """A configuration value the server cannot start with (names the key)."""


def _number(low, high, low_open=False, integer=False):
    """Return a validator of a number in ``[low, high]`` (``(low, high]`` with ``low_open``)."""
    shown = f'{"(" if low_open else "["}{low:g}, {high:g}]'

    def check(key, value):
        ok_type = isinstance(value, int) if integer else isinstance(value, (int, float))
        if isinstance(value, bool) or not ok_type:
            kind = 'an integer' if integer else 'a number'
            raise ConfigError(f'{key}: must be {kind} in {shown}, got {value!r}')
        value = int(value) if integer else float(value)
        too_low = value <= low if low_open else value < low
        if not math.isfinite(value) or too_low or value > high:
            raise ConfigError(f'{key}: must be in {shown}, got {value!r}')
        return value
    return check


def _text(key, value):
    if not isinstance(value, str) or not value:
        raise ConfigError(f'{key}: must be a non-empty string, got {value!r}')
    return value


def _state(key, value):
    if not isinstance(value, (list, tuple)) or \
            any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in value):
        raise ConfigError(f'{key}: must be a list of 6 numbers [x, th1, th2, xdot, th1dot, '
                          f'th2dot], got {value!r}')
    try:
        return check_state(value)
    except InvalidStateError as exc:
        raise ConfigError(f'{key}: {exc}') from None


# The original physics block's names -> DIPParams fields.
PHYSICS = {
    'cart_mass': 'cart_mass', 'pendulum1_mass': 'link1_mass', 'pendulum2_mass': 'link2_mass',
    'pendulum1_length': 'link1_length', 'pendulum2_length': 'link2_length',
    'pendulum1_com': 'link1_com', 'pendulum2_com': 'link2_com',
    'pendulum1_inertia': 'link1_inertia', 'pendulum2_inertia': 'link2_inertia',
    'gravity': 'gravity', 'cart_friction': 'cart_friction',
    'joint1_friction': 'joint1_friction', 'joint2_friction': 'joint2_friction',
}
_POSITIVE = {'cart_mass', 'pendulum1_mass', 'pendulum2_mass', 'pendulum1_length',
             'pendulum2_length'}

# dotted key -> (setting, validator)
KEYS = {
    **{f'physics.{name}': (f'physics.{field}',
                           _number(0.0, 1e6, low_open=name in _POSITIVE))
       for name, field in PHYSICS.items()},
    'simulation.dt': ('dt', _number(1e-4, 1.0)),
    'simulation.initial_state': ('initial_state', _state),
    'hil.plant_ip': ('udp_host', _text),
    'hil.plant_port': ('udp_port', _number(0, 65535, integer=True)),
    'hil.extra_latency_ms': ('extra_latency_ms', _number(0.0, 1e4)),
    'hil.sensor_noise_std': ('sensor_noise_std', _number(0.0, 10.0)),
    'global_seed': ('seed', _number(0, 2 ** 63 - 1, integer=True)),
}


def load(cfg):
    """Return the settings of ``cfg`` (None, a dict, or a YAML file path) as a flat dict."""
    if cfg is None:
        return {}
    if isinstance(cfg, (str, Path)):
        try:
            cfg = yaml_file.load(cfg) or {}
        except OSError as exc:
            raise ConfigError(f'cannot read {cfg}: {exc.strerror}') from None
        except yaml_file.YamlFileError as exc:
            raise ConfigError(str(exc)) from None
    if not isinstance(cfg, dict):
        raise ConfigError(f'a config is a mapping of sections, got {type(cfg).__name__}')
    settings = {}
    for key, value in _flatten(cfg):
        if key not in KEYS:
            _log.debug('config key %s is not used by the plant server: ignored', key)
            continue
        name, check = KEYS[key]
        settings[name] = check(key, value)
    return settings


def physics(settings):
    """Return the DIPParams of ``settings`` (defaults where the config is silent)."""
    prefix = 'physics.'
    given = {k[len(prefix):]: v for k, v in settings.items() if k.startswith(prefix)}
    try:
        return DIPParams(**given)
    except ValueError as exc:
        raise ConfigError(f'physics: {exc}') from None


def _flatten(tree, prefix=''):
    for key, value in tree.items():
        dotted = f'{prefix}{key}'
        if isinstance(value, dict) and dotted not in KEYS:
            yield from _flatten(value, dotted + '.')
        else:
            yield dotted, value
