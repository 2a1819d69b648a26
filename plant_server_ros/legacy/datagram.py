"""
The original project's UDP datagrams (docs/PROTOCOL.md, second part): codec only.

Command, client -> server: 16 bytes ``!IdI`` (seq, u, crc).  State, server ->
client: 56 bytes ``!I6dI`` (seq, 6-state, crc).  The checksum is zlib's CRC-32
over every byte before it.  No sockets here.
"""

import math
import struct
import zlib

# The original project's port of its plant (config.yaml's hil.plant_port).
ORIGINAL_PORT = 9000
COMMAND = struct.Struct('!IdI')
STATE = struct.Struct('!I6dI')
assert COMMAND.size == 16 and STATE.size == 56

BAD_LENGTH = 'bad_length'
BAD_CHECKSUM = 'bad_checksum'
NOT_FINITE = 'not_finite'


class DatagramError(ValueError):
    """A datagram to drop; ``kind`` is BAD_LENGTH, BAD_CHECKSUM or NOT_FINITE."""

    def __init__(self, kind, message):
        super().__init__(message)
        self.kind = kind


def crc32(data):
    """Return the CRC-32 of ``data`` as the contract uses it (zlib's, 32 bits)."""
    return zlib.crc32(data) & 0xFFFFFFFF


def _sealed(fmt, *fields):
    body = fmt.pack(*fields, 0)[:-4]
    return body + struct.pack('!I', crc32(body))


def _opened(fmt, data, what):
    if len(data) != fmt.size:
        raise DatagramError(BAD_LENGTH, f'a {what} is {fmt.size} bytes, got {len(data)}')
    *fields, crc = fmt.unpack(data)
    if crc != crc32(data[:-4]):
        raise DatagramError(BAD_CHECKSUM, f'{what} checksum {crc:08x} does not match')
    return fields


def encode_command(seq, u):
    """Return the 16-byte command ``seq``, force ``u`` [N]."""
    return _sealed(COMMAND, seq, float(u))


def decode_command(data):
    """Return ``(seq, u)`` of a command, or raise DatagramError."""
    seq, u = _opened(COMMAND, data, 'command')
    if not math.isfinite(u):
        raise DatagramError(NOT_FINITE, f'command {seq} carries u = {u}')
    return seq, u


def encode_state(seq, state):
    """Return the 56-byte state datagram answering command ``seq``."""
    return _sealed(STATE, seq, *(float(s) for s in state))


def decode_state(data):
    """Return ``(seq, state)`` of a state datagram, or raise DatagramError."""
    seq, *state = _opened(STATE, data, 'state')
    return seq, tuple(state)
