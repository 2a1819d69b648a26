"""
Drive the plant from ros2_control: the HIL plant plus ``ros2_control_node`` and its spawners.

    ros2 launch plant_server_ros ros2_control.launch.py
    ros2 topic pub /effort_controller/commands std_msgs/msg/Float64MultiArray "{data: [2.0]}"

The plant comes from ``hil.launch.py`` with every argument of it
(``namespace:=``, ``mode:=``, ``max_force:=``, ...).  Where ros2_control is
installed (each package of :data:`NEEDED` in the ament index: controller_manager,
joint_state_topic_hardware_interface, joint_state_broadcaster,
effort_controllers, robot_state_publisher; and ``xacro``), this also
starts, in the root namespace:

* ``robot_state_publisher`` with ``urdf/dip_ros2_control.urdf.xacro``: it
  publishes ``/robot_description``, which ``ros2_control_node`` reads, and
  draws ``/joint_states`` with frames prefixed ``measured/`` (the plant's
  own ``/tf`` is the ground truth, unprefixed);
* ``ros2_control_node`` with ``config/ros2_control_controllers.yaml``;
* the spawner of ``joint_state_broadcaster`` and ``effort_controller``.

Elsewhere it logs one line naming every missing package, says it skips them
and runs the plant alone (not a failure at plugin load, later).
See docs/ros2_control.md (lock-step: ``mode:=lockstep use_sim_time:=true``).
"""

from pathlib import Path

from launch import LaunchDescription
from launch.actions import (DeclareLaunchArgument, IncludeLaunchDescription, LogInfo,
                            OpaqueFunction)
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

SHARE = Path(__file__).resolve().parent.parent     # the source tree or share/plant_server_ros
DESCRIPTION = SHARE / 'urdf' / 'dip_ros2_control.urdf.xacro'
CONTROLLERS = SHARE / 'config' / 'ros2_control_controllers.yaml'


# The ROS packages ros2_control needs here, and what each is for (ament index names).
NEEDED = (
    ('controller_manager', 'ros2_control_node and its spawner'),
    ('joint_state_topic_hardware_interface', 'the hardware plugin of the URDF '
     '(joint_state_topic_hardware_interface/JointStateTopicSystem)'),
    ('joint_state_broadcaster', 'the joint_state_broadcaster controller (ros2_controllers)'),
    ('effort_controllers', 'the effort_controller (ros2_controllers)'),
    ('robot_state_publisher', '/robot_description for ros2_control_node'),
)


def _ros2_control_missing(has_package=None):
    """
    Return why ros2_control cannot start here (every missing package, one line), or None.

    ``has_package(name)``: whether the ament index knows ``name`` (default:
    ``ament_index_python``'s ``packages`` resource).
    """
    if has_package is None:
        try:
            from ament_index_python.packages import get_package_prefix, PackageNotFoundError
        except ImportError:
            return 'ament_index_python is not installed'

        def has_package(name):
            try:
                get_package_prefix(name)
            except PackageNotFoundError:
                return False
            return True
    missing = [f'{name} ({what})' for name, what in NEEDED if not has_package(name)]
    try:
        import xacro  # noqa: F401
    except ImportError:
        missing.append('xacro (the Python package that expands the URDF)')
    if missing:
        return f'not installed: {"; ".join(missing)}'
    return None


def robot_description(namespace):
    """Return the URDF with its ``<ros2_control>`` block for the plant in ``namespace``."""
    import xacro
    return xacro.process_file(str(DESCRIPTION), mappings={
        'namespace': '/' + namespace.strip('/')}).toxml()


def _ros2_control(context):
    missing = _ros2_control_missing()
    if missing:
        return [LogInfo(msg=f'{missing}: skipping ros2_control_node and its spawners; the '
                        'plant runs alone (its joint_commands topic waits for commands)')]
    description = robot_description(LaunchConfiguration('namespace').perform(context))
    sim_time = LaunchConfiguration('use_sim_time').perform(context).lower() in ('true', '1')
    common = {'use_sim_time': sim_time}
    return [
        Node(package='robot_state_publisher', executable='robot_state_publisher',
             parameters=[{'robot_description': description, 'frame_prefix': 'measured/',
                          **common}], output='screen'),
        Node(package='controller_manager', executable='ros2_control_node',
             parameters=[str(CONTROLLERS), common], output='screen'),
        Node(package='controller_manager', executable='spawner', output='screen',
             arguments=['joint_state_broadcaster', 'effort_controller',
                        '--controller-manager', '/controller_manager']),
    ]


def generate_launch_description():
    """Declare the plant's namespace; include the plant, then ros2_control where it is."""
    return LaunchDescription([
        DeclareLaunchArgument('namespace', default_value='dip',
                              description='namespace of the plant (and its bridge)'),
        DeclareLaunchArgument('use_sim_time', default_value='',
                              description='use_sim_time of every node (true with '
                              'mode:=lockstep: the plant advances /clock)'),
        IncludeLaunchDescription(PythonLaunchDescriptionSource(
            str(SHARE / 'launch' / 'hil.launch.py'))),
        OpaqueFunction(function=_ros2_control),
    ])
