/*
 * firmware.c: the LQR controller of examples/c/ on a Cortex-M3 (QEMU's
 * mps2-an385 board, 25 MHz), speaking the compact framing of docs/serial.md
 * on its CMSDK UART0 -- the same protocol and episode logic as
 * ../avr/firmware.c, no libc (soft float from libgcc).
 *
 * QEMU is not cycle-accurate: run with -icount shift=0 (one instruction per
 * nanosecond of virtual time) SysTick counts executed instructions, 40 per
 * tick at 25 MHz.  Each CONTROL's `cycles` is that count, from the STATE's
 * delimiter to the CONTROL's body ready; an instruction count, a lower
 * bound of the cycles a real M3 spends (loads, branches and soft-float
 * calls take more than one cycle each).
 */

#include <stdint.h>

#define CLOCK_HZ 25000000u
#define INSTRUCTIONS_PER_TICK 40u      /* -icount shift=0: 1 ns an instruction, 40 ns a tick */

/* The gain of examples/c/dip_client.c (discrete LQR for dt = 0.01 s), in float. */
static const float K[6] = {
    8.616107018145364f, -330.08415021402465f, 417.290830962437f,
    13.67574972564566f, -12.545302283095465f, 56.83083792429707f,
};
#define MAX_FORCE 20.0f

enum { MSG_CONTROL = 1, MSG_STATE = 2, MSG_RESET = 3, MSG_ERROR = 4 };
enum { ERR_FINISHED = 7 };
#define CONTROL_BODY 12
#define STATE_BODY 32
#define ERROR_BODY 5
#define MAX_FRAME 64

/* ---- the board: CMSDK UART0, SysTick, NVIC ----------------------------------- */

#define REG(addr) (*(volatile uint32_t *)(addr))
#define UART0 0x40004000u
#define UART_DATA REG(UART0 + 0x00)
#define UART_STATE REG(UART0 + 0x04)        /* bit 0 TX full, bit 1 RX full */
#define UART_CTRL REG(UART0 + 0x08)         /* TX, RX enable; TX, RX interrupt enable */
#define UART_INTCLEAR REG(UART0 + 0x0C)
#define UART_BAUDDIV REG(UART0 + 0x10)
#define SYST_CSR REG(0xE000E010u)
#define SYST_RVR REG(0xE000E014u)
#define SYST_CVR REG(0xE000E018u)
#define NVIC_ISER0 REG(0xE000E100u)
#define UART0_RX_IRQ 0

void uart0_rx_handler(void)
{
    UART_INTCLEAR = 2u;                     /* the byte stays in DATA for the main loop */
}

static void board_init(void)
{
    UART_BAUDDIV = CLOCK_HZ / 115200u;
    UART_CTRL = 1u | 2u | 8u;               /* TX, RX, RX interrupt */
    NVIC_ISER0 = 1u << UART0_RX_IRQ;
    SYST_RVR = 0x00FFFFFFu;
    SYST_CVR = 0;
    SYST_CSR = 1u | 4u;                     /* enabled, processor clock, no interrupt */
}

static uint32_t ticks_now(void)             /* SysTick counts down, 24 bits */
{
    return SYST_CVR;
}

static uint32_t instructions_since(uint32_t start)
{
    return ((start - ticks_now()) & 0x00FFFFFFu) * INSTRUCTIONS_PER_TICK;
}

static void uart_put(uint8_t c)
{
    while (UART_STATE & 1u)
        ;
    UART_DATA = c;
}

static uint8_t uart_get(void)
{
    for (;;) {
        __asm volatile ("cpsid i");
        if (UART_STATE & 2u) {
            __asm volatile ("cpsie i");
            return (uint8_t)UART_DATA;
        }
        __asm volatile ("wfi");             /* a pending interrupt wakes it even masked */
        __asm volatile ("cpsie i");
    }
}

/* ---- the framing (as ../avr/firmware.c) ------------------------------------------ */

static void copy(void *to, const void *from, uint32_t n)
{
    uint8_t *d = to;
    const uint8_t *s = from;
    while (n--)
        *d++ = *s++;
}

static uint16_t crc16(const uint8_t *p, uint32_t n)     /* CRC-16/CCITT-FALSE */
{
    uint16_t crc = 0xFFFF;
    uint32_t i;
    while (n--) {
        crc ^= (uint16_t)(*p++) << 8;
        for (i = 0; i < 8; i++)
            crc = (crc & 0x8000u) ? (uint16_t)((crc << 1) ^ 0x1021u) : (uint16_t)(crc << 1);
    }
    return crc;
}

static int cobs_decode(uint8_t *buf, uint32_t n)
{
    uint32_t in = 0, out = 0;
    while (in < n) {
        uint32_t code = buf[in++], i;
        if (code == 0 || in + code - 1 > n)
            return -1;
        for (i = 1; i < code; i++)
            buf[out++] = buf[in++];
        if (code < 0xFF && in < n)
            buf[out++] = 0;
    }
    return (int)out;
}

static void send_frame(const uint8_t *body, uint32_t n)
{
    uint8_t raw[MAX_FRAME], out[MAX_FRAME + 2];
    uint32_t i, code_at = 0, code = 1, o = 1;
    uint16_t crc = crc16(body, n);
    copy(raw, body, n);
    raw[n] = (uint8_t)crc;
    raw[n + 1] = (uint8_t)(crc >> 8);
    for (i = 0; i < n + 2; i++) {
        if (raw[i] == 0) {
            out[code_at] = (uint8_t)code;
            code_at = o++;
            code = 1;
        } else {
            out[o++] = raw[i];
            code++;
        }
    }
    out[code_at] = (uint8_t)code;
    for (i = 0; i < o; i++)
        uart_put(out[i]);
    uart_put(0);
}

static uint8_t request[CONTROL_BODY];
static uint16_t seq;

static void put_u16(uint8_t *b, uint16_t v) { b[0] = (uint8_t)v; b[1] = (uint8_t)(v >> 8); }
static void put_u32(uint8_t *b, uint32_t v)
{
    put_u16(b, (uint16_t)v);
    put_u16(b + 2, (uint16_t)(v >> 16));
}

static void send_reset(void)
{
    float reserved = 0.0f;
    seq++;
    request[0] = MSG_RESET;
    request[1] = 0;
    put_u16(request + 2, seq);
    copy(request + 4, &reserved, 4);
    put_u32(request + 8, CLOCK_HZ);
    send_frame(request, sizeof request);
}

static float control_law(const float x[6])
{
    float u = 0.0f;
    int i;
    for (i = 0; i < 6; i++)
        u -= K[i] * x[i];
    if (!(u == u))
        return 0.0f;
    if (u > MAX_FORCE)
        u = MAX_FORCE;
    if (u < -MAX_FORCE)
        u = -MAX_FORCE;
    return u;
}

static int handle(uint8_t *f, uint32_t n, uint32_t start)
{
    float x[6], u;
    if (n < 7 || crc16(f, n - 2) != (uint16_t)(f[n - 2] | (f[n - 1] << 8)))
        return 0;
    if ((uint16_t)(f[2] | (f[3] << 8)) != seq)
        return 0;
    if (f[0] == MSG_STATE && n == STATE_BODY + 2) {
        copy(x, f + 4, sizeof x);
        u = control_law(x);
        seq++;
        request[0] = MSG_CONTROL;
        request[1] = 0;
        put_u16(request + 2, seq);
        copy(request + 4, &u, 4);
        put_u32(request + 8, instructions_since(start));
        send_frame(request, sizeof request);
        return 0;
    }
    if (f[0] == MSG_ERROR && n == ERROR_BODY + 2) {
        if (f[4] == ERR_FINISHED)
            return 1;
        send_reset();
    }
    return 0;
}

int main(void)
{
    uint8_t frame[MAX_FRAME];
    uint32_t n = 0;
    int overflow = 0, finished = 0;
    board_init();
    send_reset();
    for (;;) {
        uint8_t c = uart_get();
        if (c != 0) {
            if (n < MAX_FRAME)
                frame[n++] = c;
            else
                overflow = 1;
            continue;
        }
        {
            uint32_t start = ticks_now();
            int len = overflow ? -1 : cobs_decode(frame, n);
            n = 0;
            overflow = 0;
            if (len > 0 && !finished)
                finished = handle(frame, (uint32_t)len, start);
        }
    }
}

/* ---- start-up: the vector table, .data and .bss ------------------------------------ */

extern uint32_t _data_load, _data_start, _data_end, _bss_start, _bss_end, _stack_top;

void reset_handler(void)
{
    uint32_t *from = &_data_load, *to = &_data_start;
    while (to < &_data_end)
        *to++ = *from++;
    for (to = &_bss_start; to < &_bss_end; to++)
        *to = 0;
    main();
    for (;;)
        ;
}

static void hang(void)
{
    for (;;)
        ;
}

__attribute__((section(".vectors"), used))
static void (*const vectors[16 + 1])(void) = {
    (void (*)(void))&_stack_top, reset_handler, hang, hang, hang, hang, hang, 0, 0, 0, 0,
    hang, hang, 0, hang, hang,
    uart0_rx_handler,                       /* IRQ 0: UART0 RX */
};
