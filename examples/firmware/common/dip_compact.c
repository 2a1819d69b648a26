/*
 * dip_compact.c: the compact framing of docs/serial.md, written once for every chip.
 * On an AVR the CRC step is avr-libc's _crc_xmodem_update (the same polynomial,
 * in a few instructions): a bitwise loop made a control step about 2,500 cycles
 * longer (docs/serial.md).
 */

#include "dip_compact.h"

#ifdef __AVR__
#include <util/crc16.h>
#define DIP_CRC_STEP(crc, byte) _crc_xmodem_update((crc), (byte))
#else
static uint16_t crc_step(uint16_t crc, uint8_t byte)
{
    uint_fast8_t i;
    crc ^= (uint16_t)byte << 8;
    for (i = 0; i < 8; i++)
        crc = (crc & 0x8000u) ? (uint16_t)((crc << 1) ^ 0x1021u) : (uint16_t)(crc << 1);
    return crc;
}
#define DIP_CRC_STEP(crc, byte) crc_step((crc), (byte))
#endif

uint16_t dip_crc16(const uint8_t *p, uint_fast8_t n)
{
    uint16_t crc = 0xFFFF;
    while (n--)
        crc = DIP_CRC_STEP(crc, *p++);
    return crc;
}

int_fast16_t dip_cobs_decode(uint8_t *buf, uint_fast8_t n)
{
    uint_fast8_t in = 0, out = 0;
    while (in < n) {
        uint_fast8_t code = buf[in++], i;
        if (code == 0 || in + code - 1 > n)
            return -1;
        for (i = 1; i < code; i++)
            buf[out++] = buf[in++];
        if (code < 0xFF && in < n)
            buf[out++] = 0;
    }
    return (int_fast16_t)out;
}

void dip_send_frame(uint8_t *body, uint_fast8_t n)
{
    uint8_t out[DIP_MAX_FRAME + DIP_CRC_BYTES + 1];
    uint_fast8_t i, code_at = 0, code = 1, o = 1;
    uint16_t crc = dip_crc16(body, n);
    body[n] = (uint8_t)crc;
    body[n + 1] = (uint8_t)(crc >> 8);
    n += DIP_CRC_BYTES;
    for (i = 0; i < n; i++) {
        if (body[i] == 0) {
            out[code_at] = (uint8_t)code;
            code_at = o++;
            code = 1;
        } else {
            out[o++] = body[i];
            code++;
        }
    }
    out[code_at] = (uint8_t)code;
    for (i = 0; i < o; i++)
        dip_put_byte(out[i]);
    dip_put_byte(0);
}

void dip_put_u16(uint8_t *b, uint16_t v)
{
    b[0] = (uint8_t)v;
    b[1] = (uint8_t)(v >> 8);
}

void dip_put_u32(uint8_t *b, uint32_t v)
{
    dip_put_u16(b, (uint16_t)v);
    dip_put_u16(b + 2, (uint16_t)(v >> 16));
}
