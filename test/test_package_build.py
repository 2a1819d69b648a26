"""
``colcon build`` of this package and the layout a ROS user relies on.

Also checks that the shipped params file holds exactly the nodes' declared
defaults, so ``dip_hil`` without ``--params-file`` and ``ros2 launch`` with
the default file run the same plant.
"""

import os
from pathlib import Path
import subprocess

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
PACKAGE = 'plant_server_ros'
RCLPY_BUILTIN_PARAMETERS = ('use_sim_time', 'start_type_description_service')


def test_colcon_installs_executables_launch_and_config(colcon_install):
    lib = colcon_install / 'lib' / PACKAGE
    for exe in ('plant_node', 'bridge_node', 'dip_hil', 'dip_client', 'dip_controller'):
        assert (lib / exe).is_file() and os.access(lib / exe, os.X_OK), exe
    share = colcon_install / 'share' / PACKAGE
    assert (share / 'launch' / 'hil.launch.py').is_file()
    assert (share / 'config' / 'plant_server.yaml').is_file()
    # The ros2_control files a user copies (docs/ros2_control.md).
    assert (share / 'launch' / 'ros2_control.launch.py').is_file()
    assert (share / 'config' / 'ros2_control_controllers.yaml').is_file()
    for name in ('dip.urdf', 'dip.ros2_control.xacro', 'dip_ros2_control.urdf.xacro'):
        assert (share / 'urdf' / name).is_file(), name
    assert (share / 'package.xml').is_file()
    marker = colcon_install / 'share' / 'ament_index' / 'resource_index' / 'packages' / PACKAGE
    assert marker.is_file()


def test_installed_client_runs(colcon_install):
    site = next(colcon_install.glob('lib/python3*/site-packages'))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(site),
                                                       os.environ.get('PYTHONPATH', '')]))
    result = subprocess.run([str(colcon_install / 'lib' / PACKAGE / 'dip_client'), '--help'],
                            capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0 and 'legacy TCP protocol' in result.stdout


def declared_defaults(node_class):
    rclpy = pytest.importorskip('rclpy', reason='rclpy is needed to read declared defaults',
                                exc_type=ImportError)
    from rclpy.parameter import Parameter
    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        overrides = [Parameter('port', value=0)] if 'Bridge' in node_class.__name__ else []
        node = node_class(context=context, parameter_overrides=overrides)
        try:
            params = {name: p.value for name, p in node._parameters.items()
                      if name not in RCLPY_BUILTIN_PARAMETERS}
        finally:
            node.destroy_node()
    finally:
        rclpy.shutdown(context=context)
    return params


def flatten(tree, prefix=''):
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(flatten(value, f'{prefix}{key}.'))
        else:
            out[f'{prefix}{key}'] = value
    return out


@pytest.mark.parametrize('section, module, cls', [
    ('/**/plant', 'plant_node', 'PlantNode'), ('/**/bridge', 'bridge_node', 'BridgeNode')])
def test_params_file_matches_declared_defaults(section, module, cls):
    import importlib
    node_class = getattr(importlib.import_module(f'{PACKAGE}.ros.{module}'), cls)
    config = yaml.safe_load((REPO / 'config' / 'plant_server.yaml').read_text())
    from_file = flatten(config[section]['ros__parameters'])
    declared = declared_defaults(node_class)
    if 'port' in declared:
        declared['port'] = 5555          # overridden above only to avoid a bind conflict
    declared.pop('bound_port', None)     # a status (the port in use), not a setting
    declared.pop('allow', None)          # unset by default (the default rule): commented
    assert from_file == declared
