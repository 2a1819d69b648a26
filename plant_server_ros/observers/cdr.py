"""
The CDR bytes of the messages a recording holds, packed with one ``struct`` call.

A recording writes three messages per sample; ``mcap_ros2``'s generic
encoder walks each message's definition field by field (about 35 us per
sample here), which made the recorder cost more than the plant it records.
These four types have a fixed shape apart from their numbers (the joint
names never change), so each is a precompiled ``struct`` with the constant
bytes laid in (about 1 us a message).  The layout is the ROS 2 default:
XCDR1 little-endian, a 4-byte encapsulation header, each primitive aligned
to its size from the end of that header.  ``test_recording`` checks every
encoder byte for byte against ``mcap_ros2``'s, which stays the reference
(and the reader).
"""

import struct

ENCAPSULATION = b'\x00\x01\x00\x00'         # CDR_LE, no options


class _Layout:
    """Build a message's bytes field by field, noting where the numbers go."""

    def __init__(self):
        self.fmt = ['<4s']                     # the encapsulation header
        self.constants = [ENCAPSULATION]
        self.size = 0                          # bytes after the header
        self._fixed = b''

    def _align(self, n):
        self._fixed += b'\x00' * (-self.size % n)
        self.size += -self.size % n

    def fixed(self, data):
        self._fixed += data
        self.size += len(data)

    def uint32(self, value):
        self._align(4)
        self.fixed(struct.pack('<I', value))

    def string(self, text):
        data = text.encode('utf-8') + b'\x00'
        self.uint32(len(data))
        self.fixed(data)

    def variable(self, code, size, count=1):
        """``count`` numbers of struct ``code`` (``size`` bytes each), given at pack time."""
        self._align(size)
        self._flush()
        self.fmt.append(f'{count}{code}')
        self.size += size * count

    def _flush(self):
        if self._fixed:
            self.fmt.append(f'{len(self._fixed)}s')
            self.constants.append(self._fixed)
            self._fixed = b''

    def build(self):
        self._flush()
        return struct.Struct(''.join(self.fmt))


def _joint_state_struct(names):
    layout = _Layout()
    layout.variable('i', 4)                    # header.stamp.sec
    layout.variable('I', 4)                    # header.stamp.nanosec
    layout.string('')                          # header.frame_id
    layout.uint32(len(names))
    for name in names:
        layout.string(name)
    for _ in ('position', 'velocity', 'effort'):
        layout.uint32(len(names))
        layout.variable('d', 8, len(names))
    return layout.build(), layout.constants


class JointStateEncoder:
    """``encode(sec, nanosec, position, velocity, effort)`` for fixed joint ``names``."""

    def __init__(self, names):
        self.names = tuple(names)
        self._struct, constants = _joint_state_struct(self.names)
        # The constant runs (frame_id, names and each count) precede the arrays.
        self._enc, self._before_position, self._before_velocity, self._before_effort = constants

    def encode(self, sec, nanosec, position, velocity, effort):
        return self._struct.pack(self._enc, sec, nanosec, self._before_position, *position,
                                 self._before_velocity, *velocity, self._before_effort,
                                 *effort)


_FLOAT64 = struct.Struct('<4sd')       # alignment counts from the header's end: none here


def encode_float64(value):
    """Return the CDR bytes of a ``std_msgs/msg/Float64``."""
    return _FLOAT64.pack(ENCAPSULATION, value)


def encode_float64_array(values):
    """Return the CDR bytes of a ``Float64MultiArray`` (no dimensions, ``data_offset`` 0)."""
    values = tuple(values)
    # dim: 0 entries, data_offset 0, data: its count; then the doubles at offset 16
    # (the padding before them only when there are any).
    pad = '4x' if values else ''
    return struct.pack(f'<4sIII{pad}{len(values)}d', ENCAPSULATION, 0, 0, len(values), *values)


def encode_string(text):
    """Return the CDR bytes of a ``std_msgs/msg/String``."""
    data = text.encode('utf-8') + b'\x00'
    return struct.pack('<4sI', ENCAPSULATION, len(data)) + data
