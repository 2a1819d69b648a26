"""The ROS 2 door: the ``plant`` and ``bridge`` nodes and their glue."""
