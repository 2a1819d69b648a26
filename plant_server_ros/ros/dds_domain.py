"""
A ROS domain that no DDS participant on this machine uses, for a run of its own.

Two runs on one ``ROS_DOMAIN_ID`` hear each other: a second suite's reset
restarts the first one's episodes.  A domain from a process id is no cure
(in a fresh container every run has the same few pids).  Fast DDS gives
participant ``k`` of domain ``d`` the RTPS unicast discovery port
``7400 + 250 d + 10 + 2 k`` and binds it for itself alone, so a domain whose
first such ports all bind here is one that no Fast DDS participant on this
host holds.  Nothing here needs rclpy: call it before ``rclpy.init``.
"""

import os
import random
import socket

DOMAINS = range(1, 102)           # 0 is everyone's default; 101 is the last below 32768
PARTICIPANTS = 24                 # ports checked per domain


def discovery_port(domain, participant=0):
    """Fast DDS's metatraffic unicast port for ``participant`` of ``domain``."""
    return 7400 + 250 * domain + 10 + 2 * participant


def _bind(domain, participant):
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.bind(('0.0.0.0', discovery_port(domain, participant)))
    except OSError:
        probe.close()
        return None
    return probe


def in_use(domain, participants=PARTICIPANTS):
    """Tell whether some process here holds one of ``domain``'s first discovery ports."""
    for k in range(participants):
        probe = _bind(domain, k)
        if probe is None:
            return True
        probe.close()
    return False


def claim_free_domain(domains=DOMAINS, rng=random):
    """
    Return ``(domain, hold)``: a domain no participant here uses, and a socket claiming it.

    ``hold`` keeps the last port :func:`in_use` looks at, so that other runs
    see the domain taken between this run's participants (Fast DDS gives
    its own participants the next port); close it when the run ends.  The
    order is random: two runs starting at one moment seldom try one domain.
    """
    order = list(domains)
    rng.shuffle(order)
    for domain in order:
        if not in_use(domain, PARTICIPANTS - 1):
            hold = _bind(domain, PARTICIPANTS - 1)
            if hold is not None:
                return domain, hold
    raise RuntimeError(f'every ROS domain {min(order)}-{max(order)} has a DDS participant '
                       'on this machine: set ROS_DOMAIN_ID')


def domain_from_env(name='ROS_DOMAIN_ID'):
    """Return ``(domain, hold)``: ``$name`` if it is set (``hold`` None), else a claimed one."""
    if name in os.environ:
        return int(os.environ[name]), None
    return claim_free_domain()
