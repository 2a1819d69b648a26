"""Shared bits of the benchmarks: isolated DDS, node processes, statistics."""

import os
from pathlib import Path
import sys

REPO = Path(__file__).resolve().parents[1]
for path in (REPO, REPO / 'test'):   # run from a checkout: this package, the node helpers
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

# The tests' helpers for node processes (no pytest in there): one way to run them.
from _node_processes import (NodeProcess, stop_gracefully,  # noqa: E402, F401, I100
                             wait_until_served)


def isolate_dds():
    """Keep DDS on loopback, on a domain no other run here is on (held until exit)."""
    global _domain_hold
    from plant_server_ros.ros.dds_domain import domain_from_env
    os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
    domain, _domain_hold = domain_from_env()
    os.environ['ROS_DOMAIN_ID'] = str(domain)


_domain_hold = None


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
