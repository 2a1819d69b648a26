"""
``launch/hil.launch.py`` with the real ``launch`` / ``launch_ros``.

Neither is on PyPI: where they are not importable these tests skip and say
so.  With them, the description is inspected, and the file is run for real
from a colcon install (a client is served; ``max_steps`` ends the launch).
"""

import importlib.util
import os
from pathlib import Path
import subprocess
import sys
import textwrap

import pytest

# ``launch.actions``, not ``launch``: this repository's launch/ folder alone
# would import as an empty namespace package.
pytest.importorskip(
    'launch.actions', reason='the ROS package "launch" is not installed (it is on no '
    'package registry; it comes with a ROS 2 distribution)')
launch_ros = pytest.importorskip(
    'launch_ros', reason='the ROS package "launch_ros" is not installed (it is on no '
    'package registry; it comes with a ROS 2 distribution)')

from _ros_harness import wait_until_served  # noqa: E402, I100
import launch  # noqa: E402
from launch.actions import (DeclareLaunchArgument, OpaqueFunction,  # noqa: E402
                            RegisterEventHandler)
from launch.substitutions import TextSubstitution  # noqa: E402
from launch.utilities import perform_substitutions  # noqa: E402
from launch_ros.actions import Node  # noqa: E402
import yaml  # noqa: E402

LAUNCH_FILE = Path(__file__).resolve().parents[1] / 'launch' / 'hil.launch.py'
CONFIG = Path(__file__).resolve().parents[1] / 'config' / 'plant_server.yaml'


def load_description():
    spec = importlib.util.spec_from_file_location('hil_launch', LAUNCH_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.generate_launch_description()


def expand(arguments):
    """Execute the description's actions in a context; return (context, nodes, others)."""
    description = load_description()
    context = launch.LaunchContext()
    for name, value in arguments.items():
        context.launch_configurations[name] = value
    declared = [e for e in description.entities if isinstance(e, DeclareLaunchArgument)]
    for action in declared:
        action.execute(context)
    opaque = [e for e in description.entities if isinstance(e, OpaqueFunction)]
    actions = [a for op in opaque for a in op.execute(context)]
    nodes = [a for a in actions if isinstance(a, Node)]
    for node in nodes:
        node._perform_substitutions(context)
    return context, declared, nodes, [a for a in actions if not isinstance(a, Node)]


def params_files(context, node):
    """Return the ``--params-file`` arguments of the node's command line, in order."""
    words = [perform_substitutions(context, part) for part in node.cmd
             if all(isinstance(s, TextSubstitution) for s in part)]
    return [words[i + 1] for i, w in enumerate(words) if w == '--params-file']


def test_arguments_and_defaults():
    _, declared, _, _ = expand({'params_file': str(CONFIG)})
    names = {a.name: a for a in declared}
    assert set(names) >= {'namespace', 'params_file', 'port', 'bind_address', 'mode',
                          'sensor_noise_std', 'dt'}
    assert perform_substitutions(launch.LaunchContext(),
                                 names['namespace'].default_value) == 'dip'
    default_file = names['params_file'].default_value[0]
    assert 'FindPackageShare' in type(default_file.substitutions[0]).__name__


def test_nodes_namespace_and_parameters():
    context, _, nodes, others = expand({'params_file': str(CONFIG)})
    assert sorted((n.node_package, n.node_executable, n.node_name) for n in nodes) == [
        ('plant_server_ros', 'bridge_node', '/dip/bridge'),
        ('plant_server_ros', 'plant_node', '/dip/plant')]
    for node in nodes:
        files = params_files(context, node)
        assert files[0] == str(CONFIG)
        # No knob given: the overrides layer is empty and the file decides.
        assert yaml.safe_load(Path(files[1]).read_text()) == {
            node.node_name: {'ros__parameters': {}}}
    assert any(isinstance(o, RegisterEventHandler) for o in others)


def test_knob_arguments_override_the_file_only_when_given():
    context, _, nodes, _ = expand({'params_file': str(CONFIG), 'namespace': 'dip2',
                                   'port': '5556', 'mode': 'lockstep', 'dt': '0.005'})
    by_exe = {n.node_executable: n for n in nodes}
    assert by_exe['plant_node'].node_name == '/dip2/plant'
    plant_over = yaml.safe_load(Path(params_files(context, by_exe['plant_node'])[1]).read_text())
    bridge_over = yaml.safe_load(
        Path(params_files(context, by_exe['bridge_node'])[1]).read_text())
    assert plant_over == {'/dip2/plant': {'ros__parameters': {'mode': 'lockstep', 'dt': 0.005}}}
    assert bridge_over == {'/dip2/bridge': {'ros__parameters': {'port': 5556}}}


RUN_LAUNCH = textwrap.dedent("""
    import sys
    from launch import LaunchService
    from launch.actions import IncludeLaunchDescription
    from launch.launch_description_sources import PythonLaunchDescriptionSource
    service = LaunchService()
    service.include_launch_description(IncludeLaunchDescription(
        PythonLaunchDescriptionSource(sys.argv[1]),
        launch_arguments=[a.split(':=', 1) for a in sys.argv[2:]]))
    sys.exit(service.run())
""")


def run_launch(install, *arguments):
    """Start the installed launch file as ``ros2 launch`` would, in its own process."""
    env = dict(os.environ)
    site = next(install.glob('lib/python3*/site-packages'))
    env['PYTHONPATH'] = os.pathsep.join([str(site), env.get('PYTHONPATH', '')])
    env['AMENT_PREFIX_PATH'] = os.pathsep.join([str(install),
                                                env.get('AMENT_PREFIX_PATH', '')])
    launch_file = install / 'share' / 'plant_server_ros' / 'launch' / 'hil.launch.py'
    return subprocess.Popen([sys.executable, '-c', RUN_LAUNCH, str(launch_file), *arguments],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


def test_launch_serves_a_client_and_ends_with_the_plant(colcon_install, tmp_path):
    params = yaml.safe_load(CONFIG.read_text())
    params['/**/plant']['ros__parameters'].update(mode='lockstep', max_steps=300)
    params_file = tmp_path / 'params.yaml'
    params_file.write_text(yaml.safe_dump(params))
    proc = run_launch(colcon_install, 'namespace:=launched', 'port:=5571',
                      f'params_file:={params_file}')
    try:
        state, t = wait_until_served(5571)
        assert t == 0.0
        from plant_server_ros.clients.tcp_client import LegacyClient
        from plant_server_ros.legacy.protocol import ErrorCode, ProtocolError
        with LegacyClient(port=5571) as client:
            with pytest.raises(ProtocolError) as err:
                for _ in range(400):
                    client.control(0.0)
            assert err.value.code is ErrorCode.FINISHED
        out, _ = proc.communicate(timeout=20)   # the plant exited: the launch ends itself
        assert proc.returncode == 0, out
        assert 'max_steps=300 reached' in out
    finally:
        if proc.poll() is None:
            proc.send_signal(2)
            proc.communicate(timeout=20)
