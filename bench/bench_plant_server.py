"""
Lock-step round trip through the ROS-free ``PlantServer``, beside raw echoes.

The server runs in a child process, as a user's would; so does a raw echo of
the same exchange (a 64-byte TCP frame; a 16-byte UDP datagram answered with
56 bytes), the floor of what any server can do here.  The client sends the
next request as soon as it has the reply.  Prints, all from one run:
round-trip percentiles of each, the p50 ratio server/echo and steps/s.

    python bench/bench_plant_server.py [--steps 20000] [--transport tcp udp] [--compiled-step]

``--compiled-step``: the server steps its plant with the compiled period.

Targets (issues): p50 <= 2.5 x the echo's p50; >= 20,000 steps/s (issue 28; 10,000 before).
``--client-poll``: the client polls for each TCP reply instead of sleeping in recv
(a controller on a core of its own): the wakeup of a sleeping client bounds
the echo itself near 20,000 round trips/s when client and server sit on
different cores.
"""

import argparse
import os
import socket
import subprocess
import sys
import threading
import time

from _common import percentiles  # also puts this checkout on sys.path

TCP_FRAME = 64
UDP_COMMAND, UDP_STATE = 16, 56


def serve_echo():
    """Child: echo 64-byte TCP frames and answer 16-byte datagrams with 56 bytes."""
    listener = socket.socket()
    listener.bind(('127.0.0.1', 0))
    listener.listen(1)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(('127.0.0.1', 0))

    def tcp_loop():
        while True:
            conn, _ = listener.accept()
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            while True:
                data = conn.recv(TCP_FRAME, socket.MSG_WAITALL)
                if len(data) < TCP_FRAME:
                    break
                conn.sendall(data)

    def udp_loop():
        reply = bytes(UDP_STATE)
        while True:
            data, address = udp.recvfrom(2048)
            udp.sendto(data[:4] + reply[4:], address)

    threading.Thread(target=tcp_loop, daemon=True).start()
    threading.Thread(target=udp_loop, daemon=True).start()
    print(listener.getsockname()[1], udp.getsockname()[1], flush=True)
    sys.stdin.read()            # until the parent closes our stdin


def serve_plant(poll_us, compiled=False):
    """Child: a lock-step PlantServer on free TCP and UDP ports."""
    from plant_server_ros import PlantServer
    ready = threading.Event()
    server = PlantServer(bind_addr=('127.0.0.1', 0), mode='lockstep', seed=1,
                         udp_addr=('127.0.0.1', 0), server_ready_event=ready,
                         busy_poll_us=poll_us, compiled_step=compiled)
    thread = threading.Thread(target=server.start)
    thread.start()
    ready.wait()
    print(server.port, server.udp_port, flush=True)
    sys.stdin.read()
    server.stop()
    thread.join()
    server.close()


PLACEMENTS = {'shared': (None, None), 'one-core': ({0}, {0}), 'two-cores': ({1}, {0})}


def child(role, cpus, poll_us, compiled=False):
    """Start a server child on ``cpus`` (None: anywhere); return it and its ports."""
    extra = ([] if poll_us is None else ['--poll-us', str(poll_us)]) + \
        (['--compiled-step'] if compiled else [])
    proc = subprocess.Popen(
        [sys.executable, __file__, '--serve', role, *extra], stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, text=True,
        preexec_fn=None if cpus is None else lambda: os.sched_setaffinity(0, cpus))
    tcp, udp = (int(p) for p in proc.stdout.readline().split())
    return proc, tcp, udp


def _spin_recv(sock, size):
    """Read ``size`` bytes polling (never sleeping): a controller on a core of its own."""
    data = b''
    while len(data) < size:
        try:
            chunk = sock.recv(size - len(data), socket.MSG_DONTWAIT)
        except BlockingIOError:
            continue
        if not chunk:
            raise RuntimeError('the server closed the connection')
        data += chunk
    return data


def tcp_round_trips(port, n, frames, spin=False):
    """Send ``frames(i)`` one at a time; return the round trips [us] and the wall time."""
    sock = socket.create_connection(('127.0.0.1', port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    out = []
    clock = time.perf_counter
    t0 = clock()
    for i in range(n):
        t = clock()
        sock.sendall(frames(i))
        if spin:
            _spin_recv(sock, TCP_FRAME)
        elif len(sock.recv(TCP_FRAME, socket.MSG_WAITALL)) != TCP_FRAME:
            raise RuntimeError('the server closed the connection')
        out.append((clock() - t) * 1e6)
    wall = clock() - t0
    sock.close()
    return out, wall


def udp_round_trips(port, n, datagrams):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.connect(('127.0.0.1', port))
    sock.settimeout(2.0)
    out = []
    clock = time.perf_counter
    t0 = clock()
    for i in range(n):
        t = clock()
        sock.send(datagrams(i))
        if len(sock.recv(2048)) != UDP_STATE:
            raise RuntimeError('unexpected reply length')
        out.append((clock() - t) * 1e6)
    wall = clock() - t0
    sock.close()
    return out, wall


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--steps', type=int, default=20000)
    parser.add_argument('--transport', nargs='+', choices=('tcp', 'udp'), default=['tcp', 'udp'])
    parser.add_argument('--placement', nargs='+', choices=tuple(PLACEMENTS),
                        default=list(PLACEMENTS))
    parser.add_argument('--poll-us', type=int, default=None,
                        help="the server's busy_poll_us (default: PlantServer's)")
    parser.add_argument('--compiled-step', action='store_true',
                        help="the server's plant on the compiled period (needs numba)")
    parser.add_argument('--client-poll', action='store_true',
                        help='the TCP client polls for each reply instead of sleeping in recv '
                             '(as a controller on a core of its own; shared and one-core '
                             'placements then compete with it for the CPU)')
    parser.add_argument('--serve', choices=('echo', 'plant'), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve == 'echo':
        return serve_echo()
    if args.serve:
        return serve_plant(args.poll_us, args.compiled_step)
    if os.cpu_count() < 2:
        args.placement = [p for p in args.placement if p != 'two-cores']
    import numpy as np
    from plant_server_ros.legacy.datagram import encode_command
    from plant_server_ros.legacy.protocol import encode_control, encode_reset

    # A small alternating force keeps the pendulum near upright for any run length.
    controls = [encode_control(0.5 if i % 2 else -0.5) for i in range(2)]
    commands = [encode_command(i + 1, 0.5 if i % 2 else -0.5) for i in range(args.steps + 1)]
    poll = 'default' if args.poll_us is None else args.poll_us
    print(f'{args.steps} lock-step steps per measurement; server and echo in child '
          f'processes; server busy_poll_us: {poll}'
          f'{"; compiled_step" if args.compiled_step else ""}')
    affinity = os.sched_getaffinity(0)
    for placement in args.placement:
        server_cpus, client_cpus = PLACEMENTS[placement]
        echo, echo_tcp, echo_udp = child('echo', server_cpus, None)
        plant, plant_tcp, plant_udp = child('plant', server_cpus, args.poll_us,
                                            args.compiled_step)
        os.sched_setaffinity(0, client_cpus or affinity)
        try:
            for transport in args.transport:
                if transport == 'tcp':
                    echo_rtt, _ = tcp_round_trips(echo_tcp, args.steps,
                                                  lambda i: bytes(TCP_FRAME), args.client_poll)
                    # Reset, then alternate: the exchange of a controller.
                    plant_rtt, wall = tcp_round_trips(
                        plant_tcp, args.steps + 1,
                        lambda i: encode_reset() if i == 0 else controls[i % 2],
                        args.client_poll)
                    label = f'{placement:9s} TCP 64-byte   '
                else:
                    echo_rtt, _ = udp_round_trips(echo_udp, args.steps, lambda i: commands[i])
                    plant_rtt, wall = udp_round_trips(plant_udp, args.steps + 1,
                                                      lambda i: commands[i])
                    label = f'{placement:9s} UDP 16/56-byte'
                plant_rtt = plant_rtt[1:]
                p_echo = float(np.percentile(echo_rtt, 50))
                p_plant = float(np.percentile(plant_rtt, 50))
                print(percentiles(echo_rtt, f'{label} raw echo   '))
                print(percentiles(plant_rtt, f'{label} PlantServer'))
                print(f'{label} p50 ratio PlantServer/echo = {p_plant / p_echo:.2f} '
                      f'(target <= 2.5); {(args.steps + 1) / wall:.0f} steps/s '
                      '(target >= 20000)')
        finally:
            os.sched_setaffinity(0, affinity)
            for proc in (plant, echo):
                proc.stdin.close()
                proc.wait(10)


if __name__ == '__main__':
    main()
