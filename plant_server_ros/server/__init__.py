"""The ROS-free door: the original project's ``PlantServer`` and ``dip_plant_server``."""
