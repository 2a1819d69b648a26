"""
The ROS graph tells the truth, and docs/ros.md tells the graph.

``ros2 node info`` of each node lists every topic and service it really
uses (the hot-path subscriptions were on hidden helper nodes once), and the
"which node holds which topic" table of docs/ros.md is what a running graph
shows; every topic of the contract is in its interfaces table.
"""

from pathlib import Path
import re

from _ros_harness import Harness
from rclpy.node import Node
from rclpy.parameter import Parameter

DOCS = Path(__file__).resolve().parents[1] / 'docs'
NS = '/graph'
COLUMNS = ('publishes', 'subscribes', 'service servers', 'service clients')


def _cells(line):
    return [c.strip() for c in line.strip().strip('|').split('|')]


def documented():
    """``{node: {column: {absolute names}}}`` from the table of docs/ros.md."""
    text = (DOCS / 'ros.md').read_text(encoding='utf-8')
    section = text[text.index('### Which node holds which topic'):]
    table = {}
    for line in section.splitlines():
        cells = _cells(line)
        if not line.startswith('| `') or len(cells) != 1 + len(COLUMNS):
            continue
        node = cells[0].strip('`')
        table[node] = {column: {name if name.startswith('/') else f'{NS}/{name}'
                                for name in re.findall(r'`([^`]+)`', cell)
                                if name != 'web_port'}
                       for column, cell in zip(COLUMNS, cells[1:])}
    return table


def running(probe, node, own=frozenset({'/rosout', '/parameter_events'})):
    """Return what the graph shows of ``node`` in ``NS`` but what every rclpy node has."""
    services = {t for t, _ in probe.get_service_names_and_types_by_node(node, NS)
                if not t.startswith(f'{NS}/{node}/')}       # its parameter services
    return {
        'publishes': {t for t, _ in probe.get_publisher_names_and_types_by_node(node, NS)} - own,
        'subscribes': {t for t, _ in probe.get_subscriber_names_and_types_by_node(node, NS)}
        - own,
        'service servers': services,
        'service clients': {t for t, _ in probe.get_client_names_and_types_by_node(node, NS)},
    }


def test_the_node_table_of_the_docs_is_the_running_graph():
    from plant_server_ros.ros.bridge_node import BridgeNode
    from plant_server_ros.ros.controller_node import ControllerNode
    from plant_server_ros.ros.plant_node import PlantNode
    table = documented()
    assert set(table) == {'plant', 'bridge', 'controller'}
    h = Harness()
    try:
        # Lock-step (its /clock) and the live view on (web_port): everything a node may hold.
        plant = h.add(PlantNode(namespace=NS, parameter_overrides=[
            Parameter('mode', value='lockstep')]))
        h.add(BridgeNode(namespace=NS, parameter_overrides=[
            Parameter('port', value=0), Parameter('web_port', value=_free_port())]))
        h.add(ControllerNode(namespace=NS))
        probe = h.add(Node('graph_probe'))
        if plant.tf_pub is None:                       # no tf2_msgs here
            table['plant']['publishes'].discard('/tf')

        def matches():
            return all(running(probe, node) == table[node] for node in table)
        h.spin_until(matches, timeout=30.0)
        for node in table:
            assert running(probe, node) == table[node], node
        names = {name for name, ns in probe.get_node_names_and_namespaces() if ns == NS}
        assert names == {'plant', 'bridge', 'controller'}        # no helper nodes
    finally:
        h.close()


def test_every_topic_and_service_of_the_contract_is_in_the_interfaces_table():
    # Every name the contract defines (its comment names a message or service type),
    # not a list kept by hand: faults was missing from the table once.
    from plant_server_ros.ros import diagnostics
    source = (Path(__file__).resolve().parents[1] / 'plant_server_ros' / 'ros' /
              'contract.py').read_text(encoding='utf-8')
    names = set(re.findall(r"^[A-Z_]+ = '([^']+)' +# .*(?:msgs/|service)", source, re.M))
    assert {'state', 'control', 'faults', 'joint_commands', '/clock'} <= names
    text = (DOCS / 'ros.md').read_text(encoding='utf-8')
    table = text[text.index('## Interfaces'):text.index('### Which node holds')]
    rows = {_cells(line)[0].strip('`') for line in table.splitlines()
            if line.startswith('| `')}
    assert names | {diagnostics.TOPIC} <= rows, (names | {diagnostics.TOPIC}) - rows


def _free_port():
    import socket
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        return probe.getsockname()[1]
