"""
``dip_hil``: the plant and the bridge in one process, for machines without ``ros2 launch``.

Takes the standard ``--ros-args`` (``--params-file``, ``-p``, ``-r __ns:=/dip2``);
remaps and parameters apply to both nodes, as with one launch file.  Without
``--params-file`` both nodes start from their declared defaults, which are
the values of ``config/plant_server.yaml``.

Busy polling (``busy_poll_us``) is off here: two polling threads in one
interpreter fight over its lock, and the lock-step round trip gets slower,
not faster (``bench/bench_bridge.py --one-process`` measures it).
"""

from functools import partial

from rclpy.parameter import Parameter

from .bridge_node import BridgeNode
from .node_runner import run_nodes
from .plant_node import PlantNode

NO_POLLING = [Parameter('busy_poll_us', value=0)]


def main(args=None):
    """Entry point of ``dip_hil``: plant first, so the bridge finds its topics."""
    return run_nodes(args, [partial(PlantNode, parameter_overrides=NO_POLLING),
                            partial(BridgeNode, parameter_overrides=NO_POLLING)])


if __name__ == '__main__':
    raise SystemExit(main())
