"""
The legacy 64-byte frame of docs/PROTOCOL.md: encode, decode, validate.

No sockets and no ROS here: the bridge, the reference client and any test
share this one codec.
"""

from enum import IntEnum
import math
import struct

FRAME = struct.Struct('!II7d')
FRAME_SIZE = FRAME.size          # 64
PAYLOAD_SIZE = FRAME_SIZE - 8    # 56, the only valid ``size``
assert FRAME_SIZE == 64


class MsgType(IntEnum):
    """Frame types."""

    CONTROL = 1
    STATE = 2
    RESET = 3
    ERROR = 4


class ErrorCode(IntEnum):
    """Codes carried in ``p[0]`` of an ERROR frame."""

    BAD_SIZE = 1
    BAD_TYPE = 2
    NOT_FINITE = 3
    BUSY = 4
    TIMEOUT = 5
    PLANT_UNAVAILABLE = 6
    FINISHED = 7
    BAD_STATE = 8
    HALTED = 9


CLIENT_TYPES = (MsgType.CONTROL, MsgType.RESET)
RESET_CONFIGURED = 0.0
RESET_GIVEN = 1.0


class ProtocolError(Exception):
    """A frame that breaks the contract; ``code`` is the ERROR to answer with."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = ErrorCode(code)


def encode(msg_type, payload=()):
    """Return the 64-byte frame of ``msg_type`` with up to 7 payload values (rest 0)."""
    p = [float(v) for v in payload]
    if len(p) > 7:
        raise ValueError('a payload has at most 7 values')
    return FRAME.pack(PAYLOAD_SIZE, int(msg_type), *(p + [0.0] * (7 - len(p))))


def encode_control(u, client_time=0.0):
    """CONTROL frame: force ``u`` [N] and an opaque client timestamp."""
    return encode(MsgType.CONTROL, (u, 0, 0, 0, 0, 0, client_time))


def encode_state(state, t):
    """STATE frame: 6-state and plant time ``t`` [s]."""
    x, th1, th2, xd, th1d, th2d = state      # the hot path: one pack, no padding
    return FRAME.pack(PAYLOAD_SIZE, MsgType.STATE, x, th1, th2, xd, th1d, th2d, t)


def encode_reset(state=None):
    """RESET frame: to the configured initial state, or to ``state``."""
    if state is None:
        return encode(MsgType.RESET)
    return encode(MsgType.RESET, tuple(state) + (RESET_GIVEN,))


def encode_error(code):
    """ERROR frame carrying ``code``."""
    return encode(MsgType.ERROR, (int(code),))


def decode(frame):
    """
    Return ``(type, payload)`` of a 64-byte frame; the type may be unknown.

    Raises ProtocolError(BAD_SIZE) when the size field is not 56.
    """
    if len(frame) != FRAME_SIZE:
        raise ValueError(f'a frame is {FRAME_SIZE} bytes, got {len(frame)}')
    size, msg_type, *payload = FRAME.unpack(frame)
    if size != PAYLOAD_SIZE:
        raise ProtocolError(ErrorCode.BAD_SIZE, f'size field is {size}, must be {PAYLOAD_SIZE}')
    return msg_type, tuple(payload)


def parse_request(frame):
    """
    Validate a client frame; return ``(MsgType, payload)`` or raise ProtocolError.

    Only the fields the server uses are checked for finiteness: ``p[0]`` of a
    CONTROL (the client timestamp is opaque), ``p[6]`` of a RESET and, when it
    asks for a given state, ``p[0..5]``.
    """
    msg_type, p = decode(frame)
    if msg_type not in CLIENT_TYPES:
        raise ProtocolError(ErrorCode.BAD_TYPE, f'type {msg_type} may not be sent by a client')
    msg_type = MsgType(msg_type)
    if msg_type is MsgType.CONTROL:
        if not math.isfinite(p[0]):
            raise ProtocolError(ErrorCode.NOT_FINITE, f'control force is {p[0]}')
        return msg_type, p
    if not math.isfinite(p[6]):
        raise ProtocolError(ErrorCode.NOT_FINITE, f'RESET selector p[6] is {p[6]}')
    if p[6] == RESET_GIVEN:
        if not all(math.isfinite(v) for v in p[:6]):
            raise ProtocolError(ErrorCode.NOT_FINITE, f'RESET state is not finite: {p[:6]}')
    elif p[6] != RESET_CONFIGURED:
        raise ProtocolError(ErrorCode.BAD_STATE, f'RESET selector p[6] must be 0 or 1, got {p[6]}')
    return msg_type, p


def parse_reply(frame):
    """Client side: return ``(state, t)`` of a STATE, or raise ProtocolError for ERROR."""
    msg_type, p = decode(frame)
    if msg_type == MsgType.STATE:
        return p[:6], p[6]
    if msg_type == MsgType.ERROR:
        try:
            code = ErrorCode(int(p[0]))
        except ValueError:
            raise ValueError(f'ERROR frame with unknown code {p[0]}') from None
        raise ProtocolError(code, f'server answered ERROR {code.name}')
    raise ValueError(f'unexpected frame type {msg_type} from the server')
