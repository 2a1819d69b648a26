"""
``launch/hil.launch.py`` with the real ``launch`` / ``launch_ros``.

Neither is on PyPI: where they are not importable these tests skip and say
so.  With them, the description is inspected, and the file is run for real
from a colcon install (a client is served; ``max_steps`` ends the launch).
"""

import importlib.util
import os
from pathlib import Path
import signal
import socket
import subprocess
import sys
import textwrap
import time

from _ros_harness import wait_until_served
import pytest
import yaml

# Without launch / launch_ros the tests skip, not the module: a module-level
# skip ends the collection of the whole folder under launch_testing's plugin
# (colcon test), see test_collection.py.  ``launch.actions``, not ``launch``:
# this repository's launch/ folder alone would import as an empty namespace package.
try:
    from launch.actions import (DeclareLaunchArgument, OpaqueFunction,
                                RegisterEventHandler)
    import launch
    from launch.substitutions import TextSubstitution
    from launch.utilities import perform_substitutions
    from launch_ros.actions import Node
except ImportError as exc:
    MISSING = (exc.name or 'launch').partition('.')[0]
else:
    MISSING = None

pytestmark = pytest.mark.skipif(
    MISSING is not None, reason=f'the ROS package "{MISSING}" is not installed (it is on no '
    'package registry; it comes with a ROS 2 distribution)')

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


def flatten(tree, prefix=''):
    out = []
    for key, value in tree.items():
        out += flatten(value, f'{prefix}{key}.') if isinstance(value, dict) else \
            [f'{prefix}{key}']
    return out


def params_files(context, node):
    """Return the ``--params-file`` arguments of the node's command line, in order."""
    words = [perform_substitutions(context, part) for part in node.cmd
             if all(isinstance(s, TextSubstitution) for s in part)]
    return [words[i + 1] for i, w in enumerate(words) if w == '--params-file']


def test_arguments_and_defaults():
    _, declared, _, _ = expand({'params_file': str(CONFIG)})
    names = {a.name: a for a in declared}
    # Every parameter of the params file is an argument (the one shared name twice).
    config = yaml.safe_load(CONFIG.read_text())
    for section in ('/**/plant', '/**/bridge'):
        for name in flatten(config[section]['ros__parameters']):
            assert name in names or name == 'busy_poll_us', name
    assert set(names) >= {'namespace', 'params_file', 'use_sim_time', 'log_level', 'port',
                          'udp_port', 'max_steps', 'seed', 'control_timeout',
                          'realtime_priority', 'physics.cart_mass', 'plant_busy_poll_us',
                          'bridge_busy_poll_us'}
    assert 'busy_poll_us' not in names
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
    # Either node's exit ends the launch.
    assert sum(isinstance(o, RegisterEventHandler) for o in others) == 2


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


def test_arguments_take_the_parameter_types():
    context, _, nodes, _ = expand({
        'params_file': str(CONFIG), 'max_force': '5', 'initial_state': '[0, 0.1, 0, 0, 0, 0]',
        'max_steps': '5000', 'use_sim_time': 'true', 'physics.cart_mass': '2',
        'plant_busy_poll_us': '0', 'udp_port': '9000', 'log_level': 'debug'})
    by_exe = {n.node_executable: n for n in nodes}
    # launch_ros writes a list as a tuple (!!python/tuple, which rcl reads as a list).
    plant_over = yaml.load(Path(params_files(context, by_exe['plant_node'])[1]).read_text(),
                           Loader=yaml.FullLoader)
    bridge_over = yaml.load(Path(params_files(context, by_exe['bridge_node'])[1]).read_text(),
                            Loader=yaml.FullLoader)
    assert plant_over['/dip/plant']['ros__parameters'] == {
        'max_force': 5.0, 'initial_state': (0.0, 0.1, 0.0, 0.0, 0.0, 0.0), 'max_steps': 5000,
        'use_sim_time': True, 'physics.cart_mass': 2.0, 'busy_poll_us': 0}
    assert bridge_over['/dip/bridge']['ros__parameters'] == {
        'udp_port': 9000, 'use_sim_time': True}
    words = [perform_substitutions(context, part) for node in nodes for part in node.cmd
             if all(isinstance(s, TextSubstitution) for s in part)]
    assert words.count('--log-level') == 2 and 'debug' in words


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
    # A session of its own: Ctrl-C is a SIGINT to the whole group (see ctrl_c).
    return subprocess.Popen([sys.executable, '-c', RUN_LAUNCH, str(launch_file), *arguments],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)


def ctrl_c(proc):
    """Interrupt as a terminal does: SIGINT to the launch and the nodes it started."""
    os.killpg(proc.pid, signal.SIGINT)


def free_port():
    probe = socket.socket()
    probe.bind(('127.0.0.1', 0))
    port = probe.getsockname()[1]
    probe.close()
    return port


def test_launch_serves_a_client_and_ends_with_the_plant(colcon_install, tmp_path):
    params = yaml.safe_load(CONFIG.read_text())
    params['/**/plant']['ros__parameters'].update(mode='lockstep', max_steps=300)
    params_file = tmp_path / 'params.yaml'
    params_file.write_text(yaml.safe_dump(params))
    port = free_port()
    proc = run_launch(colcon_install, 'namespace:=launched', f'port:={port}',
                      f'params_file:={params_file}')
    try:
        state, t = wait_until_served(port)
        assert t == 0.0
        from plant_server_ros.clients.tcp_client import LegacyClient
        from plant_server_ros.legacy.protocol import ErrorCode, ProtocolError
        with LegacyClient(port=port) as client:
            with pytest.raises(ProtocolError) as err:
                for _ in range(400):
                    client.control(0.0)
            assert err.value.code is ErrorCode.FINISHED
        out, _ = proc.communicate(timeout=20)   # the plant exited: the launch ends itself
        assert proc.returncode == 0, out
        assert 'max_steps=300 reached' in out
    finally:
        if proc.poll() is None:
            ctrl_c(proc)
            proc.communicate(timeout=20)


def test_node_names_are_unique_and_the_graph_tells_the_control_path(colcon_install):
    """Two nodes, no helper; ``ros2 node info`` shows each one's hot-path subscription."""
    import rclpy
    from rclpy.node import Node
    port = free_port()
    proc = run_launch(colcon_install, 'namespace:=unique', f'port:={port}', 'mode:=lockstep')
    rclpy.init()
    watcher = Node('name_watcher')
    try:
        wait_until_served(port)
        deadline = time.monotonic() + 10
        names, subscribed = [], {}
        while time.monotonic() < deadline:
            names = [(ns, n) for n, ns in watcher.get_node_names_and_namespaces()
                     if ns == '/unique']
            subscribed = {node: {topic for topic, _ in
                                 watcher.get_subscriber_names_and_types_by_node(node, '/unique')}
                          for node in ('plant', 'bridge') if ('/unique', node) in names}
            if '/unique/control' in subscribed.get('plant', ()) and \
                    '/unique/state' in subscribed.get('bridge', ()):
                break
            time.sleep(0.2)
        assert sorted(names) == [('/unique', 'bridge'), ('/unique', 'plant')]
        assert '/unique/control' in subscribed['plant'], subscribed
        assert '/unique/state' in subscribed['bridge'], subscribed
    finally:
        watcher.destroy_node()
        rclpy.shutdown()
        ctrl_c(proc)
        out, _ = proc.communicate(timeout=20)
    assert 'already registered' not in out and 'share an exact name' not in out, out


def test_a_node_failing_at_start_ends_the_launch_non_zero(colcon_install):
    taken = socket.socket()
    taken.bind(('127.0.0.1', 0))
    taken.listen(1)
    try:
        proc = run_launch(colcon_install, 'namespace:=taken',
                          f'port:={taken.getsockname()[1]}')
        out, _ = proc.communicate(timeout=30)
    finally:
        taken.close()
    assert proc.returncode != 0, out
    assert 'port in use' in out and 'the bridge exited with code 2' in out


def test_shutdown_on_sigint_is_prompt(colcon_install):
    port = free_port()
    proc = run_launch(colcon_install, 'namespace:=quick', f'port:={port}')
    try:
        wait_until_served(port)
    finally:
        start = time.monotonic()
        ctrl_c(proc)
        out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0, out
    assert time.monotonic() - start < 1.5, out


def test_a_client_right_after_the_launch_is_served(colcon_install):
    """The bridge waits for a plant it has not discovered yet instead of failing."""
    from plant_server_ros.clients.tcp_client import LegacyClient
    port = free_port()
    proc = run_launch(colcon_install, 'namespace:=early', f'port:={port}')
    try:
        deadline = time.monotonic() + 20
        while True:                          # only until the port listens: no retry after
            try:
                client = LegacyClient(port=port, timeout=15)
                break
            except ConnectionRefusedError:
                assert time.monotonic() < deadline, 'the bridge never listened'
                time.sleep(0.01)
        with client:
            state, t = client.reset()        # answered, not PLANT_UNAVAILABLE
            assert t == 0.0
    finally:
        ctrl_c(proc)
        out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0, out


def test_controller_argument_starts_dip_controller_for_the_plant():
    context, declared, nodes, others = expand({'params_file': str(CONFIG), 'controller': 'pd',
                                               'dt': '0.02', 'namespace': 'c'})
    assert 'controller' in {a.name for a in declared}
    by_exe = {n.node_executable: n for n in nodes}
    assert by_exe['dip_controller'].node_name == '/c/controller'
    settings = yaml.safe_load(Path(params_files(context, by_exe['dip_controller'])[0])
                              .read_text())
    assert settings == {'/c/controller': {'ros__parameters': {
        'law': 'pd', 'dt': 0.02, 'max_force': 20.0, 'sensor_noise_std': 0.01}}}
    # The plant holds its initial state until the controller's first control.
    plant = yaml.safe_load(Path(params_files(context, by_exe['plant_node'])[-1]).read_text())
    assert plant['/c/plant']['ros__parameters']['wait_for_control'] is True
    context, _, nodes, _ = expand({'params_file': str(CONFIG), 'namespace': 'c'})
    (plant_node,) = [n for n in nodes if n.node_executable == 'plant_node']
    assert all('wait_for_control' not in Path(f).read_text()
               for f in params_files(context, plant_node)[1:])     # no controller: no wait
    assert sum(isinstance(o, RegisterEventHandler) for o in others) == 3
    with pytest.raises(ValueError, match='controller:=mpc'):
        expand({'params_file': str(CONFIG), 'controller': 'mpc'})


def load_ros2_control_launch():
    path = LAUNCH_FILE.parent / 'ros2_control.launch.py'
    spec = importlib.util.spec_from_file_location('ros2_control_launch', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_ros2_control_launch_skips_ros2_control_in_one_line_where_missing(monkeypatch):
    module = load_ros2_control_launch()
    description = module.generate_launch_description()
    assert any(type(e).__name__ == 'IncludeLaunchDescription' for e in description.entities)
    context = launch.LaunchContext()
    context.launch_configurations.update(namespace='dip', use_sim_time='')
    monkeypatch.setattr(module, '_ros2_control_missing', lambda: 'controller_manager '
                        '(ros2_control) is not installed')
    (only,) = module._ros2_control(context)
    assert type(only).__name__ == 'LogInfo'
    pytest.importorskip('xacro', reason='xacro expands the description')
    monkeypatch.setattr(module, '_ros2_control_missing', lambda: None)
    actions = module._ros2_control(context)
    assert [(a.node_package, a.node_executable) for a in actions] == [
        ('robot_state_publisher', 'robot_state_publisher'),
        ('controller_manager', 'ros2_control_node'), ('controller_manager', 'spawner')]
    assert '<param name="joint_commands_topic">/dip/joint_commands</param>' in \
        module.robot_description('dip')


def test_launch_with_the_controller_drives_a_lockstep_plant_to_max_steps(colcon_install):
    """Nobody else sends a control: the launch ends because dip_controller stepped it."""
    port = free_port()
    proc = run_launch(colcon_install, 'namespace:=ctl', f'port:={port}', 'mode:=lockstep',
                      'max_steps:=300', 'controller:=lqr', 'use_sim_time:=true')
    try:
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            ctrl_c(proc)
            proc.communicate(timeout=20)
    assert proc.returncode == 0, out
    assert 'lqr controller up' in out and 'max_steps=300 reached' in out
    assert 'cart left the track' not in out


def _read_lines(proc):
    """Collect ``proc``'s output lines in the background; the list they go to."""
    import threading
    lines = []
    threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True).start()
    return lines


def _wait_for_line(lines, text, proc, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not any(text in line for line in list(lines)):
        assert proc.poll() is None and time.monotonic() < deadline, ''.join(lines)
        time.sleep(0.05)


def test_controller_lqr_balances_from_the_start_and_ctrl_c_ends_every_node_cleanly(
        colcon_install):
    # controller:=lqr in real time: the plant holds its initial state until the
    # controller's first control (no fall before it is up); Ctrl-C in the
    # terminal: every node gets the group's SIGINT and the one launch forwards.
    port = free_port()
    proc = run_launch(colcon_install, 'namespace:=lqr_rt', f'port:={port}', 'controller:=lqr')
    lines = _read_lines(proc)
    try:
        _wait_for_line(lines, 'the episode starts (t = 0)', proc)
        _wait_for_line(lines, 'first state answered', proc)
        time.sleep(2.0)                 # the pendulum balanced for a while (checked below)
    finally:
        ctrl_c(proc)
        proc.wait(30)
    out = ''.join(lines)
    assert proc.returncode == 0, out
    assert 'cart left the track' not in out and 'halted' not in out, out
    for crash in ('Traceback', 'terminate called', 'KeyboardInterrupt', 'Caught exception',
                  'process has died'):
        assert crash not in out, out
    assert out.count('process has finished cleanly') == 3, out


def test_ros2_control_launch_names_every_missing_package_in_one_line():
    # Without joint_state_topic_hardware_interface or ros2_controllers the
    # launch used to pass its check and fail later, at plugin load.
    module = load_ros2_control_launch()
    installed = {'controller_manager', 'robot_state_publisher'}
    why = module._ros2_control_missing(has_package=installed.__contains__)
    assert '\n' not in why
    for name in ('joint_state_topic_hardware_interface', 'joint_state_broadcaster',
                 'effort_controllers'):
        assert name in why, why
    named = [part.split(' (')[0] for part in why.removeprefix('not installed: ').split('; ')]
    assert set(named) - {'xacro'} == {'joint_state_topic_hardware_interface',
                                      'joint_state_broadcaster', 'effort_controllers'}
    everything = {name for name, _ in module.NEEDED}
    assert module._ros2_control_missing(has_package=everything.__contains__) in (
        None, 'not installed: xacro (the Python package that expands the URDF)')
