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


class PlantDraws:
    """
    Per lane, the standard normals a single plant of that lane's episode seed draws.

    A :class:`~..runtime.plant.Plant` playing a scenario seeded ``s`` draws
    its sensor noise from ``random.Random(s).gauss`` and its noise
    disturbances from ``random.Random(f'{s}:disturbances').gauss``.  Each
    lane here holds those two Mersenne Twisters' states (copied into numpy's
    ``MT19937``: the same 53-bit doubles as ``random.random``) and turns
    blocks of their doubles into normals by ``random.gauss``'s own
    Box-Muller pairs, so lane ``i`` is the plant of its seed: equal to it
    up to the last bits of ``cos``, ``sin`` and ``log`` (numpy's against
    libm's).  A lane takes its next numbers only when it is in ``lanes``,
    as the plant draws only while it steps.
    """

    BLOCK = 600                  # normals drawn per lane and stream at a time (100 periods)
    # ``block``: how many at a time instead (a whole episode's: one draw per lane)

    def __init__(self, seeds, block=None):
        if block is not None:
            self.BLOCK = max(2, int(block) + int(block) % 2)
        self._seeds = [int(s) for s in np.asarray(seeds).reshape(-1)]
        self.n = len(self._seeds)
        self._gens = {}              # a stream's generators, made when it is first drawn from
        self._buffers = {stream: np.zeros((self.n, 0)) for stream in STREAMS}
        self._cursor = {stream: np.zeros(self.n, dtype=np.int64) for stream in STREAMS}
        self._valid = {stream: np.zeros(self.n, dtype=np.int64) for stream in STREAMS}

    def _generators(self, stream):
        """Return the lanes' generators of ``stream``: each its plant's Mersenne Twister."""
        if stream not in self._gens:
            import random
            key = '{}' if stream == 'sensor' else '{}:disturbances'
            gens = []
            for s in self._seeds:
                python = random.Random(s if key == '{}' else key.format(s))
                words = python.getstate()[1]
                bits = np.random.MT19937()
                bits.state = {'bit_generator': 'MT19937',
                              'state': {'key': np.array(words[:624], dtype=np.uint32),
                                        'pos': words[624]}}
                gens.append(np.random.RandomState(bits))
            self._gens[stream] = gens
        return self._gens[stream]

    def _refill(self, stream, need):
        """Give every lane of ``stream`` at least ``need`` normals past its cursor."""
        buf, cursor = self._buffers[stream], self._cursor[stream]
        left = self._valid[stream] - cursor
        if left.min() >= need:
            return
        size = max(self.BLOCK, need + (need % 2))
        uniforms = np.empty((self.n, size))
        for i, gen in enumerate(self._generators(stream)):
            uniforms[i] = gen.random_sample(size)          # random.random(), pair by pair
        x2pi = uniforms[:, 0::2] * (2.0 * np.pi)
        g2rad = np.sqrt(-2.0 * np.log(1.0 - uniforms[:, 1::2]))
        normals = np.empty((self.n, size))
        normals[:, 0::2] = np.cos(x2pi) * g2rad            # gauss(), then its gauss_next
        normals[:, 1::2] = np.sin(x2pi) * g2rad
        if not left.any():                                  # nothing left over: no shifting
            self._buffers[stream] = normals
            self._cursor[stream] = np.zeros(self.n, dtype=np.int64)
            self._valid[stream] = np.full(self.n, size, dtype=np.int64)
            return
        # What each lane has not used yet, then its new ones; lanes are aligned on
        # the one that used least (the others' unused tail is shifted left).
        keep = int(left.max())
        fresh = np.zeros((self.n, keep + size))
        rows = np.arange(self.n)[:, None]
        take = np.minimum(cursor[:, None] + np.arange(keep)[None, :], max(buf.shape[1] - 1, 0))
        if keep:
            fresh[:, :keep] = buf[rows, take]
        # Lane i's new normals start right after its own unused ones.
        at = left[:, None] + np.arange(size)[None, :]
        fresh[rows, at] = normals
        self._buffers[stream] = fresh
        self._cursor[stream] = np.zeros(self.n, dtype=np.int64)
        self._valid[stream] = left + size

    def normals(self, stream, count, lanes):
        """Return ``(count, N)``: each lane in ``lanes`` its next ``count`` normals, others 0."""
        self._refill(stream, count)
        buf, cursor = self._buffers[stream], self._cursor[stream]
        take = cursor[:, None] + np.arange(count)[None, :]
        out = np.take_along_axis(buf, take, axis=1).T
        lanes = np.asarray(lanes, dtype=bool)
        self._cursor[stream] = cursor + count * lanes
        return np.where(lanes[None, :], out, 0.0)
