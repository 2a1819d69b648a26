"""
ROS 2 node ``bridge``: the legacy protocols in front of the plant.

Thin glue: :mod:`plant_server_ros.doors` opens the legacy doors and the
live view (as for ``PlantServer``), :mod:`.plant_link` talks to the plant's
topics; this node declares the parameters and wires them.
"""

import errno
import json

from diagnostic_msgs.msg import DiagnosticArray
from rclpy.node import Node
from std_msgs.msg import String

from . import contract, diagnostics, params as ros_params
from .plant_link import PlantLink
from ..conditions.network import episode_network, NetworkModel
from ..doors.assembly import door_settings, DoorError, Doors
from ..runtime.settings import of_node, RunTime, Setting

# A status, not a setting (not in the table): what port:=0 picked.
BOUND_PORT = Setting('bound_port', 'int', 0, 'TCP port actually listened on (what port:=0 '
                     'picked).', 'bridge', '', 0, 65535, nodes=())


class BridgeNode(Node):
    """Serve PROTOCOL.md on a TCP port for the plant in this node's namespace."""

    def __init__(self, node_name='bridge', namespace='dip', busy_poll_us=None, **kwargs):
        super().__init__(node_name, namespace=namespace, **kwargs)
        self.link = self.doors = None
        given = {'busy_poll_us': busy_poll_us} if busy_poll_us is not None else {}
        v = {s.name: ros_params.declare_setting(
            self, s, given.get(s.name, s.default_for('bridge'))) for s in of_node('bridge')}
        seed = v['network.seed']
        self.allow = v['allow']          # client networks of every door (docs/lab_network.md)
        self.link = PlantLink(self, v['plant_node'], v['reply_timeout'],
                              v['busy_poll_us'] * 1e-6, v['startup_grace'])
        self._network_seed = None if seed < 0 else seed
        self._base_network = NetworkModel(
            v['extra_latency_ms'], v['network.jitter_ms'], v['network.jitter'],
            v['network.loss'], v['network.corruption'], seed=self._network_seed)
        # A scenario may name the network of its episodes: the plant tells.
        self.create_subscription(String, contract.EPISODE_INFO, self._on_episode_info,
                                 contract.LATCHED)
        self.doors = self._open(door_settings(v))
        # Run-time parameters: the doors' and the link's.
        self.runtime = RunTime({
            **self.doors.runtime_setters(),
            'reply_timeout': lambda s: setattr(self.link, 'reply_timeout', s),
            'startup_grace': lambda s: setattr(self.link, 'startup_grace', s),
            'busy_poll_us': lambda us: setattr(self.link, 'busy_poll', us * 1e-6),
            'extra_latency_ms': lambda ms: setattr(self._base_network, 'latency', ms / 1000.0),
        }, labels={s.name: f'parameter {s.name!r}' for s in of_node('bridge')})
        ros_params.follow(self, self.runtime)
        self._diagnostics_pub = self.create_publisher(DiagnosticArray, diagnostics.TOPIC, 10)
        self.create_timer(diagnostics.PERIOD, self._publish_diagnostics)
        host, port = self.server.address[:2]
        self.port = port
        ros_params.declare_setting(self, BOUND_PORT, port)
        udp, web = self.doors.describe()
        self.get_logger().info(f'legacy TCP protocol on {host}:{port}{udp}{web}')

    def _open(self, options):
        """Open the legacy doors and the live view (:class:`~..doors.assembly.Doors`)."""
        from .live_view_door import BridgeLiveView
        try:
            return Doors(self.link, **options, live=lambda: BridgeLiveView(self),
                         network=self._base_network, log=self.get_logger()).start()
        except ImportError as exc:           # the live view needs websockets
            self.stop()
            raise ros_params.StartError(f'web_port needs the live view: {exc}') from None
        except DoorError as exc:
            self.stop()
            reason = 'port in use' if exc.errno == errno.EADDRINUSE else exc.strerror
            where = '%s:%d' % exc.address
            raise ros_params.StartError(
                f'cannot serve the live view on {where}: {reason}' if exc.door == 'live view'
                else f'cannot listen on {exc.door} {where}: {reason}') from None

    # The doors' parts, by the names they had.
    sessions = property(lambda self: self.doors.sessions,
                        doc='The legacy sessions every door shares (one controlling client).')
    server = property(lambda self: None if self.doors is None else self.doors.tcp,
                      doc='The legacy TCP door.')
    udp = property(lambda self: None if self.doors is None else self.doors.udp,
                   doc='The UDP datagram door, or None.')
    web = property(lambda self: None if self.doors is None else self.doors.web,
                   doc='The live view, or None.')

    def _publish_diagnostics(self):
        status = self.sessions.summary()
        status['plant_seen'] = self.link.seen_plant
        status['plant_halted'] = self.link.halted
        if self.udp is not None:
            status['udp'] = dict(self.udp.counters)
        level = diagnostics.DiagnosticStatus.OK if self.link.seen_plant else \
            diagnostics.DiagnosticStatus.WARN
        message = 'serving' if self.link.seen_plant else 'no plant seen yet'
        self._diagnostics_pub.publish(diagnostics.array(self, status, level, message))

    def _on_episode_info(self, msg):
        try:
            info = json.loads(msg.data)
            scenario = info.get('scenario', {})
        except (ValueError, AttributeError):
            self.get_logger().error('episode_info is not the JSON the plant sends: ignored')
            return
        if isinstance(info.get('track_limit'), (int, float)):
            # RESET targets are checked against the episode's own limit (a
            # scenario may set its own), as the plant will check them.
            self.link.track_limit = float(info['track_limit'])
        section = scenario.get('network')
        seed = scenario.get('seed', self._network_seed)
        try:
            self.sessions.network = episode_network(section, seed, self._base_network)
        except ValueError as exc:
            self.get_logger().error(f'scenario network ignored: {exc}')
            return
        if section is None:
            return
        self.get_logger().info(f'network of scenario {scenario.get("name")}: {section}')

    def stop(self):
        """Close the listener; clients waiting for a reply get FINISHED (idempotent)."""
        if self.link is not None:
            self.link.close()
        if self.doors is not None:
            self.doors.close()

    def destroy_node(self):
        self.stop()
        return super().destroy_node()


def main(args=None):
    """Entry point of ``bridge_node``."""
    from .node_runner import run_process
    return run_process(args, [BridgeNode])


if __name__ == '__main__':
    raise SystemExit(main())
