"""The codec against PROTOCOL.md's test vectors and rules."""

import math

from _frames import frame
from plant_server_ros.legacy.protocol import (decode, encode_control, encode_error,
                                              encode_reset, encode_state, ErrorCode,
                                              FRAME_SIZE, MsgType, parse_reply, parse_request,
                                              ProtocolError)
import pytest

VECTORS = {
    'control': '00000038000000013ff80000000000000000000000000000000000000000000000000000'
               '00000000000000000000000000000000000000003fd0000000000000',
    'state': '000000380000000200000000000000003fa999999999999abf9eb851eb851eb8000000000000'
             '0000000000000000000000000000000000003f847ae147ae147b',
    'reset_configured': '0000003800000003' + '0' * 112,
    'reset_given': '00000038000000033fb999999999999a3fc999999999999abfb999999999999a00000000'
                   '00000000000000000000000000000000000000003ff0000000000000',
    'error_bad_size': '00000038000000043ff0000000000000' + '0' * 96,
}


def test_vectors_encode_to_the_byte():
    assert encode_control(1.5, 0.25).hex() == VECTORS['control']
    assert encode_state([0, 0.05, -0.03, 0, 0, 0], 0.01).hex() == VECTORS['state']
    assert encode_reset().hex() == VECTORS['reset_configured']
    assert encode_reset([0.1, 0.2, -0.1, 0, 0, 0]).hex() == VECTORS['reset_given']
    assert encode_error(ErrorCode.BAD_SIZE).hex() == VECTORS['error_bad_size']
    assert all(len(bytes.fromhex(v)) == FRAME_SIZE == 64 for v in VECTORS.values())


def test_vectors_decode():
    msg_type, p = parse_request(bytes.fromhex(VECTORS['control']))
    assert msg_type is MsgType.CONTROL and p[0] == 1.5 and p[6] == 0.25
    msg_type, p = parse_request(bytes.fromhex(VECTORS['reset_given']))
    assert msg_type is MsgType.RESET and p[:3] == (0.1, 0.2, -0.1) and p[6] == 1.0
    state, t = parse_reply(bytes.fromhex(VECTORS['state']))
    assert state == (0, 0.05, -0.03, 0, 0, 0) and t == 0.01
    with pytest.raises(ProtocolError) as err:
        parse_reply(bytes.fromhex(VECTORS['error_bad_size']))
    assert err.value.code is ErrorCode.BAD_SIZE


@pytest.mark.parametrize('raw, code', [
    (frame(55, 1), ErrorCode.BAD_SIZE),
    (frame(0xFFFFFFFF, 1), ErrorCode.BAD_SIZE),
    (frame(56, 2), ErrorCode.BAD_TYPE),
    (frame(56, 4), ErrorCode.BAD_TYPE),
    (frame(56, 0), ErrorCode.BAD_TYPE),
    (frame(56, 99), ErrorCode.BAD_TYPE),
    (frame(56, 1, math.nan), ErrorCode.NOT_FINITE),
    (frame(56, 1, math.inf), ErrorCode.NOT_FINITE),
    (frame(56, 1, -math.inf), ErrorCode.NOT_FINITE),
    (frame(56, 3, math.nan, 0, 0, 0, 0, 0, 1.0), ErrorCode.NOT_FINITE),
    (frame(56, 3, 0, 0, 0, 0, 0, 0, math.nan), ErrorCode.NOT_FINITE),
    (frame(56, 3, 0, 0, 0, 0, 0, 0, 2.0), ErrorCode.BAD_STATE),
    (frame(56, 3, 0, 0, 0, 0, 0, 0, 0.5), ErrorCode.BAD_STATE),
])
def test_bad_requests_map_to_their_error(raw, code):
    with pytest.raises(ProtocolError) as err:
        parse_request(raw)
    assert err.value.code is code


def test_unused_fields_may_be_anything():
    # The client timestamp is opaque; a configured reset ignores p[0..5].
    parse_request(frame(56, 1, 1.0, math.nan, 0, 0, 0, 0, math.inf))
    parse_request(frame(56, 3, math.nan, math.inf, 0, 0, 0, 0, 0.0))


def test_decode_rejects_wrong_length():
    with pytest.raises(ValueError):
        decode(b'\x00' * 63)
