"""
The plant as a managed (lifecycle) node: ``lifecycle:=true``, ``plant_node --managed``.

The same wiring as the plain node (:class:`~.plant_door.PlantDoor`), moved
through the standard states by ``ros2 lifecycle set`` or a launch system:

- configure: read and check the parameters, build the plant, make its
  topics and services (nothing steps yet);
- activate: start stepping (real time: the ticker; lock-step: controls are
  taken);
- deactivate: stop stepping with the state as it is, and say so: the
  latched ``episode`` topic reads ``halted: plant node deactivated``, which
  legacy clients hear as HALTED, and ``/diagnostics`` reads ``inactive``.
  Activating again starts a new episode at t = 0 (a frozen real-time plant
  cannot go on without a jump in its time);
- cleanup / shutdown: release the plant, its topics and its services.
"""

from diagnostic_msgs.msg import DiagnosticStatus
from rclpy.lifecycle import LifecycleNode, TransitionCallbackReturn

from . import contract, diagnostics
from .params import StartError
from .plant_door import PlantDoor

INACTIVE = 'plant node deactivated'


class ManagedPlantNode(PlantDoor, LifecycleNode):
    """The plant node with a lifecycle: configure, activate, deactivate, cleanup."""

    def __init__(self, node_name='plant', namespace='dip', busy_poll_us=None, **kwargs):
        super().__init__(node_name, namespace=namespace, **kwargs)
        self.host = None
        self._busy_poll_default = busy_poll_us
        self._active = False
        self.get_logger().info(f'unconfigured: steps once configured and activated (ros2 '
                               f'lifecycle set {self.get_fully_qualified_name()} configure, '
                               'then activate)')

    # -- transitions ---------------------------------------------------------
    def on_configure(self, state):
        try:
            self._wire(self._declare(self._busy_poll_default))
        except StartError as exc:
            self.get_logger().error(f'cannot configure: {exc}')
            self.host = None
            return TransitionCallbackReturn.FAILURE
        self.get_logger().info(f'configured: {self.mode} plant, dt={self.plant.dt:g} s; '
                               'activate to start stepping')
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state):
        self._start()
        self._active = True
        return TransitionCallbackReturn.SUCCESS

    def on_deactivate(self, state):
        self._active = False
        self._freeze()
        self.topics.episode.publish(contract.episode_msg(
            contract.HALTED, self._ros_output.episode_ns, INACTIVE))
        self._publish_diagnostics()
        self.get_logger().info('deactivated: stepping stopped, the state frozen')
        return TransitionCallbackReturn.SUCCESS

    def on_cleanup(self, state):
        self._release_all()
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state):
        self._release_all()
        return TransitionCallbackReturn.SUCCESS

    def on_error(self, state):
        self._release_all()
        return TransitionCallbackReturn.SUCCESS

    def _release_all(self):
        if self.host is None:
            return
        if self._active:
            self._active = False
            self._freeze()
        self.host.stop()                 # never activated: its recorder's thread too
        self._release()
        self.host = None

    # -- what it says --------------------------------------------------------
    def _publish_diagnostics(self):
        if self._active:
            return super()._publish_diagnostics()
        status = self.host.plant_status()
        status['state'] = 'inactive'
        self._diagnostics_pub.publish(diagnostics.array(
            self, status, DiagnosticStatus.WARN, 'inactive: the plant does not step'))

    def stop(self):
        """Stop stepping and release everything (idempotent); before destroying the node."""
        self._release_all()

    def destroy_node(self):
        self.stop()
        return super().destroy_node()
