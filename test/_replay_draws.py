"""The draws of one single plant, handed to one lane of a batch (the equivalence tests)."""

import random

import numpy as np


class ReplayDraws:
    """The standard normals a single plant of episode seed ``seed`` draws, in its order."""

    def __init__(self, n, seed, lane):
        self.n, self.lane = n, lane
        self.rngs = {'sensor': random.Random(seed),
                     'disturbance': random.Random(f'{seed}:disturbances')}

    def normals(self, stream, count, lanes):
        out = np.zeros((count, self.n))
        if lanes[self.lane]:
            for k in range(count):
                out[k, self.lane] = self.rngs[stream].gauss(0.0, 1.0)
        return out
