"""
Network conditions on the legacy links, as a model (no sockets; no netem here).

Per reply: a latency of ``latency_ms`` plus a seeded jitter (uniform on
``[0, 2 * jitter_ms]`` or normal with std ``jitter_ms``, either truncated at
0); on UDP also a loss rate and a corruption rate (one flipped bit, so the
client's checksum catches it).  A TCP session sends its replies in order from
one thread, so a later reply never overtakes an earlier one.
"""

import math
import random

JITTER = ('uniform', 'normal')


class NetworkModel:
    """What the network does to one reply."""

    def __init__(self, latency_ms=0.0, jitter_ms=0.0, jitter='uniform', loss=0.0,
                 corruption=0.0, seed=None, prefix='network'):
        checks = {'latency_ms': (latency_ms, 0.0, 1e4), 'jitter_ms': (jitter_ms, 0.0, 1e4),
                  'loss': (loss, 0.0, 1.0), 'corruption': (corruption, 0.0, 1.0)}
        for name, (value, low, high) in checks.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or \
                    not math.isfinite(value) or not low <= value <= high:
                raise ValueError(f'{prefix}.{name} must be in [{low:g}, {high:g}], '
                                 f'got {value!r}')
        if jitter not in JITTER:
            raise ValueError(f'{prefix}.jitter must be one of {list(JITTER)}, got {jitter!r}')
        self.latency = latency_ms / 1000.0
        self.jitter = jitter_ms / 1000.0
        self.distribution = jitter
        self.loss = float(loss)
        self.corruption = float(corruption)
        self.rng = random.Random(seed)

    @classmethod
    def from_dict(cls, values, seed=None, prefix='network'):
        """Build from a mapping (a scenario's ``network`` section)."""
        known = ('latency_ms', 'jitter_ms', 'jitter', 'loss', 'corruption')
        for key in values:
            if key not in known:
                raise ValueError(f'{prefix}.{key} is not a network setting (one of {list(known)})')
        return cls(**values, seed=seed, prefix=prefix)

    @property
    def ideal(self):
        """Return True when replies go out at once, whole and all."""
        return not (self.latency or self.jitter or self.loss or self.corruption)

    def delay(self):
        """Return the delay [s] of the next reply."""
        if not self.jitter:
            return self.latency
        if self.distribution == 'uniform':
            extra = self.rng.uniform(0.0, 2.0 * self.jitter)
        else:
            extra = self.rng.gauss(0.0, self.jitter)
        return max(0.0, self.latency + extra)

    def lost(self):
        """Tell whether the next datagram goes missing (UDP)."""
        return self.loss > 0.0 and self.rng.random() < self.loss

    def corrupt(self, data):
        """Return ``data``, with one bit flipped at the corruption rate (UDP)."""
        if self.corruption > 0.0 and self.rng.random() < self.corruption:
            bit = self.rng.randrange(len(data) * 8)
            data = bytearray(data)
            data[bit // 8] ^= 1 << (bit % 8)
            return bytes(data)
        return data


def episode_network(section, seed, base):
    """
    Return the network of an episode: its scenario's ``network`` section, else ``base``.

    ``seed`` (the scenario's, else the plant's; None: random) seeds the
    section's own generator, apart from every other stream.  The in-process
    host and the bridge (which learns the section from ``episode_info``)
    both call this, so a scenario's network is the same through every door.
    """
    if section is None:
        return base
    return NetworkModel.from_dict(section, seed=None if seed is None else f'{seed}:network')


def lanes_refusal(section):
    """
    Return why a batch of plants cannot play a ``network`` section ('' for none, or an ideal one).

    The network shapes the replies of the legacy links (latency, jitter,
    loss, corruption); a batch is stepped in process with no link, so the
    section would change nothing there: refused, never ignored.
    """
    if section is None or NetworkModel.from_dict(section).ideal:
        return ''
    return ('network (it delays, drops and corrupts the replies of the legacy links; '
            'a batch is stepped in process, with no link)')
