"""
``/diagnostics`` for the plant and the bridge: a status dict as a DiagnosticArray.

The dicts come from the ROS-free core (:func:`~plant_server_ros.runtime.status.plant_status`,
:meth:`~plant_server_ros.legacy.sessions.Sessions.summary`), the same that
``PlantServer.status()`` gives, so both doors report alike.
"""

import json

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

TOPIC = '/diagnostics'
PERIOD = 1.0     # s, as diagnostic_updater publishes


def array(node, status, level, message, hardware_id='dip_plant'):
    """Return a DiagnosticArray with one status named after ``node``."""
    values = []
    for key, value in _flat(status):
        values.append(KeyValue(key=key, value='' if value is None else str(value)))
    entry = DiagnosticStatus(level=level, name=node.get_fully_qualified_name().lstrip('/'),
                             message=message, hardware_id=hardware_id, values=values)
    msg = DiagnosticArray(status=[entry])
    msg.header.stamp = node.get_clock().now().to_msg()
    return msg


def plant_level(status):
    """Return the level and message of a plant status dict."""
    state = status['state']
    if state == 'halted':
        return DiagnosticStatus.ERROR, f'halted: {status["halt_reason"]}'
    if state == 'fail-safe' and status.get('controlled'):
        return DiagnosticStatus.WARN, 'fail-safe: no control, u = 0'
    return DiagnosticStatus.OK, state


def _flat(status, prefix=''):
    for key, value in status.items():
        if isinstance(value, dict):
            if all(not isinstance(v, (dict, list)) for v in value.values()) and len(value) < 16:
                yield from _flat(value, f'{prefix}{key}.')
            else:
                yield f'{prefix}{key}', json.dumps(value)
        elif isinstance(value, list):
            yield f'{prefix}{key}', json.dumps(value)
        else:
            yield f'{prefix}{key}', value
