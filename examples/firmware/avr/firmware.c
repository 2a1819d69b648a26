/*
 * firmware.c: the LQR controller of examples/c/ on an ATmega328P (16 MHz),
 * talking to plant_server_ros over its serial door in the compact framing
 * of docs/serial.md (COBS, CRC-16/CCITT-FALSE, a 0x00 delimiter).
 *
 * The framing, the control law and the episodes are ../common/ (dip_compact.c,
 * dip_control.c), shared with ../cortex_m/; this file is the chip's part: the
 * UART, Timer 1 as the cycle count, the clock, sleeping between bytes, and
 * the retry.  Each CONTROL carries the CPU cycles of that step, counted by
 * Timer 1 at the CPU clock from the STATE's delimiter to the CONTROL's body
 * ready.  A request unanswered for about one second is sent again with the
 * same seq (the plant answers a repeated CONTROL without stepping).  The same
 * image runs in simavr (pil_harness.c) and on an Arduino Uno (avrdude;
 * docs/serial.md).  `make` builds it (the Makefile names the sources).
 */

#include <avr/interrupt.h>
#include <avr/io.h>
#include <avr/sleep.h>
#include <stdint.h>

#include "dip_control.h"
#include "dip_compact.h"

#ifndef F_CPU
#define F_CPU 16000000UL
#endif
#ifndef BAUD
#define BAUD 115200UL
#endif

#define RETRY_OVERFLOWS 245      /* Timer 1 overflows (4.096 ms each): about 1 s */

const uint32_t dip_clock_hz = F_CPU;

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

void dip_put_byte(uint8_t c)
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

uint32_t dip_cycles_now(void)
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

uint32_t dip_cycles_since(uint32_t start)
{
    return dip_cycles_now() - start;
}

/* ---- the loop ------------------------------------------------------------------ */

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
    uint16_t sent_at;
    uart_init();
    timer_init();
    set_sleep_mode(SLEEP_MODE_IDLE);
    sei();
    dip_send_reset();
    sent_at = t1_high;
    for (;;) {
        int16_t c = next_byte(sent_at, !dip_finished());
        if (c < 0) {                                /* no answer: the same request again */
            dip_resend();
            sent_at = t1_high;
        } else if (dip_receive((uint8_t)c)) {
            sent_at = t1_high;
        }
    }
}
