/*
 * firmware.c: the LQR controller of examples/c/ on a Cortex-M3 (QEMU's
 * mps2-an385 board, 25 MHz), speaking the compact framing of docs/serial.md
 * on its CMSDK UART0, no libc (soft float from libgcc).
 *
 * The framing, the control law and the episodes are ../common/ (dip_compact.c,
 * dip_control.c), shared with ../avr/; this file is the board's part: the
 * UART, SysTick as the count, the clock, the vector table and start-up.
 *
 * QEMU is not cycle-accurate: run with -icount shift=0 (one instruction per
 * nanosecond of virtual time) SysTick counts executed instructions, 40 per
 * tick at 25 MHz.  Each CONTROL's `cycles` is that count, from the STATE's
 * delimiter to the CONTROL's body ready; an instruction count, a lower
 * bound of the cycles a real M3 spends (loads, branches and soft-float
 * calls take more than one cycle each).
 */

#include <stdint.h>

#include "dip_control.h"
#include "dip_compact.h"

#define CLOCK_HZ 25000000u
#define INSTRUCTIONS_PER_TICK 40u      /* -icount shift=0: 1 ns an instruction, 40 ns a tick */

const uint32_t dip_clock_hz = CLOCK_HZ;

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

uint32_t dip_cycles_now(void)               /* SysTick counts down, 24 bits */
{
    return SYST_CVR;
}

uint32_t dip_cycles_since(uint32_t start)
{
    return ((start - dip_cycles_now()) & 0x00FFFFFFu) * INSTRUCTIONS_PER_TICK;
}

void dip_put_byte(uint8_t c)
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

int main(void)
{
    board_init();
    dip_send_reset();
    for (;;)
        dip_receive(uart_get());
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
