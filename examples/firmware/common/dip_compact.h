/*
 * dip_compact.h: the compact framing of docs/serial.md (COBS, CRC-16/CCITT-FALSE,
 * a 0x00 delimiter), shared by the firmware under examples/firmware/.
 *
 * Lengths are uint_fast8_t (a frame is at most DIP_MAX_FRAME bytes): one byte
 * on an AVR, a register on a Cortex-M, so neither chip pays for the other.
 */

#ifndef DIP_COMPACT_H
#define DIP_COMPACT_H

#include <stdint.h>

enum { DIP_MSG_CONTROL = 1, DIP_MSG_STATE = 2, DIP_MSG_RESET = 3, DIP_MSG_ERROR = 4 };
enum { DIP_ERR_FINISHED = 7 };
#define DIP_CONTROL_BODY 12      /* type, flags, seq, u, cycles (a RESET is as long) */
#define DIP_STATE_BODY 32        /* type, flags, seq, 7 floats */
#define DIP_ERROR_BODY 5         /* type, flags, seq, code */
#define DIP_CRC_BYTES 2
#define DIP_MAX_FRAME 64

/* CRC-16/CCITT-FALSE (poly 0x1021, not reflected, from 0xFFFF) of n bytes. */
uint16_t dip_crc16(const uint8_t *p, uint_fast8_t n);

/* COBS-decode n bytes in place; return the decoded length, or -1. */
int_fast16_t dip_cobs_decode(uint8_t *buf, uint_fast8_t n);

/* Send body, its CRC (little-endian) written at body[n] and body[n + 1] (the
 * caller leaves room), COBS-encoded, then the delimiter, through dip_put_byte. */
void dip_send_frame(uint8_t *body, uint_fast8_t n);

void dip_put_u16(uint8_t *b, uint16_t v);
void dip_put_u32(uint8_t *b, uint32_t v);

/* The chip's: one byte out on the line (waiting while the UART is busy). */
void dip_put_byte(uint8_t c);

#endif
