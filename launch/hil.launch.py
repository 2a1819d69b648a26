"""
Start the HIL plant: ``plant_node`` and ``bridge_node`` in one namespace.

    ros2 launch plant_server_ros hil.launch.py
    ros2 launch plant_server_ros hil.launch.py namespace:=dip2 port:=5556 mode:=lockstep

Parameters come from ``params_file`` (default: the package's
``config/plant_server.yaml``); the knob arguments (``port``, ``bind_address``,
``mode``, ``sensor_noise_std``, ``dt``) override it only when given.  When the
plant exits (``max_steps``) the whole launch shuts down.
"""

from launch import LaunchDescription
from launch.actions import (DeclareLaunchArgument, EmitEvent, OpaqueFunction,
                            RegisterEventHandler)
from launch.event_handlers import OnProcessExit
from launch.events import Shutdown
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare
import yaml

PACKAGE = 'plant_server_ros'
PLANT_KNOBS = {
    'mode': 'realtime | lockstep',
    'sensor_noise_std': 'std of the additive sensor noise',
    'dt': 'control period [s]',
}
BRIDGE_KNOBS = {
    'port': 'TCP port of the legacy protocol',
    'bind_address': 'address the bridge listens on',
}


def _overrides(context, knobs):
    """Return the knob arguments that were given, typed as YAML reads them."""
    values = {}
    for name in knobs:
        text = LaunchConfiguration(name).perform(context)
        if text != '':
            values[name] = yaml.safe_load(text)
    return values


def _nodes(context):
    namespace = LaunchConfiguration('namespace')
    params_file = LaunchConfiguration('params_file')
    plant = Node(
        package=PACKAGE, executable='plant_node', name='plant', namespace=namespace,
        parameters=[params_file, _overrides(context, PLANT_KNOBS)],
        output='screen', emulate_tty=True)
    bridge = Node(
        package=PACKAGE, executable='bridge_node', name='bridge', namespace=namespace,
        parameters=[params_file, _overrides(context, BRIDGE_KNOBS)],
        output='screen', emulate_tty=True)
    shutdown_with_plant = RegisterEventHandler(OnProcessExit(
        target_action=plant,
        on_exit=[EmitEvent(event=Shutdown(reason='the plant exited'))]))
    return [plant, bridge, shutdown_with_plant]


def generate_launch_description():
    """Declare the arguments; the nodes are built once they are known."""
    arguments = [
        DeclareLaunchArgument('namespace', default_value='dip',
                              description='namespace of both nodes and their topics'),
        DeclareLaunchArgument(
            'params_file',
            default_value=PathJoinSubstitution(
                [FindPackageShare(PACKAGE), 'config', 'plant_server.yaml']),
            description='ROS parameters file for the plant and the bridge'),
    ]
    for name, doc in {**PLANT_KNOBS, **BRIDGE_KNOBS}.items():
        arguments.append(DeclareLaunchArgument(
            name, default_value='', description=f'{doc} (empty: from params_file)'))
    return LaunchDescription(arguments + [OpaqueFunction(function=_nodes)])
