"""Keep DDS on loopback and on a domain of this run's own, before rclpy loads."""

import os

os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
# A domain per run unless the caller (CI, a bench) chose one: parallel runs
# on one machine must not hear each other.
os.environ.setdefault('ROS_DOMAIN_ID', str(1 + os.getpid() % 100))
