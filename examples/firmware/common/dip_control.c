/*
 * dip_control.c: the control law of examples/c/ and the client's episodes
 * over the compact framing, written once for every chip (dip_control.h).
 */

#include "dip_control.h"

#include "dip_compact.h"

/* The gain of examples/c/dip_client.c (discrete LQR for dt = 0.01 s), in float. */
static const float K[6] = {
    8.616107018145364f, -330.08415021402465f, 417.290830962437f,
    13.67574972564566f, -12.545302283095465f, 56.83083792429707f,
};

static uint8_t request[DIP_CONTROL_BODY + DIP_CRC_BYTES];  /* the last one sent, for a retry */
static uint16_t seq;
static uint8_t frame[DIP_MAX_FRAME];
static uint_fast8_t received;
static uint8_t overflow, finished;

float dip_control_law(const float x[6])
{
    float u = 0.0f;
    uint_fast8_t i;
    for (i = 0; i < 6; i++)
        u -= K[i] * x[i];
    if (!(u == u))                                  /* NaN: no force */
        return 0.0f;
    if (u > DIP_MAX_FORCE)
        u = DIP_MAX_FORCE;
    if (u < -DIP_MAX_FORCE)
        u = -DIP_MAX_FORCE;
    return u;
}

/* Start the next request: a new seq, its header written. */
static void new_request(uint8_t type)
{
    seq++;
    request[0] = type;
    request[1] = 0;
    dip_put_u16(request + 2, seq);
}

void dip_send_reset(void)
{
    new_request(DIP_MSG_RESET);
    dip_put_u32(request + 4, 0);                    /* reserved: 0.0f */
    dip_put_u32(request + 8, dip_clock_hz);
    dip_send_frame(request, DIP_CONTROL_BODY);
}

void dip_resend(void)
{
    received = 0;
    overflow = 0;
    dip_send_frame(request, DIP_CONTROL_BODY);
}

uint8_t dip_finished(void)
{
    return finished;
}

/* Answer one frame (its decoded bytes); return 1 when it answered the request. */
static uint8_t handle(const uint8_t *f, uint_fast8_t n, uint32_t start)
{
    if (n < 3 + DIP_CRC_BYTES
        || dip_crc16(f, (uint_fast8_t)(n - DIP_CRC_BYTES)) != (uint16_t)(f[n - 2] | (f[n - 1] << 8)))
        return 0;                                   /* noise: wait for the next frame */
    if ((uint16_t)(f[2] | (f[3] << 8)) != seq)
        return 0;                                   /* a late reply to an old request */
    if (f[0] == DIP_MSG_STATE && n == DIP_STATE_BODY + DIP_CRC_BYTES) {
        float x[6], u;
        uint_fast8_t i;
        for (i = 0; i < 6; i++)
            __builtin_memcpy(&x[i], f + 4 + 4 * i, 4);
        u = dip_control_law(x);
        new_request(DIP_MSG_CONTROL);
        __builtin_memcpy(request + 4, &u, 4);       /* a constant 4: inlined, no libc */
        dip_put_u32(request + 8, dip_cycles_since(start));
        dip_send_frame(request, DIP_CONTROL_BODY);
        return 1;
    }
    if (f[0] == DIP_MSG_ERROR && n == DIP_ERROR_BODY + DIP_CRC_BYTES) {
        if (f[4] == DIP_ERR_FINISHED)
            finished = 1;                           /* the campaign is over */
        else
            dip_send_reset();                       /* HALTED and the rest: a new episode */
        return 1;
    }
    return 0;
}

uint8_t dip_receive(uint8_t c)
{
    uint32_t start;
    int_fast16_t len;
    if (c != 0) {
        if (received < DIP_MAX_FRAME)
            frame[received++] = c;
        else
            overflow = 1;
        return 0;
    }
    start = dip_cycles_now();                       /* the frame is in: the step starts */
    len = overflow ? -1 : dip_cobs_decode(frame, received);
    received = 0;
    overflow = 0;
    return len > 0 && !finished && handle(frame, (uint_fast8_t)len, start);
}
