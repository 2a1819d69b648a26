"""node_runner: a Ctrl-C rclpy's C++ executor turns into a RuntimeError is a clean stop."""

from pathlib import Path
import signal
import subprocess
import sys

import pytest

rclpy = pytest.importorskip('rclpy', reason='rclpy (ROS 2 wheels or a sourced ROS) is needed',
                            exc_type=ImportError)

from plant_server_ros.ros import node_runner  # noqa: E402, I100


class _Node:
    stopped = destroyed = False

    def stop(self):
        self.stopped = True

    def destroy_node(self):
        self.destroyed = True

    def get_name(self):
        return 'fake'


class _Executor:
    """Raise as the EventsExecutor does when SIGINT lands as it converts a callback argument."""

    def __init__(self, error):
        self.error = error
        self.spins = 0

    def add_node(self, node):
        pass

    def remove_node(self, node):
        pass

    def spin_once(self, timeout_sec=None):
        self.spins += 1
        if self.error == 'interrupted':
            try:
                signal.raise_signal(signal.SIGINT)
            except KeyboardInterrupt:
                pass                    # pybind11 swallows it into a cast error
        raise RuntimeError("Unable to convert call argument '0' to Python object")

    def shutdown(self):
        pass


@pytest.mark.parametrize('error', ['interrupted', 'fault'])
def test_a_conversion_error_is_a_clean_stop_only_after_ctrl_c(monkeypatch, error):
    executor = _Executor(error)
    monkeypatch.setattr(node_runner, 'make_executor', lambda: executor)
    node = _Node()
    before = signal.getsignal(signal.SIGINT)
    if error == 'interrupted':
        assert node_runner.run_nodes([], [lambda: node]) == node_runner.EXIT_OK
    else:                               # no signal: a real fault, not hidden
        with pytest.raises(RuntimeError, match='Unable to convert'):
            node_runner.run_nodes([], [lambda: node])
    assert executor.spins == 1 and node.stopped and node.destroyed
    assert signal.getsignal(signal.SIGINT) is before and not rclpy.ok()


@pytest.mark.parametrize('module', ['plant_node', 'bridge_node', 'controller_node', 'hil'])
def test_help_prints_the_usage_and_starts_nothing(module):
    # `plant_node --help` used to start a plant (and step it in real time).
    result = subprocess.run([sys.executable, '-m', f'plant_server_ros.ros.{module}', '--help'],
                            capture_output=True, text=True, timeout=60,
                            cwd=Path(__file__).resolve().parents[1])
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith('usage: ') and '--ros-args' in result.stdout
    assert 'plant up' not in result.stdout + result.stderr
    assert '[INFO]' not in result.stdout + result.stderr
