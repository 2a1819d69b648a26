"""Test conditions: sensors, actuator, disturbances, safety, uncertainty, network; scenarios."""
