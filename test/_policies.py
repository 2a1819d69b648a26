"""Policies as callables of the task observation, for test/test_policy_client.py."""

import numpy as np

from plant_server_ros.clients.controllers import lqr_gain

GAIN = np.asarray(lqr_gain(0.01))
MAX_FORCE = 20.0


def lqr(obs):
    """Return the package's LQR force / max_force, the angles read back from sin and cos."""
    obs = np.asarray(obs, dtype=float)
    state = np.array([obs[0], np.arctan2(obs[1], obs[2]), np.arctan2(obs[3], obs[4]),
                      obs[5], obs[6], obs[7]])
    return np.array([-GAIN @ state / MAX_FORCE])


def push_right(obs):
    """Return full force to the right, always: the cart leaves the track."""
    return 1.0


def broken(obs):
    """Return two actions: the client refuses them."""
    return [0.0, 1.0]
