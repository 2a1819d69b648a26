/*
 * pil_harness.c: run an AVR firmware in simavr, its USART0 bridged to a serial line.
 *
 *   pil_harness FIRMWARE.elf DEVICE [--mcu atmega328p] [--freq 16000000]
 *
 * DEVICE is the line to the plant (the pseudo-terminal of the serial door,
 * `dip_test --door serial`'s {device}).  Bytes cross through the UART's
 * simavr IRQs: one byte is handed to the UART only once the firmware has
 * read the one before (its XON), as a line at the firmware's baud rate
 * would; the firmware's bytes are written to the line a whole frame at a
 * time (at each 0x00 delimiter).
 *
 * Lock-step: while the firmware sleeps waiting for its UART and nothing is
 * on its way to it, the harness blocks on the line, so simulated time runs
 * only while the chip works, whatever the host's load.  For each step it
 * counts the simulated cycles from the firmware's read of a frame's
 * delimiter to its first byte out, and when it ends (the line closed, or
 * SIGINT/SIGTERM) prints their summary on stderr.
 *
 * Exit codes: 0 the line closed or a signal; 1 the firmware crashed or
 * stopped; 2 a bad argument, a firmware or a line that cannot be opened.
 */

#define _DEFAULT_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <avr_uart.h>
#include <sim_avr.h>
#include <sim_elf.h>
#include <sim_irq.h>

#define QUEUE 4096
#define MAX_OUT 256

static avr_t *avr;
static avr_irq_t *uart_in;
static int line = -1;
static volatile sig_atomic_t stop;

static uint8_t queue[QUEUE];            /* bytes from the line, not yet given to the UART */
static size_t q_head, q_len;
static int xon, in_flight;
static uint8_t last_given;

static uint8_t out[MAX_OUT];            /* the firmware's frame so far */
static size_t out_len;

static int measuring;                   /* a delimiter was read: the step runs */
static avr_cycle_count_t step_start, step_cycles;
static unsigned long steps;
static avr_cycle_count_t c_min = (avr_cycle_count_t)-1, c_max;
static double c_sum;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static void on_xon(struct avr_irq_t *irq, uint32_t value, void *param)
{
    (void)irq;
    (void)param;
    if (!value)
        return;
    xon = 1;
    if (in_flight) {                    /* the firmware read the byte given */
        in_flight = 0;
        if (last_given == 0) {
            measuring = 1;
            step_start = avr->cycle;
        }
    }
}

static void on_xoff(struct avr_irq_t *irq, uint32_t value, void *param)
{
    (void)irq;
    (void)param;
    if (value)
        xon = 0;
}

static void write_line(const uint8_t *b, size_t n)
{
    while (n > 0) {
        ssize_t w = write(line, b, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN) {
                struct pollfd p = {line, POLLOUT, 0};
                poll(&p, 1, 100);
                continue;
            }
            stop = 1;                   /* the line is gone */
            return;
        }
        b += w;
        n -= (size_t)w;
    }
}

static void on_output(struct avr_irq_t *irq, uint32_t value, void *param)
{
    (void)irq;
    (void)param;
    if (measuring) {
        step_cycles = avr->cycle - step_start;
        measuring = 0;
    }
    if (out_len < MAX_OUT)
        out[out_len++] = (uint8_t)value;
    if (value != 0)
        return;
    /* A whole frame: the first data byte (after COBS's code byte) is its type. */
    if (out_len >= 2 && out[0] > 1 && out[1] == 1 && step_cycles) {
        steps++;
        c_sum += (double)step_cycles;
        if (step_cycles < c_min)
            c_min = step_cycles;
        if (step_cycles > c_max)
            c_max = step_cycles;
    }
    step_cycles = 0;
    write_line(out, out_len);
    out_len = 0;
}

/* Read what the line has (blocking up to timeout_ms); 0 when it closed. */
static int read_line(int timeout_ms)
{
    struct pollfd p = {line, POLLIN, 0};
    int r = poll(&p, 1, timeout_ms);
    if (r < 0)
        return errno == EINTR ? 1 : 0;
    if (r == 0)
        return 1;
    if (p.revents & POLLIN) {
        uint8_t buf[512];
        size_t room = QUEUE - q_len;
        ssize_t n = read(line, buf, room < sizeof buf ? room : sizeof buf);
        size_t i;
        if (n < 0)
            return errno == EAGAIN || errno == EINTR;
        if (n == 0)
            return 0;
        for (i = 0; i < (size_t)n; i++)
            queue[(q_head + q_len + i) % QUEUE] = buf[i];
        q_len += (size_t)n;
        return 1;
    }
    return !(p.revents & (POLLHUP | POLLERR | POLLNVAL));
}

static void summary(void)
{
    double hz = (double)avr->frequency;
    if (steps == 0) {
        fprintf(stderr, "pil_harness: no control step\n");
        return;
    }
    fprintf(stderr, "pil_harness: %lu control steps; cycles per step (delimiter read -> "
            "first byte out): min %llu mean %.0f max %llu; at %.0f MHz the max is %.1f us\n",
            steps, (unsigned long long)c_min, c_sum / (double)steps,
            (unsigned long long)c_max, hz / 1e6, (double)c_max / hz * 1e6);
}

static void no_sleep(avr_t *a, avr_cycle_count_t how_long)
{
    (void)a;                            /* simulated time jumps; no wall-clock wait */
    (void)how_long;
}

int main(int argc, char **argv)
{
    const char *mcu = "atmega328p";
    unsigned long freq = 16000000UL;
    elf_firmware_t firmware;
    struct termios tio;
    uint32_t flags = 0;
    unsigned long polls = 0;
    int i, state, code = 0;

    if (argc < 3) {
        fprintf(stderr, "usage: pil_harness FIRMWARE.elf DEVICE [--mcu M] [--freq HZ]\n");
        return 2;
    }
    for (i = 3; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--mcu") == 0)
            mcu = argv[i + 1];
        else if (strcmp(argv[i], "--freq") == 0)
            freq = strtoul(argv[i + 1], NULL, 10);
        else {
            fprintf(stderr, "pil_harness: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    memset(&firmware, 0, sizeof firmware);
    if (elf_read_firmware(argv[1], &firmware) != 0) {
        fprintf(stderr, "pil_harness: cannot read the firmware %s\n", argv[1]);
        return 2;
    }
    if (firmware.mmcu[0])
        mcu = firmware.mmcu;
    avr = avr_make_mcu_by_name(mcu);
    if (!avr) {
        fprintf(stderr, "pil_harness: simavr knows no MCU %s\n", mcu);
        return 2;
    }
    avr_init(avr);
    avr_load_firmware(avr, &firmware);
    if (firmware.frequency)
        freq = firmware.frequency;
    avr->frequency = (uint32_t)freq;
    avr->sleep = no_sleep;
    avr->log = LOG_ERROR;

    line = open(argv[2], O_RDWR | O_NOCTTY | O_NONBLOCK);
    if (line < 0) {
        fprintf(stderr, "pil_harness: cannot open %s: %s\n", argv[2], strerror(errno));
        return 2;
    }
    if (tcgetattr(line, &tio) == 0) {
        cfmakeraw(&tio);
        tcsetattr(line, TCSANOW, &tio);
    }

    /* The UART's bytes go to the line, not to simavr's console. */
    avr_ioctl(avr, AVR_IOCTL_UART_GET_FLAGS('0'), &flags);
    flags &= ~AVR_UART_FLAG_STDIO;
    avr_ioctl(avr, AVR_IOCTL_UART_SET_FLAGS('0'), &flags);
    uart_in = avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_INPUT);
    avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUTPUT),
                            on_output, NULL);
    avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUT_XON),
                            on_xon, NULL);
    avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUT_XOFF),
                            on_xoff, NULL);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGPIPE, SIG_IGN);

    while (!stop) {
        if (xon && !in_flight && q_len > 0) {
            last_given = queue[q_head];
            q_head = (q_head + 1) % QUEUE;
            q_len--;
            in_flight = 1;
            avr_raise_irq(uart_in, last_given);
        }
        if (avr->state == cpu_Sleeping && !in_flight && q_len == 0) {
            /* The chip waits for the plant: so does simulated time. */
            if (!read_line(200) )
                break;
            if (q_len == 0)
                continue;
        } else if (q_len == 0 && (++polls & 0x3FF) == 0) {
            if (!read_line(0))
                break;
        }
        state = avr_run(avr);
        if (state == cpu_Done || state == cpu_Crashed) {
            fprintf(stderr, "pil_harness: the firmware %s at cycle %llu\n",
                    state == cpu_Crashed ? "crashed" : "stopped",
                    (unsigned long long)avr->cycle);
            code = 1;
            break;
        }
    }
    summary();
    close(line);
    return code;
}
