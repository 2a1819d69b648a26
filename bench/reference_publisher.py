"""
Reference for bench_timing: the best a Python publisher does here.

Publishes a JointState every ``period`` seconds, sleeping to absolute
deadlines and busy-waiting the last 200 us; no plant, no executor in the
loop.  Its arrival jitter at a subscriber is the delivery floor.

    python bench/reference_publisher.py TOPIC PERIOD SECONDS
"""

import sys
import time

import rclpy
from rclpy.node import Node
from sensor_msgs.msg import JointState

BUSY_WAIT = 200e-6


def main():
    topic, period, seconds = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
    rclpy.init()
    node = Node('reference_publisher')
    pub = node.create_publisher(JointState, topic, 100)
    msg = JointState(name=['a', 'b', 'c'], position=[0.0] * 3, velocity=[0.0] * 3,
                     effort=[0.0] * 3)
    time.sleep(2.0)                               # let discovery settle
    t0 = time.monotonic()
    wall0 = time.time_ns()
    k = 0
    try:
        while k * period < seconds:
            k += 1
            deadline = t0 + k * period
            wait = deadline - time.monotonic() - BUSY_WAIT
            if wait > 0:
                time.sleep(wait)
            while time.monotonic() < deadline:
                pass
            ns = wall0 + round(k * period * 1e9)
            msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(ns, 1_000_000_000)
            pub.publish(msg)
    except KeyboardInterrupt:
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == '__main__':
    main()
