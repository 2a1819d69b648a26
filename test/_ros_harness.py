"""
Helpers for tests with real rclpy: spinning, subprocess nodes.

Imported first by every ROS test module, so that a machine without rclpy
skips those modules with the reason below instead of failing to collect.
"""

import time

import pytest

# exc_type: an rclpy whose libraries fail to load skips too, on pytest 8 and 9
# alike (pytest 9 warns, and 9.1 fails, on a bare ImportError otherwise).
rclpy = pytest.importorskip('rclpy', reason='rclpy (ROS 2 wheels or a sourced ROS) is needed',
                            exc_type=ImportError)
from rclpy.executors import SingleThreadedExecutor  # noqa: E402

# Re-exported: the test modules take everything from here.
from _node_processes import (bridge_port, node_env, NodeProcess, REPO,  # noqa: E402, F401, I100
                             RUNNING, start_module, wait_until_served)


class Harness:
    """rclpy initialised with one executor; nodes added are destroyed at exit."""

    def __init__(self):
        rclpy.init()
        self.executor = SingleThreadedExecutor()
        self.nodes = []

    def add(self, node):
        self.nodes.append(node)
        self.executor.add_node(node)
        return node

    def spin_until(self, predicate, timeout=10.0):
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                return False
            self.executor.spin_once(timeout_sec=0.01)
        return True

    def spin_for(self, seconds):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.executor.spin_once(timeout_sec=0.01)

    def close(self):
        for node in reversed(self.nodes):
            if hasattr(node, 'stop'):
                node.stop()
            node.destroy_node()
        self.executor.shutdown()
        rclpy.shutdown()
