"""Reference clients of the legacy protocols and their controllers (no ROS)."""
