"""Raw legacy frames for tests: any size and type, built without the package's codec."""

import struct


def frame(size, msg_type, *p):
    """Return a 64-byte frame with header ``size``, ``msg_type`` and payload ``p`` (rest 0)."""
    return struct.pack('!II7d', size, msg_type, *(list(p) + [0.0] * (7 - len(p))))
