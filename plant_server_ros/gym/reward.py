"""
The default reward of the environments: stay up, near the centre, gently.

Per period, on the *true* state after it and the force applied over it::

    r = 1 - (th1^2 + th2^2) - 0.1 x^2 - 0.001 (u / max_force)^2

1 for every period alive (so a halt costs the rest of the episode), minus
quadratic costs that are 0 at the upright rest.  Replace it with
``reward_fn=f`` when making the environment: ``f(state, force, max_force)``
with ``state`` a 6-tuple of floats (single env) or an ``(N, 6)`` array (vector env),
``force`` a float or ``(N,)``; written with numpy operations over the last
axis (and ``np.asarray`` first), it serves both.
"""

import numpy as np


def upright_reward(state, force, max_force):
    """Return the default reward (see the module notes); works for one lane or N."""
    if isinstance(state, tuple):
        # One lane (the single env hands the plant's tuple): plain floats cost
        # about 1 us where the numpy expression costs about 10.
        x, th1, th2 = state[0], state[1], state[2]
        f = force / max_force
        return 1.0 - (th1 * th1 + th2 * th2) - 0.1 * x * x - 0.001 * f * f
    state = np.asarray(state)
    x, th1, th2 = state[..., 0], state[..., 1], state[..., 2]
    return 1.0 - (th1 * th1 + th2 * th2) - 0.1 * x * x \
        - 0.001 * (np.asarray(force) / max_force) ** 2
