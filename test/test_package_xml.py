"""package.xml declares a rosdep key for every third-party import of the package and its tests."""

import ast
from pathlib import Path
import re
import sys
import xml.etree.ElementTree as ET

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE_XML = REPO / 'package.xml'
# Where the imports are: the package, its tests and its launch files.
SOURCES = ('plant_server_ros', 'test', 'launch')

# Import name -> the rosdep key that installs it (checked against ros/rosdistro's
# rosdep/python.yaml, rosdep/base.yaml and kilted/distribution.yaml).  A new
# third-party import fails test_every_import_has_a_key until it is added here.
KEYS = {
    'ament_flake8': 'ament_flake8',
    'ament_index_python': 'ament_index_python',
    'ament_pep257': 'ament_pep257',
    'builtin_interfaces': 'builtin_interfaces',
    'cobs': 'python-cobs-pip',             # rosdep/python.yaml: pip only, on Python 3
    'colcon_core': 'python3-colcon-common-extensions',
    'diagnostic_msgs': 'diagnostic_msgs',
    'geometry_msgs': 'geometry_msgs',
    'gymnasium': 'python3-gymnasium-pip',
    'hypothesis': 'python3-hypothesis',
    'launch': 'launch',
    'launch_ros': 'launch_ros',
    'lifecycle_msgs': 'lifecycle_msgs',
    'matplotlib': 'python3-matplotlib',
    'mcap': 'mcap-ros2-support',          # no key of its own: a dependency of this pip one
    'mcap_ros2': 'mcap-ros2-support',
    'numba': 'python3-numba',
    'numpy': 'python3-numpy',
    'psutil': 'python3-psutil',
    'pytest': 'python3-pytest',
    'rcl_interfaces': 'rcl_interfaces',
    'rclpy': 'rclpy',
    'rosgraph_msgs': 'rosgraph_msgs',
    'scipy': 'python3-scipy',
    'selenium': 'python3-selenium',
    'serial': 'python3-serial',
    'sensor_msgs': 'sensor_msgs',
    'std_msgs': 'std_msgs',
    'std_srvs': 'std_srvs',
    'stable_baselines3': 'python3-stable-baselines3-pip',
    'sympy': 'python3-sympy',
    'tf2_msgs': 'tf2_msgs',
    'torch': 'python3-torch',
    'urdf_parser_py': 'urdfdom_py',
    'visualization_msgs': 'visualization_msgs',
    'websockets': 'python3-websockets',
    'xacro': 'xacro',
    'yaml': 'python3-yaml',
}
# Optional imports that no rosdep key installs (ros/rosdistro has none): their
# features say so, and their tests skip saying why where they are missing.
NO_KEY = {
    'ray': 'Ray (dip_test --ray, the RLlib envs): pip install ray[rllib] (docs/montecarlo.md)',
}
# Modules imported by name (importorskip, import_module) rather than by an import statement.
BY_NAME = re.compile(r'(?:importorskip|import_module)\(\s*[\'"]([A-Za-z_][\w.]*)[\'"]')


def declared():
    """Return the keys of package.xml's dependency tags."""
    root = ET.parse(PACKAGE_XML).getroot()
    return {e.text.strip() for e in root if e.tag.endswith('depend') and e.text}


def third_party_imports():
    """Return ``{top-level module: [file, ...]}`` of what the sources import from outside."""
    local = {'plant_server_ros', 'conftest'} | {p.stem for p in (REPO / 'test').glob('*.py')}
    found = {}
    for source in SOURCES:
        for path in sorted((REPO / source).rglob('*.py')):
            text = path.read_text(encoding='utf-8')
            names = BY_NAME.findall(text)
            for node in ast.walk(ast.parse(text)):
                if isinstance(node, ast.Import):
                    names += [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0:
                    names.append(node.module)
            for name in names:
                top = name.partition('.')[0]
                if top not in sys.stdlib_module_names and top not in local:
                    found.setdefault(top, []).append(str(path.relative_to(REPO)))
    return found


def test_every_import_has_a_key():
    unknown = {name: files[:3] for name, files in third_party_imports().items()
               if name not in KEYS and name not in NO_KEY}
    assert not unknown, f'imports with no rosdep key in KEYS: {unknown}'


@pytest.mark.parametrize('name', sorted(KEYS))
def test_the_key_of_each_import_is_declared(name):
    assert KEYS[name] in declared(), f'{name}: add <*_depend>{KEYS[name]}</*_depend>'


def test_the_table_names_only_what_is_imported():
    stale = sorted(set(KEYS) - set(third_party_imports()))
    assert not stale, f'no longer imported: {stale}'


def test_the_manifest_has_a_real_maintainer_a_url_and_its_license_file():
    root = ET.parse(PACKAGE_XML).getroot()
    emails = [m.get('email') for m in root.findall('maintainer')]
    assert emails and not any(e.endswith('.invalid') for e in emails)
    assert root.find("url[@type='repository']") is not None
    license_ = root.find('license')
    assert license_.text == 'Apache-2.0'
    text = (REPO / license_.get('file', 'LICENSE')).read_text()
    assert 'Apache License' in text and 'Version 2.0, January 2004' in text
    changelog = (REPO / 'CHANGELOG.rst').read_text()
    version = root.find('version').text
    assert re.search(rf'^{re.escape(version)} \(\d{{4}}-\d\d-\d\d\)\n-+\n', changelog, re.M)


def test_setup_py_and_package_xml_agree():
    root = ET.parse(PACKAGE_XML).getroot()
    setup = (REPO / 'setup.py').read_text()
    assert f"version='{root.find('version').text}'" in setup
    assert f"maintainer_email='{root.find('maintainer').get('email')}'" in setup
