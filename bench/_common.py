"""Shared bits of the benchmarks: isolated DDS, node processes, statistics."""

import os
from pathlib import Path
import signal
import subprocess
import sys
import time

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:       # run from a checkout: import this package
    sys.path.insert(0, str(REPO))


def isolate_dds(default_domain):
    """Keep DDS on loopback and on a domain of this bench's own."""
    os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
    os.environ.setdefault('ROS_DOMAIN_ID', str(default_domain))


def start_node(module, *ros_args, env_extra=None):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO),
                                                       os.environ.get('PYTHONPATH', '')]))
    env.update(env_extra or {})
    return subprocess.Popen([sys.executable, '-m', f'plant_server_ros.ros.{module}',
                             '--ros-args', *ros_args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def stop_node(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.terminate()
            proc.wait(5)


def cpu_seconds(pid):
    """User + system CPU seconds of process ``pid`` so far."""
    with open(f'/proc/{pid}/stat') as f:
        fields = f.read().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


def percentiles(values_us, label):
    import numpy as np
    v = np.asarray(values_us)
    return (f'{label}: n={len(v)} p50={np.percentile(v, 50):.0f} us '
            f'p90={np.percentile(v, 90):.0f} us p99={np.percentile(v, 99):.0f} us '
            f'max={v.max():.0f} us')


def wait_served(port, timeout=30.0):
    from plant_server_ros.clients.tcp_client import LegacyClient
    deadline = time.monotonic() + timeout
    while True:
        try:
            with LegacyClient('127.0.0.1', port, timeout=5.0) as c:
                c.reset()
                return
        except Exception:  # noqa: B902 - retried until discovery completes
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
