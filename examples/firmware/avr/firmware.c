/*
 * firmware.c: the LQR controller of examples/c/ on an ATmega328P (16 MHz),
 * talking to plant_server_ros over its serial door in the compact framing
 * of docs/serial.md (COBS, CRC-16/CCITT-FALSE, a 0x00 delimiter).
 *
 * It drives the episodes itself: a RESET at boot (its clock in clock_hz),
 * one CONTROL per STATE, a RESET after any ERROR but FINISHED, nothing
 * after FINISHED.  Each CONTROL carries the CPU cycles of that step,
 * counted by Timer 1 at the CPU clock from the STATE's delimiter to the
 * CONTROL's body ready.  A request unanswered for about one second is sent
 * again with the same seq (the plant answers a repeated CONTROL without
 * stepping).  The same image runs in simavr (pil_harness.c) and on an
 * Arduino Uno (avrdude; docs/serial.md).
 *
 *   avr-gcc -mmcu=atmega328p -DF_CPU=16000000UL -DBAUD=115200 -Os -o firmware.elf firmware.c
 */

#include <avr/interrupt.h>
#include <avr/io.h>
#include <avr/sleep.h>
#include <stdint.h>
#include <string.h>
#include <util/crc16.h>

#ifndef F_CPU
#define F_CPU 16000000UL
#endif
#ifndef BAUD
#define BAUD 115200UL
#endif

/* The gain of examples/c/dip_client.c (discrete LQR for dt = 0.01 s), in float. */
static const float K[6] = {
    8.616107018145364f, -330.08415021402465f, 417.290830962437f,
    13.67574972564566f, -12.545302283095465f, 56.83083792429707f,
};
#define MAX_FORCE 20.0f

enum { MSG_CONTROL = 1, MSG_STATE = 2, MSG_RESET = 3, MSG_ERROR = 4 };
enum { ERR_FINISHED = 7 };
#define CONTROL_BODY 12          /* type, flags, seq, u, cycles */
#define STATE_BODY 32            /* type, flags, seq, 7 floats */
#define ERROR_BODY 5             /* type, flags, seq, code */
#define MAX_FRAME 64
#define RETRY_OVERFLOWS 245      /* Timer 1 overflows (4.096 ms each): about 1 s */

/* ---- the UART: bytes in through an interrupt, out by polling ------------- */

static volatile uint8_t rx_ring[128];
static volatile uint8_t rx_head, rx_tail;

ISR(USART_RX_vect)
{
    uint8_t c = UDR0;
    uint8_t next = (uint8_t)((rx_head + 1) & 127);
    if (next != rx_tail) {
        rx_ring[rx_head] = c;
        rx_head = next;
    }
}

static void uart_init(void)
{
    uint16_t ubrr = (uint16_t)((F_CPU / 8UL + BAUD / 2UL) / BAUD - 1UL);
    UBRR0H = (uint8_t)(ubrr >> 8);
    UBRR0L = (uint8_t)ubrr;
    UCSR0A = _BV(U2X0);
    UCSR0C = _BV(UCSZ01) | _BV(UCSZ00);             /* 8N1 */
    UCSR0B = _BV(RXEN0) | _BV(TXEN0) | _BV(RXCIE0);
}

static void uart_put(uint8_t c)
{
    while (!(UCSR0A & _BV(UDRE0)))
        ;
    UDR0 = c;
}

/* ---- cycles: Timer 1 at the CPU clock, its overflows counted --------------- */

static volatile uint16_t t1_high;

ISR(TIMER1_OVF_vect)
{
    t1_high++;
}

static void timer_init(void)
{
    TCCR1A = 0;
    TCCR1B = _BV(CS10);                             /* clk/1 */
    TIMSK1 = _BV(TOIE1);
}

static uint32_t cycles_now(void)
{
    uint8_t sreg = SREG;
    uint16_t low, high;
    cli();
    low = TCNT1;
    high = t1_high;
    if ((TIFR1 & _BV(TOV1)) && low < 0x8000u)
        high++;                                     /* an overflow not yet serviced */
    SREG = sreg;
    return ((uint32_t)high << 16) | low;
}

/* ---- the framing ------------------------------------------------------------ */

/* CRC-16/CCITT-FALSE: avr-libc's XMODEM step (poly 0x1021, not reflected) from 0xFFFF. */
static uint16_t crc16(const uint8_t *p, uint8_t n)
{
    uint16_t crc = 0xFFFF;
    while (n--)
        crc = _crc_xmodem_update(crc, *p++);
    return crc;
}

/* COBS-decode n bytes in place; return the decoded length, or -1. */
static int16_t cobs_decode(uint8_t *buf, uint8_t n)
{
    uint8_t in = 0, out = 0;
    while (in < n) {
        uint8_t code = buf[in++], i;
        if (code == 0 || in + code - 1 > n)
            return -1;
        for (i = 1; i < code; i++)
            buf[out++] = buf[in++];
        if (code < 0xFF && in < n)
            buf[out++] = 0;
    }
    return out;
}

/* Send body + its CRC (little-endian), COBS-encoded, then the delimiter. */
static void send_frame(const uint8_t *body, uint8_t n)
{
    uint8_t raw[MAX_FRAME], out[MAX_FRAME + 2];
    uint8_t i, code_at = 0, code = 1, o = 1;
    uint16_t crc = crc16(body, n);
    memcpy(raw, body, n);
    raw[n] = (uint8_t)crc;
    raw[n + 1] = (uint8_t)(crc >> 8);
    for (i = 0; i < n + 2; i++) {
        if (raw[i] == 0) {
            out[code_at] = code;
            code_at = o++;
            code = 1;
        } else {
            out[o++] = raw[i];
            code++;
        }
    }
    out[code_at] = code;
    for (i = 0; i < o; i++)
        uart_put(out[i]);
    uart_put(0);
}

/* ---- the requests ------------------------------------------------------------ */

static uint8_t request[CONTROL_BODY];   /* the last request sent, for a retry */
static uint16_t seq;

static void put_u16(uint8_t *b, uint16_t v) { b[0] = (uint8_t)v; b[1] = (uint8_t)(v >> 8); }
static void put_u32(uint8_t *b, uint32_t v)
{
    put_u16(b, (uint16_t)v);
    put_u16(b + 2, (uint16_t)(v >> 16));
}

static void send_request(void)
{
    send_frame(request, sizeof request);
}

static void send_reset(void)
{
    float reserved = 0.0f;
    seq++;
    request[0] = MSG_RESET;
    request[1] = 0;
    put_u16(request + 2, seq);
    memcpy(request + 4, &reserved, 4);
    put_u32(request + 8, F_CPU);
    send_request();
}

static float control_law(const float x[6])
{
    float u = 0.0f;
    uint8_t i;
    for (i = 0; i < 6; i++)
        u -= K[i] * x[i];
    if (!(u == u))                                  /* NaN: no force */
        return 0.0f;
    if (u > MAX_FORCE)
        u = MAX_FORCE;
    if (u < -MAX_FORCE)
        u = -MAX_FORCE;
    return u;
}

/* Answer one frame (its decoded bytes); return 1 when it answered the request. */
static uint8_t handle(uint8_t *f, uint8_t n, uint32_t start, uint8_t *finished)
{
    uint16_t got;
    float x[6], u;
    if (n < 3 + 2 || crc16(f, (uint8_t)(n - 2)) != (uint16_t)(f[n - 2] | (f[n - 1] << 8)))
        return 0;                                   /* noise: wait for the next frame */
    got = (uint16_t)(f[2] | (f[3] << 8));
    if (got != seq)
        return 0;                                   /* a late reply to an old request */
    if (f[0] == MSG_STATE && n == STATE_BODY + 2) {
        memcpy(x, f + 4, sizeof x);
        u = control_law(x);
        seq++;
        request[0] = MSG_CONTROL;
        request[1] = 0;
        put_u16(request + 2, seq);
        memcpy(request + 4, &u, 4);
        put_u32(request + 8, cycles_now() - start);
        send_request();
        return 1;
    }
    if (f[0] == MSG_ERROR && n == ERROR_BODY + 2) {
        if (f[4] == ERR_FINISHED) {
            *finished = 1;                          /* the campaign is over */
            return 1;
        }
        send_reset();                               /* HALTED and the rest: a new episode */
        return 1;
    }
    return 0;
}

/* Return the next byte received; sleep until there is one (a retry after about 1 s). */
static int16_t next_byte(uint16_t since, uint8_t waiting)
{
    for (;;) {
        cli();
        if (rx_head != rx_tail) {
            uint8_t c = rx_ring[rx_tail];
            rx_tail = (uint8_t)((rx_tail + 1) & 127);
            sei();
            return c;
        }
        if (waiting && (uint16_t)(t1_high - since) > RETRY_OVERFLOWS) {
            sei();
            return -1;
        }
        sleep_enable();
        sei();                                      /* the next instruction runs first: */
        sleep_cpu();                                /* no byte is missed in between */
        sleep_disable();
    }
}

int main(void)
{
    uint8_t frame[MAX_FRAME];
    uint8_t n = 0, overflow = 0, finished = 0;
    uint16_t sent_at;
    uart_init();
    timer_init();
    set_sleep_mode(SLEEP_MODE_IDLE);
    sei();
    send_reset();
    sent_at = t1_high;
    for (;;) {
        int16_t c = next_byte(sent_at, !finished);
        if (c < 0) {                                /* no answer: the same request again */
            send_request();
            sent_at = t1_high;
            n = 0;
            continue;
        }
        if (c != 0) {
            if (n < MAX_FRAME)
                frame[n++] = (uint8_t)c;
            else
                overflow = 1;
            continue;
        }
        {
            uint32_t start = cycles_now();          /* the frame is in: the step starts */
            int16_t len = overflow ? -1 : cobs_decode(frame, n);
            n = 0;
            overflow = 0;
            if (len > 0 && !finished && handle(frame, (uint8_t)len, start, &finished))
                sent_at = t1_high;
        }
    }
}
