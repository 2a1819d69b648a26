"""
The compact serial framing of docs/serial.md: COBS, a CRC-16, a 0x00 delimiter (no I/O).

Made for 8-bit chips on a UART: a CONTROL is 14 bytes and a STATE 34 (the
legacy frame is 64 each way, which does not fit a 100 Hz period at
115,200 baud).  Fields are little-endian (the AVR's and the Cortex-M's own
order: no byte swapping on the chip), floats are IEEE 754 binary32 (an
8-bit chip's ``float``).  Every frame is ``COBS(body + crc16) + 0x00``;
the CRC is CRC-16/CCITT-FALSE (``binascii.crc_hqx(body, 0xFFFF)``) over
the body, appended little-endian.  :class:`Deframer` splits a byte stream at the
delimiters and drops, counts and names what does not decode: a receiver
resynchronises at the next delimiter after noise or a partial frame.
"""

import binascii
import collections
import math
import struct

from cobs import cobs

from .protocol import ErrorCode, MsgType, ProtocolError

DELIMITER = b'\x00'
CONTROL = struct.Struct('<BBHfI')      # type, flags, seq, u [N], cycles of the last step
RESET = struct.Struct('<BBHfI')        # type, flags, seq, reserved (0), client clock [Hz]
STATE = struct.Struct('<BBH7f')        # type, flags, seq, x th1 th2 xd th1d th2d, t [s]
ERROR = struct.Struct('<BBHB')         # type, flags, seq, error code
CRC = struct.Struct('<H')
SIZES = {MsgType.CONTROL: CONTROL.size + CRC.size, MsgType.RESET: RESET.size + CRC.size,
         MsgType.STATE: STATE.size + CRC.size, MsgType.ERROR: ERROR.size + CRC.size}
assert SIZES[MsgType.CONTROL] == 14 and SIZES[MsgType.STATE] == 34
FLAG_RESET_REPLY = 0x01            # a STATE that answers a RESET (t = 0 of a new episode)
MAX_FRAME = 64                     # bytes before a delimiter; more is noise, dropped
# What a receiver drops, by kind (Deframer.counters; docs/serial.md).
BAD_COBS, BAD_LENGTH, BAD_CRC, BAD_TYPE, OVERFLOW = \
    'bad_cobs', 'bad_length', 'bad_crc', 'bad_type', 'overflow'


def crc16(data):
    """Return the CRC-16/CCITT-FALSE of ``data`` (poly 0x1021, init 0xFFFF; check 0x29B1)."""
    return binascii.crc_hqx(data, 0xFFFF)


def frame(body):
    """Return ``body`` with its CRC, COBS-encoded and delimited: the bytes on the wire."""
    return cobs.encode(body + CRC.pack(crc16(body))) + DELIMITER


def wire_size(msg_type):
    """Return the bytes a frame of ``msg_type`` takes on the wire (COBS byte and delimiter)."""
    return SIZES[MsgType(msg_type)] + 2


def encode_control(u, seq=0, cycles=0):
    """CONTROL: force ``u`` [N]; ``cycles`` the client spent on its last step (0: unknown)."""
    return frame(CONTROL.pack(MsgType.CONTROL, 0, seq & 0xFFFF, u, cycles & 0xFFFFFFFF))


def encode_reset(seq=0, clock_hz=0):
    """RESET to the configured initial state; ``clock_hz`` the client's CPU clock (0: unknown)."""
    return frame(RESET.pack(MsgType.RESET, 0, seq & 0xFFFF, 0.0, clock_hz & 0xFFFFFFFF))


def encode_state(state, t, seq=0, flags=0):
    """STATE: the measured state and plant time ``t``, answering request ``seq``."""
    x, th1, th2, xd, th1d, th2d = state
    return frame(STATE.pack(MsgType.STATE, flags, seq & 0xFFFF, x, th1, th2, xd, th1d, th2d,
                            t))


def encode_error(code, seq=0):
    """ERROR ``code`` (docs/PROTOCOL.md's codes), answering request ``seq``."""
    return frame(ERROR.pack(MsgType.ERROR, 0, seq & 0xFFFF, int(code)))


class FrameError(ValueError):
    """A frame that does not decode; ``kind`` is the counter it goes to."""

    def __init__(self, kind, message):
        super().__init__(message)
        self.kind = kind


def decode(data):
    """
    Return ``(type, flags, seq, fields)`` of one frame's bytes (no delimiter), or FrameError.

    ``fields``: CONTROL ``(u, cycles)``, RESET ``(reserved, clock_hz)``,
    STATE ``(x, th1, th2, xd, th1d, th2d, t)``, ERROR ``(code,)``.
    """
    try:
        raw = cobs.decode(data)
    except cobs.DecodeError as exc:
        raise FrameError(BAD_COBS, f'not COBS: {exc}') from None
    if len(raw) < 3:
        raise FrameError(BAD_LENGTH, f'{len(raw)} bytes: too short for a frame')
    body, (crc,) = raw[:-2], CRC.unpack(raw[-2:])
    if crc16(body) != crc:
        raise FrameError(BAD_CRC, f'CRC {crc:#06x}, computed {crc16(body):#06x}')
    known = _LAYOUTS.get(body[0])
    if known is None:
        raise FrameError(BAD_TYPE, f'type {body[0]} is not a frame type')
    msg_type, layout = known
    if len(raw) != SIZES[msg_type]:
        raise FrameError(BAD_LENGTH, f'a {msg_type.name} is {SIZES[msg_type]} bytes, '
                         f'got {len(raw)}')
    _, flags, seq, *fields = layout.unpack(body)
    return msg_type, flags, seq, tuple(fields)


# type byte -> (MsgType, layout): a dict lookup on the hot path, not an Enum call.
_LAYOUTS = {int(t): (t, layout) for t, layout in (
    (MsgType.CONTROL, CONTROL), (MsgType.RESET, RESET), (MsgType.STATE, STATE),
    (MsgType.ERROR, ERROR))}


def parse_request(data):
    """
    Return ``(MsgType, seq, fields)`` of a client frame, FrameError, or ProtocolError.

    FrameError: the frame is dropped (noise).  ProtocolError: it decoded but
    may not be served (a STATE or ERROR from the client: BAD_TYPE; a
    non-finite force: NOT_FINITE); the code is answered.
    """
    msg_type, _, seq, fields = decode(data)
    if msg_type not in (MsgType.CONTROL, MsgType.RESET):
        error = ProtocolError(ErrorCode.BAD_TYPE, f'a client may not send {msg_type.name}')
        error.seq = seq
        raise error
    if msg_type is MsgType.CONTROL and not math.isfinite(fields[0]):
        error = ProtocolError(ErrorCode.NOT_FINITE, f'control force is {fields[0]}')
        error.seq = seq
        raise error
    return msg_type, seq, fields


def parse_reply(data):
    """Client side: ``(seq, state, t, flags)`` of a STATE, or ProtocolError for an ERROR."""
    msg_type, flags, seq, fields = decode(data)
    if msg_type is MsgType.STATE:
        return seq, fields[:6], fields[6], flags
    if msg_type is MsgType.ERROR:
        try:
            code = ErrorCode(fields[0])
        except ValueError:
            raise FrameError(BAD_TYPE, f'ERROR frame with unknown code {fields[0]}') from None
        error = ProtocolError(code, f'the plant answered ERROR {code.name}')
        error.seq = seq
        raise error
    raise FrameError(BAD_TYPE, f'unexpected {msg_type.name} from the plant')


class Deframer:
    """
    Split a byte stream into frames at the 0x00 delimiters; count what is dropped.

    :meth:`feed` returns the complete frames' bytes (without the delimiter);
    noise before a delimiter and a frame longer than :data:`MAX_FRAME` are
    dropped (``overflow``), so the stream resynchronises at the next
    delimiter whatever came before.  :meth:`drop_partial` forgets a frame
    cut short (the line went quiet in the middle of it).
    """

    def __init__(self, max_frame=MAX_FRAME):
        self.max_frame = max_frame
        self.counters = collections.Counter()
        self._buffer = bytearray()
        self._overflowed = False

    @property
    def pending(self):
        """Return how many bytes of an incomplete frame are held."""
        return len(self._buffer)

    def feed(self, data):
        """Return the complete frames in ``data`` (with what came before it)."""
        frames = []
        start = 0
        while True:
            end = data.find(0, start)
            if end < 0:
                self._append(data[start:])
                return frames
            self._append(data[start:end])
            if self._overflowed:
                self._overflowed = False
            elif self._buffer:
                frames.append(bytes(self._buffer))
            self._buffer.clear()
            start = end + 1

    def _append(self, chunk):
        if self._overflowed or not chunk:
            return
        self._buffer += chunk
        if len(self._buffer) > self.max_frame:
            self.counters[OVERFLOW] += 1
            self._buffer.clear()
            self._overflowed = True            # until the next delimiter

    def drop_partial(self):
        """Forget an incomplete frame; return True if there was one (counted ``partial``)."""
        if not self._buffer and not self._overflowed:
            return False
        if self._buffer:
            self.counters['partial'] += 1
        self._buffer.clear()
        self._overflowed = False
        return True
