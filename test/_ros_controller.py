"""
A ROS controller node for test/test_dip_test.py: LQR on ``state`` -> ``control``.

It knows nothing of episodes: every state it hears gets a force.  Its
namespace is ``DIP_NAMESPACE`` (set by ``dip_test --door ros``).
"""

import os

from plant_server_ros.clients import controllers
from plant_server_ros.ros import contract
import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64


class LqrNode(Node):
    """Answer each state with the LQR's force."""

    def __init__(self):
        super().__init__('lqr_controller', namespace=os.environ.get('DIP_NAMESPACE', '/dip'))
        self.lqr = controllers.lqr(0.01, 20.0)
        self.pub = self.create_publisher(Float64, contract.CONTROL, contract.CONTROL_QOS)
        self.create_subscription(JointState, contract.STATE, self.on_state, contract.STATE_QOS)

    def on_state(self, msg):
        state = list(msg.position[:3]) + list(msg.velocity[:3])
        self.pub.publish(Float64(data=float(self.lqr(state))))


def main():
    rclpy.init()
    node = LqrNode()
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == '__main__':
    main()
