"""The legacy protocols of docs/PROTOCOL.md and their transports (no ROS)."""
