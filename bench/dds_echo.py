"""
Floor for bench_bridge: answer each Float64 on ``ping`` with a JointState on ``pong``.

The same message types and the same executor-free wait as the plant's
lock-step path, but no physics: what two rclpy processes cost per round trip.

    python bench/dds_echo.py NAMESPACE SECONDS
"""

import sys
import time

import _common  # noqa: F401 - makes this checkout importable
from plant_server_ros.ros.messages import joint_state, new_joint_state
from plant_server_ros.ros.subscription_waiter import SubscriptionWaiter
import rclpy
from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64


def main():
    namespace, seconds = sys.argv[1], float(sys.argv[2])
    rclpy.init()
    node = Node('dds_echo', namespace=namespace)
    pub = node.create_publisher(JointState, 'pong', 100)
    pings = SubscriptionWaiter(node, Float64, 'ping', 10, 'pings')
    msg = new_joint_state()
    end = time.monotonic() + seconds
    try:
        while time.monotonic() < end:
            ping = pings.take()
            if ping is None:
                pings.wait(0.1)
                continue
            pub.publish(joint_state(msg, 0, (ping.data,) * 6, ping.data))
    except KeyboardInterrupt:
        pass
    finally:
        pings.close()
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == '__main__':
    main()
