/*
 * dip_client.c: balance the plant_server_ros double inverted pendulum from C.
 *
 * A client of the legacy protocols of docs/PROTOCOL.md, written from that
 * contract alone: the 64-byte TCP frames (default) or the UDP datagrams
 * (--udp).  LQR state feedback u = -K x, saturated at +/-20 N; at the end a
 * summary in the format of the Python reference client (dip_client).
 *
 *   dip_client [--host H] [--port P] [--udp] [--seconds S | --steps N] [--self-test]
 *
 * Exit codes: 0 balanced to the end; 1 the pendulum fell (|theta1| or
 * |theta2| over 0.6 rad); 2 a protocol or connection error (or a bad
 * argument).  --self-test checks the encoders against the test vectors of
 * docs/PROTOCOL.md and exits 0 when all match, 1 otherwise.
 *
 * C99 + POSIX sockets, nothing beyond libc and libm:
 *   cc -O2 -std=c99 -Wall -Wextra -o dip_client dip_client.c -lm
 */

#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

/* The wire format is IEEE 754 binary64; a double must be 8 bytes here. */
typedef char double_is_8_bytes[sizeof(double) == 8 ? 1 : -1];

enum { EXIT_BALANCED = 0, EXIT_FELL = 1, EXIT_ERROR = 2 };

#define DT 0.01                  /* control period the gain is designed for [s] */
#define MAX_FORCE 20.0           /* saturate the command here [N] */
#define FALL_ANGLE 0.6           /* |theta1| or |theta2| beyond this [rad]: fallen */
#define DEFAULT_SECONDS 10.0     /* plant time to run when neither --seconds nor --steps */
#define DEFAULT_TCP_PORT 5555
#define DEFAULT_UDP_PORT 9000
#define TCP_TIMEOUT_MS 15000     /* connect and per-reply timeout over TCP */
#define UDP_TIMEOUT_MS 200       /* receive timeout of one UDP try */
#define UDP_TRIES 5              /* tries per command (same seq) before giving up */

/*
 * Discrete LQR gain for dt = 0.01 s, u = -K x with
 * x = [x, th1, th2, xdot, th1dot, th2dot], from the package's own
 * linearisation (Q = diag(10, 100, 100, 1, 1, 1), R = 0.1).  Regenerate with
 * (from the repository root, /work/main here):
 *   PYTHONPATH=/work/main .venv/bin/python -c "from plant_server_ros.clients.controllers import lqr_gain; print(list(lqr_gain(0.01)))"
 * (numpy may print each value as np.float64(...); copy the numbers).
 */
static const double K[6] = {
    8.616107018145364, -330.08415021402465, 417.290830962437,
    13.67574972564566, -12.545302283095465, 56.83083792429707,
};

/* ---- protocol constants (docs/PROTOCOL.md) ---------------------------- */

#define FRAME_SIZE 64
#define PAYLOAD_SIZE 56
enum { MSG_CONTROL = 1, MSG_STATE = 2, MSG_RESET = 3, MSG_ERROR = 4 };

#define UDP_COMMAND_SIZE 16      /* !IdI  seq, u, crc */
#define UDP_STATE_SIZE 56        /* !I6dI seq, state, crc */

static const char *const ERROR_NAMES[] = {
    NULL, "BAD_SIZE", "BAD_TYPE", "NOT_FINITE", "BUSY", "TIMEOUT",
    "PLANT_UNAVAILABLE", "FINISHED", "BAD_STATE", "HALTED",
};
#define N_ERROR_CODES 9

/* ---- big-endian encoding ----------------------------------------------- */

static void put_u32(unsigned char *b, uint32_t v)
{
    b[0] = (unsigned char)(v >> 24);
    b[1] = (unsigned char)(v >> 16);
    b[2] = (unsigned char)(v >> 8);
    b[3] = (unsigned char)v;
}

static uint32_t get_u32(const unsigned char *b)
{
    return ((uint32_t)b[0] << 24) | ((uint32_t)b[1] << 16) |
           ((uint32_t)b[2] << 8) | (uint32_t)b[3];
}

static void put_f64(unsigned char *b, double d)
{
    uint64_t v;
    int i;
    memcpy(&v, &d, sizeof v);
    for (i = 7; i >= 0; i--) {
        b[i] = (unsigned char)v;
        v >>= 8;
    }
}

static double get_f64(const unsigned char *b)
{
    uint64_t v = 0;
    double d;
    int i;
    for (i = 0; i < 8; i++)
        v = (v << 8) | b[i];
    memcpy(&d, &v, sizeof d);
    return d;
}

/* ---- CRC-32 (zlib's crc32: reflected 0xEDB88320, init and final xor ~0) - */

static uint32_t crc_table[256];
static int crc_table_ready;

static void crc32_init(void)
{
    uint32_t n, c;
    int k;
    for (n = 0; n < 256; n++) {
        c = n;
        for (k = 0; k < 8; k++)
            c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[n] = c;
    }
    crc_table_ready = 1;
}

static uint32_t crc32_of(const unsigned char *buf, size_t len)
{
    uint32_t c = 0xFFFFFFFFu;
    size_t i;
    if (!crc_table_ready)
        crc32_init();
    for (i = 0; i < len; i++)
        c = crc_table[(c ^ buf[i]) & 0xFFu] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

/* ---- TCP frames: !II7d ------------------------------------------------- */

static void encode_frame(unsigned char *f, uint32_t type, const double p[7])
{
    int i;
    put_u32(f, PAYLOAD_SIZE);
    put_u32(f + 4, type);
    for (i = 0; i < 7; i++)
        put_f64(f + 8 + 8 * i, p[i]);
}

static void encode_control(unsigned char *f, double u, double client_time)
{
    double p[7] = {0, 0, 0, 0, 0, 0, 0};
    p[0] = u;
    p[6] = client_time;
    encode_frame(f, MSG_CONTROL, p);
}

/* RESET to the configured initial state (state == NULL) or to state. */
static void encode_reset(unsigned char *f, const double *state)
{
    double p[7] = {0, 0, 0, 0, 0, 0, 0};
    int i;
    if (state != NULL) {
        for (i = 0; i < 6; i++)
            p[i] = state[i];
        p[6] = 1.0;
    }
    encode_frame(f, MSG_RESET, p);
}

/* Return 0 and fill type/p, or -1 when the size field is not 56. */
static int decode_frame(const unsigned char *f, uint32_t *type, double p[7])
{
    int i;
    if (get_u32(f) != PAYLOAD_SIZE)
        return -1;
    *type = get_u32(f + 4);
    for (i = 0; i < 7; i++)
        p[i] = get_f64(f + 8 + 8 * i);
    return 0;
}

/* ---- UDP datagrams: command !IdI, state !I6dI ------------------------- */

static void encode_udp_command(unsigned char *d, uint32_t seq, double u)
{
    put_u32(d, seq);
    put_f64(d + 4, u);
    put_u32(d + 12, crc32_of(d, 12));
}

static void encode_udp_state(unsigned char *d, uint32_t seq, const double s[6])
{
    int i;
    put_u32(d, seq);
    for (i = 0; i < 6; i++)
        put_f64(d + 4 + 8 * i, s[i]);
    put_u32(d + 52, crc32_of(d, 52));
}

/* Return 0 and fill seq/s for a well-formed state datagram, -1 otherwise. */
static int decode_udp_state(const unsigned char *d, size_t len, uint32_t *seq, double s[6])
{
    int i;
    if (len != UDP_STATE_SIZE || get_u32(d + 52) != crc32_of(d, 52))
        return -1;
    *seq = get_u32(d);
    for (i = 0; i < 6; i++)
        s[i] = get_f64(d + 4 + 8 * i);
    return 0;
}

/* ---- controller --------------------------------------------------------- */

static double control_law(const double x[6])
{
    double u = 0.0;
    int i;
    for (i = 0; i < 6; i++)
        u -= K[i] * x[i];
    if (u > MAX_FORCE)
        u = MAX_FORCE;
    if (u < -MAX_FORCE)
        u = -MAX_FORCE;
    return u;
}

static int state_finite(const double s[6])
{
    int i;
    for (i = 0; i < 6; i++)
        if (!isfinite(s[i]))
            return 0;
    return 1;
}

/* ---- time --------------------------------------------------------------- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- run record and summary --------------------------------------------- */

struct run {
    long steps;
    double t_final;                 /* plant time of the last sample [s] */
    double state[6];                /* last state received */
    double max_th1, max_th2;
    int fell;
    double *rtt;                    /* round trip of every request [s] */
    size_t n_rtt, cap_rtt;
    long retransmits, dropped;      /* UDP only */
};

static int record_rtt(struct run *r, double seconds)
{
    if (r->n_rtt == r->cap_rtt) {
        size_t cap = r->cap_rtt ? 2 * r->cap_rtt : 1024;
        double *p = realloc(r->rtt, cap * sizeof *p);
        if (p == NULL) {
            fprintf(stderr, "dip_client: out of memory\n");
            return -1;
        }
        r->rtt = p;
        r->cap_rtt = cap;
    }
    r->rtt[r->n_rtt++] = seconds;
    return 0;
}

static void track(struct run *r, const double s[6])
{
    memcpy(r->state, s, sizeof r->state);
    if (fabs(s[1]) > r->max_th1)
        r->max_th1 = fabs(s[1]);
    if (fabs(s[2]) > r->max_th2)
        r->max_th2 = fabs(s[2]);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Percentile q of sorted a[0..n-1], linear interpolation (numpy's default). */
static double percentile(const double *a, size_t n, double q)
{
    double h, frac;
    size_t lo;
    if (n == 0)
        return NAN;
    h = (double)(n - 1) * q / 100.0;
    lo = (size_t)floor(h);
    if (lo + 1 >= n)
        return a[n - 1];
    frac = h - (double)lo;
    return a[lo] + frac * (a[lo + 1] - a[lo]);
}

static void print_summary(struct run *r, int udp)
{
    /* As the Python client: leave out the first request (RESET, or UDP seq 1). */
    double *rtt = r->n_rtt > 1 ? r->rtt + 1 : r->rtt;
    size_t n = r->n_rtt > 1 ? r->n_rtt - 1 : r->n_rtt;
    int i;

    qsort(rtt, n, sizeof *rtt, cmp_double);
    printf("steps: %ld  plant time: %.3f s\n", r->steps, r->t_final);
    printf("round trip: p50 %.0f us, p99 %.0f us\n",
           percentile(rtt, n, 50.0) * 1e6, percentile(rtt, n, 99.0) * 1e6);
    printf("max |theta1|: %.4f rad  max |theta2|: %.4f rad\n", r->max_th1, r->max_th2);
    printf("final state [x, th1, th2, xd, th1d, th2d]: [");
    for (i = 0; i < 6; i++)
        printf("%s%+.4f", i ? ", " : "", r->state[i]);
    printf("]\n");
    if (udp)
        printf("udp: %ld retransmits, %ld dropped datagrams\n", r->retransmits, r->dropped);
    printf("result: %s\n", r->fell ? "FELL" : "balanced");
    fflush(stdout);
}

/* ---- sockets ------------------------------------------------------------- */

/* Return a connected socket of the given type, or -1 (message printed). */
static int open_socket(const char *host, int port, int socktype)
{
    struct addrinfo hints, *res, *ai;
    char service[16];
    int fd = -1, rc, err = 0;

    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = socktype;
    snprintf(service, sizeof service, "%d", port);
    rc = getaddrinfo(host, service, &hints, &res);
    if (rc != 0) {
        fprintf(stderr, "dip_client: cannot resolve %s: %s\n", host, gai_strerror(rc));
        return -1;
    }
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        int flags;
        fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        /* Non-blocking connect, so that it gives up after TCP_TIMEOUT_MS. */
        flags = fcntl(fd, F_GETFL, 0);
        fcntl(fd, F_SETFL, flags | O_NONBLOCK);
        rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
        if (rc < 0 && errno == EINPROGRESS) {
            struct pollfd pfd;
            socklen_t len = sizeof err;
            pfd.fd = fd;
            pfd.events = POLLOUT;
            do
                rc = poll(&pfd, 1, TCP_TIMEOUT_MS);
            while (rc < 0 && errno == EINTR);
            if (rc == 0) {
                err = ETIMEDOUT;
                rc = -1;
            } else if (rc > 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0) {
                rc = err ? -1 : 0;
            } else {
                err = errno;
                rc = -1;
            }
        } else if (rc < 0) {
            err = errno;
        }
        if (rc == 0) {
            fcntl(fd, F_SETFL, flags);
            break;
        }
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0)
        fprintf(stderr, "dip_client: cannot connect to %s:%d: %s\n", host, port,
                strerror(err));
    return fd;
}

/* Wait until fd is readable; 1 ready, 0 timed out, -1 error. */
static int wait_readable(int fd, int timeout_ms)
{
    struct pollfd pfd;
    int rc;
    pfd.fd = fd;
    pfd.events = POLLIN;
    do
        rc = poll(&pfd, 1, timeout_ms);
    while (rc < 0 && errno == EINTR);
    return rc;
}

/* ---- TCP session ---------------------------------------------------------- */

static int send_all(int fd, const unsigned char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, buf, len, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "dip_client: send: %s\n", strerror(errno));
            return -1;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

static int recv_frame(int fd, unsigned char *buf)
{
    size_t got = 0;
    double deadline = now_s() + TCP_TIMEOUT_MS / 1000.0;
    while (got < FRAME_SIZE) {
        ssize_t n;
        int left_ms = (int)((deadline - now_s()) * 1000.0);
        int rc = wait_readable(fd, left_ms > 0 ? left_ms : 0);
        if (rc == 0) {
            fprintf(stderr, "dip_client: no reply within %d ms\n", TCP_TIMEOUT_MS);
            return -1;
        }
        if (rc < 0) {
            fprintf(stderr, "dip_client: poll: %s\n", strerror(errno));
            return -1;
        }
        n = recv(fd, buf + got, FRAME_SIZE - got, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "dip_client: recv: %s\n", strerror(errno));
            return -1;
        }
        if (n == 0) {
            fprintf(stderr, "dip_client: server closed the connection\n");
            return -1;
        }
        got += (size_t)n;
    }
    return 0;
}

/* One request and its STATE reply; -1 on anything else (message printed). */
static int tcp_request(int fd, const unsigned char *frame, struct run *r,
                       double state[6], double *t)
{
    unsigned char reply[FRAME_SIZE];
    double p[7], start = now_s();
    uint32_t type;
    int i;

    if (send_all(fd, frame, FRAME_SIZE) < 0 || recv_frame(fd, reply) < 0)
        return -1;
    if (record_rtt(r, now_s() - start) < 0)
        return -1;
    if (decode_frame(reply, &type, p) < 0) {
        fprintf(stderr, "dip_client: protocol error: reply size field is %lu, must be %d\n",
                (unsigned long)get_u32(reply), PAYLOAD_SIZE);
        return -1;
    }
    if (type == MSG_ERROR) {
        int code = (p[0] >= 1 && p[0] <= N_ERROR_CODES) ? (int)p[0] : 0;
        if (code == 0 || (double)code != p[0])
            fprintf(stderr, "dip_client: ERROR frame with unknown code %g\n", p[0]);
        else
            fprintf(stderr, "dip_client: protocol error: %s: server answered ERROR %s\n",
                    ERROR_NAMES[code], ERROR_NAMES[code]);
        return -1;
    }
    if (type != MSG_STATE) {
        fprintf(stderr, "dip_client: unexpected frame type %lu from the server\n",
                (unsigned long)type);
        return -1;
    }
    for (i = 0; i < 6; i++)
        state[i] = p[i];
    *t = p[6];
    if (!state_finite(state) || !isfinite(*t)) {
        fprintf(stderr, "dip_client: protocol error: non-finite STATE from the server\n");
        return -1;
    }
    return 0;
}

static int run_tcp(const char *host, int port, long max_steps, double seconds, struct run *r)
{
    unsigned char frame[FRAME_SIZE];
    double state[6], t, t_start, t0 = now_s();
    int fd, one = 1, code = EXIT_BALANCED;

    fd = open_socket(host, port, SOCK_STREAM);
    if (fd < 0)
        return EXIT_ERROR;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);

    encode_reset(frame, NULL);
    if (tcp_request(fd, frame, r, state, &t) < 0) {
        close(fd);
        return EXIT_ERROR;
    }
    t_start = t;
    r->t_final = t;
    track(r, state);
    for (;;) {
        if (max_steps >= 0 ? r->steps >= max_steps : t - t_start >= seconds - 1e-9)
            break;
        /* p[6] is opaque to the server: our own clock, for a capture to read. */
        encode_control(frame, control_law(state), now_s() - t0);
        if (tcp_request(fd, frame, r, state, &t) < 0) {
            close(fd);
            return EXIT_ERROR;
        }
        r->steps++;
        r->t_final = t;
        track(r, state);
        if (fabs(state[1]) > FALL_ANGLE || fabs(state[2]) > FALL_ANGLE) {
            r->fell = 1;
            code = EXIT_FELL;
            break;
        }
    }
    close(fd);
    return code;
}

/* ---- UDP session ---------------------------------------------------------- */

/*
 * Send command (seq, u) and wait for its state: each try waits
 * UDP_TIMEOUT_MS; datagrams of the wrong length, crc or seq are dropped.
 * After UDP_TRIES tries with no valid reply: -1 (message printed).
 */
static int udp_request(int fd, uint32_t seq, double u, struct run *r, double state[6])
{
    unsigned char cmd[UDP_COMMAND_SIZE], buf[512];
    double start = now_s();
    int attempt, last_err = 0;

    encode_udp_command(cmd, seq, u);
    for (attempt = 0; attempt < UDP_TRIES; attempt++) {
        double deadline;
        if (attempt > 0)
            r->retransmits++;
        if (send(fd, cmd, sizeof cmd, 0) < 0) {
            last_err = errno;
            if (last_err == ECONNREFUSED || last_err == EINTR)
                continue;
            fprintf(stderr, "dip_client: send: %s\n", strerror(last_err));
            return -1;
        }
        deadline = now_s() + UDP_TIMEOUT_MS / 1000.0;
        for (;;) {
            uint32_t got_seq;
            ssize_t n;
            int left_ms = (int)ceil((deadline - now_s()) * 1000.0);
            int rc;
            if (left_ms <= 0)
                break;
            rc = wait_readable(fd, left_ms);
            if (rc == 0)
                break;
            if (rc < 0) {
                fprintf(stderr, "dip_client: poll: %s\n", strerror(errno));
                return -1;
            }
            n = recv(fd, buf, sizeof buf, 0);
            if (n < 0) {
                if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
                    continue;
                last_err = errno;
                if (last_err == ECONNREFUSED)     /* ICMP port unreachable: next try */
                    break;
                fprintf(stderr, "dip_client: recv: %s\n", strerror(last_err));
                return -1;
            }
            if (decode_udp_state(buf, (size_t)n, &got_seq, state) < 0 || got_seq != seq) {
                r->dropped++;
                continue;
            }
            if (!state_finite(state)) {
                fprintf(stderr, "dip_client: protocol error: non-finite state for seq %lu\n",
                        (unsigned long)seq);
                return -1;
            }
            return record_rtt(r, now_s() - start);
        }
    }
    fprintf(stderr, "dip_client: no valid reply to seq %lu after %d tries of %d ms%s%s\n",
            (unsigned long)seq, UDP_TRIES, UDP_TIMEOUT_MS, last_err ? ": " : "",
            last_err ? strerror(last_err) : "");
    return -1;
}

/*
 * The datagrams carry no plant time: it is counted as one dt per answered
 * command (exact in lock-step, nominal in real time).  The first command
 * (seq 1, u = 0) starts the episode, in place of the TCP RESET; it also
 * advances the plant one dt, so the plant time is (steps + 1) * dt.
 */
static int run_udp(const char *host, int port, long max_steps, double seconds, struct run *r)
{
    double state[6], t, t_start;
    uint32_t seq = 1;
    int fd, code = EXIT_BALANCED;

    fd = open_socket(host, port, SOCK_DGRAM);
    if (fd < 0)
        return EXIT_ERROR;
    if (udp_request(fd, seq, 0.0, r, state) < 0) {
        close(fd);
        return EXIT_ERROR;
    }
    t = t_start = DT;
    r->t_final = t;
    track(r, state);
    for (;;) {
        if (max_steps >= 0 ? r->steps >= max_steps : t - t_start >= seconds - 1e-9)
            break;
        seq++;
        if (udp_request(fd, seq, control_law(state), r, state) < 0) {
            close(fd);
            return EXIT_ERROR;
        }
        r->steps++;
        t = (double)(r->steps + 1) * DT;
        r->t_final = t;
        track(r, state);
        if (fabs(state[1]) > FALL_ANGLE || fabs(state[2]) > FALL_ANGLE) {
            r->fell = 1;
            code = EXIT_FELL;
            break;
        }
    }
    close(fd);
    return code;
}

/* ---- self-test ------------------------------------------------------------ */

static int n_checks, n_failed;

static void check(int ok, const char *what)
{
    n_checks++;
    if (!ok)
        n_failed++;
    printf("%s  %s\n", ok ? "ok  " : "FAIL", what);
}

static void to_hex(const unsigned char *b, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    size_t i;
    for (i = 0; i < n; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
    out[2 * n] = '\0';
}

static void check_hex(const unsigned char *b, size_t n, const char *expected, const char *what)
{
    char hex[2 * FRAME_SIZE + 1];
    int ok;
    to_hex(b, n, hex);
    ok = strcmp(hex, expected) == 0;
    check(ok, what);
    if (!ok)
        printf("      got      %s\n      expected %s\n", hex, expected);
}

static int from_hex(const char *hex, unsigned char *out, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        unsigned int v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1)
            return -1;
        out[i] = (unsigned char)v;
    }
    return 0;
}

/* The test vectors of docs/PROTOCOL.md. */
#define V_CONTROL "00000038000000013ff800000000000000000000000000000000000000000000" \
                  "0000000000000000000000000000000000000000000000003fd0000000000000"
#define V_STATE "000000380000000200000000000000003fa999999999999abf9eb851eb851eb8" \
                "0000000000000000000000000000000000000000000000003f847ae147ae147b"
#define V_RESET0 "0000003800000003000000000000000000000000000000000000000000000000" \
                 "0000000000000000000000000000000000000000000000000000000000000000"
#define V_RESET1 "00000038000000033fb999999999999a3fc999999999999abfb999999999999a" \
                 "0000000000000000000000000000000000000000000000003ff0000000000000"
#define V_ERROR "00000038000000043ff000000000000000000000000000000000000000000000" \
                "0000000000000000000000000000000000000000000000000000000000000000"
#define V_UDP_COMMAND "000000013ff800000000000067d2e743"
#define V_UDP_STATE "0000000100000000000000003fa999999999999abf9eb851eb851eb800000000" \
                    "0000000000000000000000000000000000000000d1d717e4"

static int self_test(void)
{
    static const double s0[6] = {0.0, 0.05, -0.03, 0.0, 0.0, 0.0};
    static const double reset_to[6] = {0.1, 0.2, -0.1, 0.0, 0.0, 0.0};
    unsigned char f[FRAME_SIZE], d[UDP_STATE_SIZE];
    double p[7] = {0, 0, 0, 0, 0, 0, 0}, s[6], expected_u;
    double small[6] = {0, 0, 0, 0, 0, 0}, big[6] = {0, 0, 0, 0, 0, 0};
    uint32_t type, seq;
    int i;

    check(crc32_of((const unsigned char *)"123456789", 9) == 0xCBF43926u,
          "crc32(\"123456789\") == 0xcbf43926");
    check(crc32_of(NULL, 0) == 0, "crc32 of nothing == 0");

    encode_control(f, 1.5, 0.25);
    check_hex(f, FRAME_SIZE, V_CONTROL, "TCP CONTROL u=1.5 t=0.25");
    memcpy(p, s0, sizeof s0);
    p[6] = 0.01;
    encode_frame(f, MSG_STATE, p);
    check_hex(f, FRAME_SIZE, V_STATE, "TCP STATE [0, 0.05, -0.03, 0, 0, 0] t=0.01");
    encode_reset(f, NULL);
    check_hex(f, FRAME_SIZE, V_RESET0, "TCP RESET to the configured initial state");
    encode_reset(f, reset_to);
    check_hex(f, FRAME_SIZE, V_RESET1, "TCP RESET to [0.1, 0.2, -0.1, 0, 0, 0]");
    memset(p, 0, sizeof p);
    p[0] = 1.0;
    encode_frame(f, MSG_ERROR, p);
    check_hex(f, FRAME_SIZE, V_ERROR, "TCP ERROR BAD_SIZE");

    from_hex(V_STATE, f, FRAME_SIZE);
    check(decode_frame(f, &type, p) == 0 && type == MSG_STATE &&
          memcmp(p, s0, sizeof s0) == 0 && p[6] == 0.01, "decode the STATE vector");
    from_hex(V_ERROR, f, FRAME_SIZE);
    check(decode_frame(f, &type, p) == 0 && type == MSG_ERROR && p[0] == 1.0,
          "decode the ERROR vector: code 1");
    f[3] = 57;
    check(decode_frame(f, &type, p) < 0, "a size field of 57 is refused");

    encode_udp_command(d, 1, 1.5);
    check_hex(d, UDP_COMMAND_SIZE, V_UDP_COMMAND, "UDP command seq=1 u=1.5");
    encode_udp_state(d, 1, s0);
    check_hex(d, UDP_STATE_SIZE, V_UDP_STATE, "UDP state seq=1 [0, 0.05, -0.03, 0, 0, 0]");
    from_hex(V_UDP_STATE, d, UDP_STATE_SIZE);
    check(decode_udp_state(d, UDP_STATE_SIZE, &seq, s) == 0 && seq == 1 &&
          memcmp(s, s0, sizeof s0) == 0, "decode the UDP state vector");
    check(decode_udp_state(d, UDP_STATE_SIZE - 1, &seq, s) < 0,
          "a UDP state of 55 bytes is dropped");
    d[10] ^= 0x01;
    check(decode_udp_state(d, UDP_STATE_SIZE, &seq, s) < 0,
          "a UDP state with a flipped bit is dropped (crc)");

    small[1] = 0.01;
    small[2] = -0.01;
    small[4] = 0.1;
    expected_u = 0.0;
    for (i = 0; i < 6; i++)
        expected_u -= K[i] * small[i];
    check(fabs(control_law(small) - expected_u) < 1e-12 && fabs(expected_u) < MAX_FORCE,
          "u = -K x on a small state, unsaturated");
    big[1] = 0.5;
    check(control_law(big) == MAX_FORCE, "u saturates at +20 N");
    big[1] = -0.5;
    check(control_law(big) == -MAX_FORCE, "u saturates at -20 N");

    printf("self-test: %d/%d passed\n", n_checks - n_failed, n_checks);
    return n_failed == 0 ? 0 : 1;
}

/* ---- command line --------------------------------------------------------- */

static void usage(FILE *out)
{
    fprintf(out,
            "usage: dip_client [--host H] [--port P] [--udp] [--seconds S | --steps N]"
            " [--self-test]\n"
            "Balance the plant_server_ros double inverted pendulum with LQR state feedback\n"
            "over the legacy TCP protocol (or the UDP datagrams with --udp) and print a\n"
            "summary.\n"
            "  --host H      server address (default 127.0.0.1)\n"
            "  --port P      server port (default %d, or %d with --udp)\n"
            "  --udp         use the UDP datagrams instead of the 64-byte TCP frames\n"
            "  --seconds S   plant time to run [s] (default %g)\n"
            "  --steps N     number of control steps instead\n"
            "  --self-test   check the encoders against the protocol's test vectors\n"
            "Exit codes: 0 balanced, 1 fell (|theta| > %g rad), 2 protocol/connection error.\n",
            DEFAULT_TCP_PORT, DEFAULT_UDP_PORT, DEFAULT_SECONDS, FALL_ANGLE);
}

static int bad_arg(const char *msg, const char *arg)
{
    fprintf(stderr, "dip_client: %s%s\n"
            "usage: dip_client [--host H] [--port P] [--udp] [--seconds S | --steps N]"
            " [--self-test]  (--help for more)\n", msg, arg ? arg : "");
    return EXIT_ERROR;
}

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1";
    long port = -1, max_steps = -1;
    double seconds = -1.0;
    int udp = 0, code, i;
    struct run r;

    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        char *end;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return EXIT_BALANCED;
        } else if (strcmp(a, "--self-test") == 0) {
            return self_test();
        } else if (strcmp(a, "--udp") == 0) {
            udp = 1;
        } else if (strcmp(a, "--host") == 0 || strcmp(a, "--port") == 0 ||
                   strcmp(a, "--seconds") == 0 || strcmp(a, "--steps") == 0) {
            const char *v;
            if (i + 1 >= argc)
                return bad_arg("missing value after ", a);
            v = argv[++i];
            errno = 0;
            if (strcmp(a, "--host") == 0) {
                host = v;
            } else if (strcmp(a, "--port") == 0) {
                port = strtol(v, &end, 10);
                if (errno || *v == '\0' || *end != '\0' || port < 1 || port > 65535)
                    return bad_arg("--port must be 1..65535, got ", v);
            } else if (strcmp(a, "--steps") == 0) {
                max_steps = strtol(v, &end, 10);
                if (errno || *v == '\0' || *end != '\0' || max_steps < 0)
                    return bad_arg("--steps must be a whole number >= 0, got ", v);
            } else {
                seconds = strtod(v, &end);
                if (errno || *v == '\0' || *end != '\0' || !isfinite(seconds) || seconds < 0)
                    return bad_arg("--seconds must be a number >= 0, got ", v);
            }
        } else {
            return bad_arg("unknown argument ", a);
        }
    }
    if (max_steps >= 0 && seconds >= 0)
        return bad_arg("--seconds and --steps exclude each other", NULL);
    if (seconds < 0)
        seconds = DEFAULT_SECONDS;
    if (port < 0)
        port = udp ? DEFAULT_UDP_PORT : DEFAULT_TCP_PORT;

    signal(SIGPIPE, SIG_IGN);       /* a closed peer is an error return, not a kill */
    memset(&r, 0, sizeof r);
    code = udp ? run_udp(host, (int)port, max_steps, seconds, &r)
               : run_tcp(host, (int)port, max_steps, seconds, &r);
    if (code != EXIT_ERROR)
        print_summary(&r, udp);
    free(r.rtt);
    return code;
}
