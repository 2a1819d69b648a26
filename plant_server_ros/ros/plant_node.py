"""
ROS 2 node ``plant``: the plant core on the ROS graph.

The plant host (:mod:`plant_server_ros.runtime.host`) builds and runs the
plant; this node declares the parameters (from the settings table), turns
messages into controls and resets, and hands the host a listener that turns
samples into messages (:mod:`.plant_output`).  Names and QoS: :mod:`.contract`.

Topics (relative, default namespace ``dip``): ``state`` and ``ground_truth``
(sensor_msgs/JointState), ``episode`` (std_msgs/Header, latched),
``episode_info`` (std_msgs/String, JSON, latched), ``events`` (std_msgs/String,
JSON), ``control`` (std_msgs/Float64 in), ``disturbance``
(std_msgs/Float64MultiArray in), ``reset_to`` (JointState in), ``faults``
(std_msgs/String in: a fault spec as JSON, YAML or a line, or ``clear``;
docs/faults.md), ``/clock`` in lock-step.  Services: ``reset`` and ``estop``
(std_srvs/Trigger).
"""

from rclpy.node import Node

from .plant_door import PlantDoor


class PlantNode(PlantDoor, Node):
    """The plant as a ROS node: parameters and topics around a plant host."""

    def __init__(self, node_name='plant', namespace='dip', busy_poll_us=None, wait=False,
                 **kwargs):
        super().__init__(node_name, namespace=namespace, **kwargs)
        self.host = None
        self._wire(self._declare(busy_poll_us))
        if not wait:
            self._start()

    def begin(self):
        """Start stepping now (a node made with ``wait=True``; idempotent)."""
        if self._control_thread is None:
            self._start()

    def destroy_node(self):
        self.stop()
        return super().destroy_node()


def main(args=None):
    """Entry point of ``plant_node`` (``plant_node --managed``: the lifecycle node)."""
    import sys
    from .node_runner import run_process
    argv = list(sys.argv if args is None else args)
    if '--managed' in argv:
        from .managed_plant_node import ManagedPlantNode
        argv.remove('--managed')
        return run_process(argv, [ManagedPlantNode])
    return run_process(argv, [PlantNode])


if __name__ == '__main__':
    raise SystemExit(main())
