"""
Start the HIL plant: ``plant_node`` and ``bridge_node`` in one namespace.

    ros2 launch plant_server_ros hil.launch.py
    ros2 launch plant_server_ros hil.launch.py namespace:=dip2 port:=5556 mode:=lockstep
    ros2 launch plant_server_ros hil.launch.py max_steps:=5000 seed:=3 log_level:=debug
    ros2 launch plant_server_ros hil.launch.py controller:=lqr    # + dip_controller

Parameters come from ``params_file`` (default: the package's
``config/plant_server.yaml``).  Every setting of the package's settings table
(:mod:`plant_server_ros.runtime.settings`, which that file follows) is also a
launch argument of the same name (``physics.cart_mass:=1.8``;
``plant_busy_poll_us`` and ``bridge_busy_poll_us`` for the one name both
nodes have): given, it overrides the file; left empty, the file decides.  When either node exits
the whole launch shuts down: with code 0 after a clean exit (``max_steps``),
non-zero when a node failed (a port in use, a bad parameter: exit code 2).
``controller:=lqr`` or ``pd`` also starts the reference controller
(``dip_controller``, node ``controller``) in the namespace, designed for the
plant's ``dt``, ``max_force`` and ``sensor_noise_std``, and starts the plant
with ``wait_for_control:=true`` (unless given): the plant holds its initial
state until the controller's first control, so the episode starts balanced
whichever process comes up first; the default ``none`` starts no controller.
``lifecycle:=true`` runs the plant as a managed node (``plant_node --managed``):
it waits unconfigured until ``ros2 lifecycle set /dip/plant configure`` and
``activate``.
"""

from pathlib import Path
import shutil

from launch import LaunchDescription
from launch.actions import (DeclareLaunchArgument, EmitEvent, LogInfo, OpaqueFunction,
                            RegisterEventHandler)
from launch.event_handlers import OnProcessExit
from launch.events import Shutdown
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import LifecycleNode, Node
from launch_ros.substitutions import FindPackageShare
from plant_server_ros.runtime.settings import of_node
import yaml

PACKAGE = 'plant_server_ros'
NODES = ('plant', 'bridge')
CONTROLLERS = ('none', 'lqr', 'pd')
# The package's share/ (the rviz config and URDF beside this file's launch/).
DEFAULTS = Path(__file__).resolve().parent.parent / 'config' / 'plant_server.yaml'


def _flatten(tree, prefix=''):
    for key, value in tree.items():
        if isinstance(value, dict):
            yield from _flatten(value, f'{prefix}{key}.')
        else:
            yield f'{prefix}{key}', value


def _parameters():
    """Return ``{node: {parameter: default}}`` of the settings table."""
    return {node: {s.name: s.default_for(node) for s in of_node(node)} for node in NODES}


def _argument_names(parameters):
    """Return ``{node: {parameter: launch argument}}``; a shared name gets a node prefix."""
    counts = {}
    for params in parameters.values():
        for name in params:
            counts[name] = counts.get(name, 0) + 1
    return {node: {name: (f'{node}_{name}' if counts[name] > 1 else name) for name in params}
            for node, params in parameters.items()}


def _typed(text, default):
    """Read ``text`` as YAML, then as the default's type (5 -> 5.0 for a double)."""
    value = yaml.safe_load(text)
    if isinstance(default, bool) or isinstance(default, str):
        return type(default)(value) if not isinstance(value, type(default)) else value
    if isinstance(default, float):
        return float(value)
    if isinstance(default, list) and default and isinstance(default[0], float):
        return [float(v) for v in value]
    return value


def _nodes(context):
    parameters = _parameters()
    arguments = _argument_names(parameters)
    namespace = LaunchConfiguration('namespace')
    log_level = LaunchConfiguration('log_level').perform(context)
    use_sim_time = LaunchConfiguration('use_sim_time').perform(context)
    actions = []
    law = LaunchConfiguration('controller').perform(context)
    for node in NODES:
        overrides = {}
        if node == 'plant' and law != 'none':
            # The plant waits for the controller's first control: the episode starts
            # balanced, however long the controller takes to start and find it.
            overrides['wait_for_control'] = True
        for name, argument in arguments[node].items():
            text = LaunchConfiguration(argument).perform(context)
            if text != '':
                overrides[name] = _typed(text, parameters[node][name])
        if use_sim_time != '':
            overrides['use_sim_time'] = _typed(use_sim_time, False)
        managed = node == 'plant' and _true(LaunchConfiguration('lifecycle').perform(context))
        action = (LifecycleNode if managed else Node)(
            package=PACKAGE, executable=f'{node}_node', name=node, namespace=namespace,
            parameters=[LaunchConfiguration('params_file'), overrides],
            arguments=['--managed'] if managed else [],
            ros_arguments=['--log-level', log_level],
            output='screen', emulate_tty=True)
        actions.append(action)
        actions.append(RegisterEventHandler(OnProcessExit(
            target_action=action, on_exit=_end_with(node))))
    actions += _controller(context, namespace, log_level, use_sim_time, parameters)
    if _true(LaunchConfiguration('rviz').perform(context)):
        actions += _rviz(namespace)
    return actions


def _controller(context, namespace, log_level, use_sim_time, parameters):
    """Return the dip_controller node and its exit handler, for ``controller:=lqr|pd``."""
    law = LaunchConfiguration('controller').perform(context)
    if law not in CONTROLLERS:
        raise ValueError(f'controller:={law}: one of {", ".join(CONTROLLERS)}')
    if law == 'none':
        return []
    # Designed for the plant it drives: its dt and max_force, as the plant gets them.
    given = yaml.safe_load(Path(LaunchConfiguration('params_file').perform(context))
                           .read_text())
    plant = dict(_flatten(given.get('/**/plant', {}).get('ros__parameters', {})))
    settings = {'law': law}
    for name in ('dt', 'max_force', 'sensor_noise_std'):   # its filter's noise too
        text = LaunchConfiguration(name).perform(context)
        value = _typed(text, 0.0) if text != '' else plant.get(name, parameters['plant'][name])
        settings[name] = float(value)
    if use_sim_time != '':
        settings['use_sim_time'] = _typed(use_sim_time, False)
    action = Node(package=PACKAGE, executable='dip_controller', name='controller',
                  namespace=namespace, parameters=[settings],
                  ros_arguments=['--log-level', log_level], output='screen', emulate_tty=True)
    return [action, RegisterEventHandler(OnProcessExit(target_action=action,
                                                       on_exit=_end_with('controller')))]


def _true(text):
    return text.lower() in ('true', '1', 'yes')


def _rviz(namespace):
    """Return rviz2 (and robot_state_publisher for the URDF) where they are installed."""
    share = DEFAULTS.parent.parent
    if shutil.which('rviz2') is None:
        return [LogInfo(msg='rviz:=true, but rviz2 is not installed: the plant publishes '
                        'markers and joint_states for it anyway')]
    actions = [Node(package='rviz2', executable='rviz2', name='rviz', namespace=namespace,
                    arguments=['-d', str(share / 'rviz' / 'dip.rviz')], output='screen')]
    urdf = share / 'urdf' / 'dip.urdf'
    if urdf.exists():
        actions.append(Node(package='robot_state_publisher', executable='robot_state_publisher',
                            namespace=namespace, output='screen',
                            parameters=[{'robot_description': urdf.read_text()}]))
    return actions


class NodeFailed(RuntimeError):
    """A node exited with a non-zero code: ``ros2 launch`` reports it and returns 1."""


def _end_with(node):
    def on_exit(event, context):
        if event.returncode:
            # An exception is how a launch ends non-zero (LaunchService.run).
            raise NodeFailed(f'the {node} exited with code {event.returncode}')
        return [EmitEvent(event=Shutdown(reason=f'the {node} exited'))]
    return on_exit


def generate_launch_description():
    """Declare the arguments; the nodes are built once they are known."""
    declared = [
        DeclareLaunchArgument('namespace', default_value='dip',
                              description='namespace of both nodes and their topics'),
        DeclareLaunchArgument(
            'params_file',
            default_value=PathJoinSubstitution(
                [FindPackageShare(PACKAGE), 'config', 'plant_server.yaml']),
            description='ROS parameters file for the plant and the bridge'),
        DeclareLaunchArgument('use_sim_time', default_value='',
                              description='use_sim_time of both nodes (empty: false)'),
        DeclareLaunchArgument('rviz', default_value='false',
                              description='start rviz2 (and robot_state_publisher) where '
                              'installed'),
        DeclareLaunchArgument('controller', default_value='none',
                              description='start the reference controller dip_controller: '
                              'lqr, pd or none'),
        DeclareLaunchArgument('lifecycle', default_value='false',
                              description='run the plant as a managed (lifecycle) node: it '
                              'steps once configured and activated (ros2 lifecycle set)'),
        DeclareLaunchArgument('log_level', default_value='info',
                              description='log level of both nodes (debug, info, warn, '
                              'error, fatal)'),
    ]
    parameters = _parameters()
    for node, names in _argument_names(parameters).items():
        for name, argument in names.items():
            declared.append(DeclareLaunchArgument(
                argument, default_value='',
                description=f'{node} parameter {name} (empty: from params_file; '
                f'the package default is {parameters[node][name]!r})'))
    return LaunchDescription(declared + [OpaqueFunction(function=_nodes)])
