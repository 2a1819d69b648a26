"""ament_python package plant_server_ros."""

from glob import glob

from setuptools import find_packages, setup

PACKAGE = 'plant_server_ros'

setup(
    name=PACKAGE,
    version='0.1.0',
    packages=find_packages(exclude=['test']),
    package_data={f'{PACKAGE}.doors.web': ['static/*.html', 'static/*.js', 'static/*.css'],
                  f'{PACKAGE}.clients': ['swingup_plan.json']},
    data_files=[
        ('share/ament_index/resource_index/packages', [f'resource/{PACKAGE}']),
        (f'share/{PACKAGE}', ['package.xml']),
        (f'share/{PACKAGE}/launch', glob('launch/*.launch.py')),
        (f'share/{PACKAGE}/config', glob('config/*.yaml')),
        (f'share/{PACKAGE}/config/scenarios', glob('config/scenarios/*.yaml')),
        (f'share/{PACKAGE}/config/scenarios/faults', glob('config/scenarios/faults/*.yaml')),
        (f'share/{PACKAGE}/urdf', glob('urdf/*.urdf') + glob('urdf/*.xacro')),
        (f'share/{PACKAGE}/rviz', glob('rviz/*.rviz')),
        (f'share/{PACKAGE}/foxglove', glob('foxglove/*.json')),
    ],
    # ROS packages come from the ROS distribution (or, off ROS, from the
    # requirements files); only plain Python libraries are required here.
    install_requires=['setuptools', 'numpy', 'scipy', 'pyyaml'],
    extras_require={'test': ['pytest', 'sympy', 'hypothesis'],
                    'record': ['mcap', 'mcap-ros2-support'],
                    'report': ['matplotlib', 'mcap', 'mcap-ros2-support'],
                    'web': ['websockets>=17.0'], 'gym': ['gymnasium>=1.0'],
                    'numba': ['numba'], 'serial': ['cobs', 'pyserial'],
                    # CPU-only torch first: pip install -r requirements/rl.txt (docs/rl.md).
                    'rl': ['gymnasium>=1.0', 'stable-baselines3>=2.3'],
                    'rllib': ['gymnasium>=1.0', 'ray[rllib]>=2.40'],
                    'ray': ['ray>=2.9']},
    tests_require=['pytest', 'sympy', 'hypothesis'],
    zip_safe=True,
    maintainer='plant_server_ros developers',
    maintainer_email='plant-server-ros@users.noreply.github.com',
    description='Real-time double-inverted-pendulum HIL plant for ROS 2, with legacy TCP/UDP '
    'doors and a ROS-free in-process server.',
    license='Apache-2.0',
    entry_points={
        'console_scripts': [
            f'plant_node = {PACKAGE}.ros.plant_node:main',
            f'bridge_node = {PACKAGE}.ros.bridge_node:main',
            f'dip_hil = {PACKAGE}.ros.hil:main',
            f'dip_client = {PACKAGE}.clients.cli:main',
            f'dip_controller = {PACKAGE}.ros.controller_node:main',
            f'dip_fault = {PACKAGE}.clients.fault_cli:main',
            f'dip_plant_server = {PACKAGE}.server.cli:main',
            f'dip_export = {PACKAGE}.analysis.export:main',
            f'dip_report = {PACKAGE}.analysis.report:main',
            f'dip_test = {PACKAGE}.testing.cli:main',
        ],
        # For gymnasium < 1.0 and the tools that load plugins from this group; Gymnasium 1.x
        # does not: it registers on `import plant_server_ros.gym` or the 'module:id' form.
        'gymnasium.envs': [f'{PACKAGE} = {PACKAGE}.gym:register'],
        # No pytest11 entry point: it would load the dip_campaign plugin into every
        # pytest run of a sourced workspace.  A suite asks for it (docs/test_your_controller.md):
        # pytest_plugins = ['plant_server_ros.testing.pytest_plugin'] in its conftest.py.
    },
)
