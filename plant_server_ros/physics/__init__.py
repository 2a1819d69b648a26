"""The physics model: dynamics, integrators, geometry, the state check (no ROS, no sockets)."""
