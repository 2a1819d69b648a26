"""
ROS 2 node ``bridge``: the legacy protocols in front of the plant.

Thin glue: :mod:`plant_server_ros.legacy` speaks the protocols, :mod:`.plant_link`
talks to the plant's topics; this node declares the parameters and wires them.
"""

import errno
import json

from diagnostic_msgs.msg import DiagnosticArray
from rclpy.node import Node
from std_msgs.msg import String

from . import contract, diagnostics, params as ros_params
from .plant_link import PlantLink
from ..conditions.network import episode_network, NetworkModel
from ..legacy.sessions import Sessions
from ..legacy.tcp_server import TcpServer
from ..legacy.udp_server import UdpServer
from ..runtime.settings import of_node


class BridgeNode(Node):
    """Serve PROTOCOL.md on a TCP port for the plant in this node's namespace."""

    def __init__(self, node_name='bridge', namespace='dip', busy_poll_us=None, **kwargs):
        super().__init__(node_name, namespace=namespace, **kwargs)
        self.link = self.server = self.udp = self.web = None
        given = {'busy_poll_us': busy_poll_us} if busy_poll_us is not None else {}
        v = {s.name: ros_params.declare_setting(
            self, s, given.get(s.name, s.default_for('bridge'))) for s in of_node('bridge')}
        host, port, udp_port, web_port = (v['bind_address'], v['port'], v['udp_port'],
                                          v['web_port'])
        idle, seed = v['idle_timeout'], v['network.seed']
        self.allow = v['allow']          # client networks of every door (docs/lab_network.md)
        self.link = PlantLink(self, v['plant_node'], v['reply_timeout'],
                              v['busy_poll_us'] * 1e-6, v['startup_grace'])
        self._network_seed = None if seed < 0 else seed
        self._base_network = NetworkModel(
            v['extra_latency_ms'], v['network.jitter_ms'], v['network.jitter'],
            v['network.loss'], v['network.corruption'], seed=self._network_seed)
        self.sessions = Sessions(self.link, network=self._base_network)
        # A scenario may name the network of its episodes: the plant tells.
        self.create_subscription(String, contract.EPISODE_INFO, self._on_episode_info,
                                 contract.LATCHED)
        self.server = self._listen(TcpServer, 'TCP', host, port, idle)
        if udp_port:
            self.udp = self._listen(UdpServer, 'UDP', v['udp_bind_address'], udp_port, idle)
        if web_port:
            self.web = self._live_view(host, web_port, v['web_token'] or None,
                                       v['web_view_only'])
        self.add_post_set_parameters_callback(self._apply_parameters)
        self._diagnostics_pub = self.create_publisher(DiagnosticArray, diagnostics.TOPIC, 10)
        self.create_timer(diagnostics.PERIOD, self._publish_diagnostics)
        host, port = self.server.address[:2]
        self.port = port
        ros_params.declare(self, 'bound_port', port, 'TCP port actually listened on (what '
                           'port:=0 picked).', read_only=True)
        udp = '' if self.udp is None else \
            ' and UDP datagrams on %s:%d' % tuple(self.udp.address[:2])
        web = '' if self.web is None else f'; live view at {self.web.url}'
        self.get_logger().info(f'legacy TCP protocol on {host}:{port}{udp}{web}')

    def _live_view(self, host, port, token, view_only):
        try:
            # Imported only when asked for: the live view needs ``websockets``.
            from .live_view_door import BridgeLiveView
        except ImportError as exc:
            self.stop()
            raise ros_params.StartError(f'web_port needs the live view: {exc}') from None
        try:
            return BridgeLiveView(self, host, port, token, view_only).start()
        except OSError as exc:
            self.stop()
            reason = 'port in use' if exc.errno == errno.EADDRINUSE else exc.strerror
            raise ros_params.StartError(f'cannot serve the live view on {host}:{port}: '
                                        f'{reason}') from None

    def _listen(self, server_class, what, host, port, idle):
        try:
            return server_class(self.sessions, host, port, idle, log=self.get_logger(),
                                allow=self.allow).start()
        except OSError as exc:
            self.stop()
            reason = 'port in use' if exc.errno == errno.EADDRINUSE else exc.strerror
            raise ros_params.StartError(
                f'cannot listen on {what} {host}:{port}: {reason}') from None

    def _apply_parameters(self, params):
        for p in params:
            if p.name == 'idle_timeout':
                self.server.idle_timeout = float(p.value)
                if self.udp is not None:
                    self.udp.idle_timeout = float(p.value)
            elif p.name == 'reply_timeout':
                self.link.reply_timeout = float(p.value)
            elif p.name == 'startup_grace':
                self.link.startup_grace = float(p.value)
            elif p.name == 'extra_latency_ms':
                self._base_network.latency = p.value / 1000.0
            elif p.name == 'busy_poll_us':
                self.link.busy_poll = p.value * 1e-6

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
        if self.server is not None:
            self.server.close()
        if self.udp is not None:
            self.udp.close()
        if self.web is not None:
            self.web.close()

    def destroy_node(self):
        self.stop()
        return super().destroy_node()


def main(args=None):
    """Entry point of ``bridge_node``."""
    from .node_runner import run_nodes
    return run_nodes(args, [BridgeNode])


if __name__ == '__main__':
    raise SystemExit(main())
