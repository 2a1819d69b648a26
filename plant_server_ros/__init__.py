"""
plant_server_ros: a double inverted pendulum on a cart as a HIL test plant.

``from plant_server_ros import PlantServer`` needs no ROS: the ROS nodes
live in :mod:`plant_server_ros.ros` and are imported only from there.
"""

__all__ = ['PlantServer']


def __getattr__(name):
    # Lazy, so that importing a submodule (a ROS node, the codec) does not
    # build the server's imports too.
    if name == 'PlantServer':
        from .server.plant_server import PlantServer
        return PlantServer
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
