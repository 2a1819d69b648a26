"""
plant_server_ros: a double inverted pendulum on a cart as a HIL test plant.

``from plant_server_ros import PlantServer`` needs no ROS: the ROS nodes
live in :mod:`plant_server_ros.ros` and are imported only from there.
"""

__all__ = ['load_config', 'PlantServer', 'start_server']


def __getattr__(name):
    # Lazy, so that importing a submodule (a ROS node, the codec) does not
    # build the server's imports too.
    if name in ('PlantServer', 'start_server'):
        from .server import plant_server
        return getattr(plant_server, name)
    if name == 'load_config':
        from .server.config import load_config
        return load_config
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
