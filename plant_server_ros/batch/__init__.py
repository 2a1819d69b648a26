"""N plants advanced together (numpy only, no ROS): :class:`~.plant_batch.PlantBatch`."""

from .plant_batch import PlantBatch, REASONS  # noqa: F401
