/*
 * dip_control.h: the controller of examples/c/ (LQR state feedback, saturated)
 * and the client's side of the episodes, shared by the firmware under
 * examples/firmware/; each chip keeps only its UART, its cycle count, its
 * clock and its start-up.
 *
 * The episodes: a RESET at boot (dip_send_reset, the chip's clock in
 * clock_hz), one CONTROL per STATE, a RESET after any ERROR but FINISHED,
 * nothing after FINISHED.  Each CONTROL carries the cycles of that step, from
 * the STATE's delimiter (dip_cycles_now) to the CONTROL's body ready
 * (dip_cycles_since).
 */

#ifndef DIP_CONTROL_H
#define DIP_CONTROL_H

#include <stdint.h>

#define DIP_MAX_FORCE 20.0f      /* N, the saturation of examples/c/dip_client.c */

/* The force for state x (x, th1, th2, xdot, th1dot, th2dot): -K x, saturated; 0 for NaN. */
float dip_control_law(const float x[6]);

/* Send a RESET: a new episode, a new seq. */
void dip_send_reset(void);

/* Send the last request again, same seq (the plant answers a repeated
 * CONTROL without stepping); a partial frame received is dropped. */
void dip_resend(void);

/* Take one byte from the line; at a delimiter answer the frame.  Return 1
 * when the frame answered the request in flight (its reply, if any, is sent). */
uint8_t dip_receive(uint8_t c);

/* 1 once the plant said FINISHED: the campaign is over, nothing more is sent. */
uint8_t dip_finished(void);

/* The chip's: its clock in Hz (the RESET's clock_hz), a cycle count at the
 * start of a step, and the cycles since that count. */
extern const uint32_t dip_clock_hz;
uint32_t dip_cycles_now(void);
uint32_t dip_cycles_since(uint32_t start);

#endif
