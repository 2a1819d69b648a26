"""
The plant node's test-condition parameters, read into a base :class:`Scenario`.

Each parameter maps onto a section of a scenario file
(:mod:`plant_server_ros.conditions.scenario`): what the ``scenario`` file (or the
campaign's current scenario) leaves out comes from here.  All default to
off, so a plant without them behaves exactly as it always did.  They are
read at start (read-only): an episode's conditions are fixed when it begins.
"""

from . import params as ros_params
from ..conditions.scenario import load, Scenario, ScenarioError, ScenarioPlayer
from ..conditions.sensors import CHANNELS
from ..conditions.uncertainty import GROUPS

_SENSOR_ARRAYS = {
    'bias': 'Constant offset per channel (x, th1, th2, xdot, th1dot, th2dot; SI).',
    'drift_std': 'Random-walk drift per channel: its std grows by this per sqrt(s).',
    'quantum': 'Quantisation step per channel (encoder resolution; 0 = none).',
    'dropout': 'Probability per channel that a sample is lost (the last is held).',
}
_ACTUATOR = {
    'deadband': ('Motor deadband: |u| below it gives no force [N].', 0.0, 1e4),
    'slew_rate': ('Motor slew-rate limit [N/s] (0 = unlimited).', 0.0, 1e9),
    'time_constant': ('Motor first-order lag time constant [s] (0 = none).', 0.0, 10.0),
}
_SAFETY = {
    'fall_angle': ('Halt when |th1| or |th2| exceeds this [rad] (0 = off).', 0.0, 100.0),
    'max_cart_speed': ('Halt when |xdot| exceeds this [m/s] (0 = off).', 0.0, 1e4),
    'max_joint_rate': ('Halt when |th1dot| or |th2dot| exceeds this [rad/s] (0 = off).',
                       0.0, 1e4),
}


def declare(node, dt):
    """Declare the parameters; return ``(base Scenario or None, ScenarioPlayer or None)``."""
    d = ros_params.declare
    sensor = {}
    for name, doc in _SENSOR_ARRAYS.items():
        values = d(node, f'sensor.{name}', [0.0] * len(CHANNELS), doc, read_only=True)
        if any(values):
            sensor[name] = [float(v) for v in values]
    delay = d(node, 'sensor.delay', 0, 'Measurement delay [samples].', 0, 1000, read_only=True)
    if delay:
        sensor['delay'] = delay
    velocities = ros_params.choice(node, 'sensor.velocities', 'measured',
                                   ('measured', 'derived'),
                                   'measured: velocity channels measured like the others; '
                                   'derived: finite differences of the measured positions.')
    if velocities != 'measured':
        sensor['velocities'] = velocities
    actuator = {}
    for name, (doc, low, high) in _ACTUATOR.items():
        value = d(node, f'actuator.{name}', 0.0, doc, low, high, read_only=True)
        if value:
            actuator[name] = value
    if actuator.get('slew_rate') == 0.0:
        actuator.pop('slew_rate')
    delay = d(node, 'actuator.delay', 0, 'Motor input delay [periods].', 0, 1000,
              read_only=True)
    if delay:
        actuator['delay'] = delay
    safety = {}
    for name, (doc, low, high) in _SAFETY.items():
        value = d(node, f'safety.{name}', 0.0, doc, low, high, read_only=True)
        if value:
            safety[name] = value
    uncertainty = {}
    for group in GROUPS:
        value = d(node, f'uncertainty.{group}', 0.0,
                  f'Per episode, scale each of {", ".join(GROUPS[group])} by a seeded '
                  'random 1 + U(-f, f) (0 = nominal).', 0.0, 0.99, read_only=True)
        if value:
            uncertainty[group] = value
    path = d(node, 'scenario', '', 'Scenario or campaign YAML: the conditions of each '
             'episode; a campaign plays its next scenario at every reset (empty: none).',
             read_only=True)
    sections = {key: value for key, value in (
        ('sensor', sensor), ('actuator', actuator), ('safety', safety),
        ('uncertainty', uncertainty)) if value}
    try:
        base = Scenario.from_dict(sections, 'parameters', dt) if sections else None
        player = ScenarioPlayer(load(path, dt)) if path else None
    except ScenarioError as exc:
        raise ros_params.ParameterError(str(exc)) from None
    return base, player
