"""Keep DDS on loopback and on a domain of this run's own, before rclpy loads."""

import logging
import os
from pathlib import Path
import subprocess
import sys

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = 'plant_server_ros'
# Test this checkout, whatever copy of the package is installed.
sys.path.insert(0, str(REPO))

from plant_server_ros.ros.dds_domain import domain_from_env  # noqa: E402, I100

os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
# A domain no other run on this machine is on, held for the whole run, unless
# the caller chose one: two runs on one domain reset each other's plants.
_domain, _domain_hold = domain_from_env()
os.environ['ROS_DOMAIN_ID'] = str(_domain)


def pytest_report_header(config):
    return f'ROS_DOMAIN_ID={os.environ["ROS_DOMAIN_ID"]} (DDS on loopback)'


@pytest.fixture(scope='session')
def colcon_install(tmp_path_factory):
    """Build this checkout with colcon into a temporary workspace; its install prefix."""
    pytest.importorskip('colcon_core', reason='colcon (colcon-common-extensions) is not '
                        'installed')
    base = tmp_path_factory.mktemp('colcon')
    cmd = [sys.executable, '-m', 'colcon', '--log-base', str(base / 'log'), 'build',
           '--base-paths', str(REPO), '--build-base', str(base / 'build'),
           '--install-base', str(base / 'install')]
    result = subprocess.run(cmd, capture_output=True, text=True, cwd=base, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return base / 'install' / PACKAGE


def loggers_propagate_again():
    """
    Undo what importing ``launch`` does to logging, for the tests that follow.

    ``launch.logging`` (imported by launch_testing's pytest plugin, so in every
    ``colcon test``, and by test_launch.py) sets a logger class whose loggers do
    not propagate: the records of every logger made after it never reach the
    root logger, where caplog and a test's own root handler listen.  A logger
    with no handler of its own that does not propagate is heard by nobody.
    """
    if logging.getLoggerClass() is not logging.Logger:
        logging.setLoggerClass(logging.Logger)
    for logger in list(logging.Logger.manager.loggerDict.values()):
        if not isinstance(logger, logging.Logger) or logger.propagate:
            continue
        # pytest 9 hangs its own handlers on every logger that does not propagate:
        # those do not count as the logger's own (the record would stop there).
        if not any(not type(h).__module__.startswith('_pytest') for h in logger.handlers):
            logger.propagate = True


def pytest_collection_finish(session):
    """Once every test module is imported: before pytest 9 hangs handlers on such loggers."""
    loggers_propagate_again()


@pytest.fixture(autouse=True)
def root_logging_hears_every_logger():
    """Before each test: undo a logger class that the plugins or an earlier test set."""
    loggers_propagate_again()


@pytest.fixture(scope='session', autouse=True)
def no_node_left_behind():
    """End (gracefully) any node process a failed test did not stop."""
    yield
    harness = sys.modules.get('_node_processes')
    for proc in getattr(harness, 'RUNNING', []):
        proc.stop()


# Hypothesis (a test dependency): a short run in CI, a long one on the bench
# (HYPOTHESIS_PROFILE=long).  No deadline: the machine is shared and noisy.
try:
    from hypothesis import HealthCheck, settings
except ImportError:                    # the property tests skip themselves
    pass
else:
    settings.register_profile('ci', max_examples=60, deadline=None, derandomize=True,
                              suppress_health_check=[HealthCheck.too_slow])
    settings.register_profile('long', max_examples=5000, deadline=None,
                              suppress_health_check=[HealthCheck.too_slow])
    settings.load_profile(os.environ.get('HYPOTHESIS_PROFILE', 'ci'))
