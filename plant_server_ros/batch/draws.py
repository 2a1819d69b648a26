"""
Where a batch's random numbers come from: seeds per episode, normals per step.

Two kinds of draws, kept apart on purpose:

- **Per episode** (the parameter uncertainty): lane ``i``'s episode ``e``
  has an integer episode seed (:func:`episode_seed` of the batch seed, the
  lane and the episode number, or the seed given to its reset), and draws
  its plant exactly as a single :class:`~..runtime.plant.Plant` playing the
  scenario with that ``seed`` does (``random.Random(f'{seed}:uncertainty')``
  through :class:`~..conditions.uncertainty.ParameterUncertainty`): the
  same numbers to the bit, the same plant.
- **Per step** (sensor noise, noise disturbances): standard normals from a
  :class:`NumpyDraws` (one numpy generator for the whole batch, a full
  ``(count, N)`` block per request whichever lanes need it, so lane ``i``'s
  numbers depend on the seed, N and the step only, never on what the other
  lanes do).  A per-lane ``random.Random`` would cost a Python call per
  lane per channel: at N = 4,096 more than the physics.

"Given the draws of one episode" (the equivalence tests) means: the batch
is handed the standard normals the single plant drew, in the order it drew
them, through a draws object with the same :meth:`NumpyDraws.normals`
signature (``test/test_batch.py`` replays a plant's ``random.Random``).
"""

import numpy as np

STREAMS = ('sensor', 'disturbance')


def episode_seed(seed, lane, episode):
    """Return the integer seed of ``lane``'s ``episode`` in a batch seeded ``seed``."""
    state = np.random.SeedSequence([int(seed), int(lane), int(episode)]).generate_state(
        2, np.uint32)
    return (int(state[0]) << 31) | (int(state[1]) >> 1)


class NumpyDraws:
    """Standard normals for all lanes at once, from one seeded numpy generator per stream."""

    def __init__(self, n, seed):
        self.n = n
        self._rngs = {stream: np.random.Generator(np.random.PCG64(
            np.random.SeedSequence([int(seed), k]))) for k, stream in enumerate(STREAMS)}

    def normals(self, stream, count, lanes):
        """
        Return ``(count, N)`` standard normals of ``stream`` for this step.

        ``lanes``: the boolean mask of the lanes that use them (the others'
        are drawn too and thrown away: see the module notes).
        """
        return self._rngs[stream].standard_normal((count, self.n))
