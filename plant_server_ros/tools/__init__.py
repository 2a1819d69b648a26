"""Offline tools on recorded episodes (no ROS)."""
