"""
Node processes for tests and benchmarks: start, collect output, stop gracefully.

No pytest and no rclpy here, so that ``bench/`` uses the same helpers.
"""

import os
from pathlib import Path
import re
import signal
import subprocess
import sys
import threading
import time

REPO = Path(__file__).resolve().parents[1]


def node_env():
    """Environment for a node subprocess: this checkout importable, DDS isolated."""
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join([str(REPO), env.get('PYTHONPATH', '')])
    env['PYTHONUNBUFFERED'] = '1'
    return env


def start_module(module, *ros_args, args=(), env=None, group=False):
    """
    Start ``python -m plant_server_ros.ros.<module>`` with ``--ros-args``.

    ``group=True``: in a process group of its own, as a terminal or ``ros2
    launch`` starts a node (signal it with ``os.killpg``).
    """
    cmd = [sys.executable, '-m', f'plant_server_ros.ros.{module}', *args]
    if ros_args:
        cmd += ['--ros-args', *ros_args]
    return subprocess.Popen(cmd, env={**node_env(), **(env or {})}, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=group)


def stop_gracefully(proc, sig=signal.SIGINT, timeout=10.0):
    """End ``proc`` with ``sig``; SIGKILL only if it hangs (Fast DDS leaves /dev/shm files)."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


RUNNING = []   # every NodeProcess started; conftest stops any left at the end


class NodeProcess:
    """A node subprocess whose output is collected in the background."""

    def __init__(self, module, *ros_args, args=(), env=None, group=False):
        self.proc = start_module(module, *ros_args, args=args, env=env, group=group)
        RUNNING.append(self)
        self.lines = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line.rstrip('\n'))

    @property
    def output(self):
        return '\n'.join(self.lines)

    def wait_for(self, pattern, timeout=20.0):
        """Return the first match of ``pattern`` in the output, or fail."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                m = regex.search(line)
                if m:
                    return m
            if self.proc.poll() is not None and not self._reader.is_alive():
                break
            time.sleep(0.02)
        raise AssertionError(f'{pattern!r} not in output:\n{self.output}')

    def stop(self, sig=signal.SIGINT, timeout=10.0):
        """End gracefully; return the exit code."""
        code = stop_gracefully(self.proc, sig, timeout)
        self._reader.join(2.0)
        return code


def bridge_port(bridge):
    """Port a bridge started with ``port:=0`` reports."""
    return int(bridge.wait_for(r'legacy TCP protocol on [\d.]+:(\d+)').group(1))


def wait_until_served(port, timeout=20.0):
    """Retry a RESET until the bridge has discovered the plant; return its reply."""
    from plant_server_ros.clients.tcp_client import LegacyClient
    from plant_server_ros.legacy.protocol import ErrorCode, ProtocolError
    deadline = time.monotonic() + timeout
    while True:
        try:
            with LegacyClient('127.0.0.1', port, timeout=5.0) as client:
                return client.reset()
        except (ProtocolError, ConnectionError) as exc:
            busy = isinstance(exc, ProtocolError) and exc.code == ErrorCode.BUSY
            if time.monotonic() > deadline or busy:
                raise
            time.sleep(0.2)
