"""
``dip_hil``: the plant and the bridge in one process, for machines without ``ros2 launch``.

Takes the standard ``--ros-args`` (``--params-file``, ``-p``, ``-r __ns:=/dip2``);
remaps and parameters apply to both nodes, as with one launch file.  Without
``--params-file`` both nodes start from their declared defaults, which are
the values of ``config/plant_server.yaml``.

Busy polling (``busy_poll_us``) defaults to off here: two polling threads
in one interpreter fight over its lock, and the lock-step round trip gets
slower, not faster (``bench/bench_bridge.py --one-process`` measures it).
A value given with ``-p`` or a params file still wins.
"""

from functools import partial

from .bridge_node import BridgeNode
from .node_runner import run_process
from .plant_node import PlantNode
from ..runtime.settings import SETTINGS


def main(args=None):
    """Entry point of ``dip_hil``: plant first, so the bridge finds its topics."""
    poll = SETTINGS['busy_poll_us'].default_for('dip_hil')
    # The plant waits until the bridge has its port: a second dip_hil on a port in
    # use ends before its plant publishes a sample onto the running one's topics.
    return run_process(args, [partial(PlantNode, busy_poll_us=poll, wait=True),
                              partial(BridgeNode, busy_poll_us=poll)])


if __name__ == '__main__':
    raise SystemExit(main())
