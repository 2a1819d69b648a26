"""The plant core: physics, one plant, and the schedules that step it (no ROS, no sockets)."""
