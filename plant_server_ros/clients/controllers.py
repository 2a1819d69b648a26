"""
Reference controllers for the cart-pendulum (numpy/scipy, no ROS).

The LQR is designed on the package's own linearisation, discretised for the
zero-order hold at the control period, so it matches what the plant does.
"""

import numpy as np
import scipy.linalg

from ..physics.dynamics import DIPDynamics
from ..runtime.settings import SETTINGS

DT = SETTINGS['dt'].default      # the plant's period the gains are designed for, by default

DEFAULT_Q = (10.0, 100.0, 100.0, 1.0, 1.0, 1.0)
DEFAULT_R = 0.1


def discretise(a, b, dt):
    """Zero-order-hold discretisation of ``xdot = A x + B u``."""
    n, m = a.shape[0], b.shape[1]
    block = np.zeros((n + m, n + m))
    block[:n, :n] = a
    block[:n, n:] = b
    e = scipy.linalg.expm(block * dt)
    return e[:n, :n], e[:n, n:]


def lqr_gain(dt=DT, q=DEFAULT_Q, r=DEFAULT_R, dynamics=None):
    """Return the 6-gain row ``K`` of the discrete LQR, ``u = -K x``."""
    dynamics = dynamics if dynamics is not None else DIPDynamics()
    ad, bd = discretise(*dynamics.linearize(), dt)
    qm = np.diag(q)
    rm = np.array([[r]])
    p = scipy.linalg.solve_discrete_are(ad, bd, qm, rm)
    return np.linalg.solve(rm + bd.T @ p @ bd, bd.T @ p @ ad)[0]


class StateFeedback:
    """``u = -K x`` on the measured state, saturated at ``max_force``."""

    def __init__(self, gain, max_force=np.inf):
        self.gain = np.asarray(gain, dtype=float)
        if self.gain.shape != (6,):
            raise ValueError('a state-feedback gain has 6 entries')
        self.max_force = float(max_force)

    def __call__(self, state):
        u = -float(self.gain @ np.asarray(state, dtype=float))
        return min(max(u, -self.max_force), self.max_force)


def lqr(dt=DT, max_force=np.inf, **kwargs):
    """LQR designed from the package's linearisation."""
    return StateFeedback(lqr_gain(dt, **kwargs), max_force)


def pd(kp, kd, max_force=np.inf):
    """PD on the configuration: ``u = -kp . [x, th1, th2] - kd . [xdot, th1dot, th2dot]``."""
    kp = np.asarray(kp, dtype=float)
    kd = np.asarray(kd, dtype=float)
    if kp.shape != (3,) or kd.shape != (3,):
        raise ValueError('PD gains are 3 numbers each (cart, link 1, link 2)')
    return StateFeedback(np.concatenate([kp, kd]), max_force)


class BatchStateFeedback:
    """``u = -K x`` for N lanes at once: ``(N, 6)`` measured states -> ``(N,)`` forces."""

    def __init__(self, gain, max_force=np.inf):
        self.gain = np.asarray(gain, dtype=float)
        if self.gain.shape != (6,):
            raise ValueError('a state-feedback gain has 6 entries')
        self.max_force = float(max_force)

    def __call__(self, observations):
        # A lane's force may differ from StateFeedback's in its last bit (the sum's order).
        u = -(np.asarray(observations, dtype=float) @ self.gain)
        return np.clip(u, -self.max_force, self.max_force)


_BATCH_LQR = []


def lqr_batch(observations):
    """
    Return the shipped LQR's forces for N lanes' measured states, ``(N, 6)`` -> ``(N,)``.

    ``dip_test --batch plant_server_ros.clients.controllers:lqr_batch``.  The
    gains of :func:`lqr` at the default period (designed once, on first
    call); no saturation of its own, as ``dip_client``'s LQR (the plant's
    actuator saturates).
    """
    if not _BATCH_LQR:
        _BATCH_LQR.append(BatchStateFeedback(lqr_gain()))
    return _BATCH_LQR[0](observations)
