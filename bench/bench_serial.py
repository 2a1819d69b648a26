"""
The serial door's own overhead on a pseudo-terminal, beside a raw pty echo of the same frames.

Two child processes, as a user's would be: a lock-step ``PlantServer`` with
its serial door on a pty (``serial_device='pty'``), and a raw echo on a pty
of its own that answers each request frame with a reply of the STATE's size
(no decoding, no plant): the floor of any serial server here.  This process
is the client: it sends the next request as soon as it has the reply,
alternating blocks between the two so both see the same load.  Also timed:
the plant's lock-step step through its backend alone (no door), so the
door's overhead can be given net of the plant step.  Both framings.

The client balances the pendulum with the package's LQR on each reply
(computed outside the timed round trip), and so does the reference step:
a pendulum left to fall spins, and a spinning plant's period takes several
substeps (issue 28), which would time the physics, not the door.

    python bench/bench_serial.py [--steps 5000] [--framing compact legacy]

Target (issue 30): the door's round trip p50 <= 2 x the echo's p50.
"""

import argparse
import os
import select
import subprocess
import sys
import termios
import threading
import time
import tty

from _common import percentiles  # also puts this checkout on sys.path

BLOCK = 250                 # round trips per block; blocks alternate door / echo
GAIN = ()                   # the LQR gain, set in main()

ECHO = r"""
import os, select, sys, termios, tty
framing = sys.argv[1]
master, slave = os.openpty()
tty.setraw(slave, termios.TCSANOW)
print(os.ttyname(slave), flush=True)
if framing == 'legacy':
    reply, done = bytes(64), lambda b: len(b) >= 64
else:
    from plant_server_ros.legacy import compact
    reply, done = compact.encode_state([0.0] * 6, 0.0, 1), lambda b: 0 in b
buffer = bytearray()
while True:
    select.select([master], [], [])
    try:
        buffer += os.read(master, 4096)
    except OSError:
        continue
    while done(buffer):
        cut = 64 if framing == 'legacy' else buffer.index(0) + 1
        del buffer[:cut]
        os.write(master, reply)
"""

SERVER = r"""
import sys, threading
from plant_server_ros import PlantServer
server = PlantServer(bind_addr=('127.0.0.1', 0), mode='lockstep', seed=1,
                     serial_device='pty', serial_framing=sys.argv[1])
print(server.serial_path, flush=True)
server.start()
"""


class Line:
    """The client's end of a pty: send a request, read its reply."""

    def __init__(self, path, framing):
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(self.fd, termios.TCSANOW)
        self.legacy = framing == 'legacy'
        self.buffer = bytearray()

    def round_trip(self, frame):
        start = time.perf_counter()
        os.write(self.fd, frame)
        while not (len(self.buffer) >= 64 if self.legacy else 0 in self.buffer):
            select.select([self.fd], [], [], 5.0)
            self.buffer += os.read(self.fd, 4096)
        took = time.perf_counter() - start
        cut = 64 if self.legacy else self.buffer.index(0) + 1
        reply = bytes(self.buffer[:cut])
        del self.buffer[:cut]
        return took, reply


def child(code, framing):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(p) for p in sys.path if p and os.path.isdir(p) and 'plant_server_ros' not in p]))
    proc = subprocess.Popen([sys.executable, '-c', code, framing], stdout=subprocess.PIPE,
                            text=True, env=env)
    return proc, proc.stdout.readline().strip()


def lqr(state):
    """Return the package's LQR force for ``state`` (the echo's zero state gives 0)."""
    return -sum(k * x for k, x in zip(GAIN, state))


def plant_step_times(steps):
    """Return the lock-step plant step through its backend alone (no door) [s each]."""
    from plant_server_ros import PlantServer
    server = PlantServer(bind_addr=('127.0.0.1', 0), mode='lockstep', seed=1)
    thread = threading.Thread(target=server.start, daemon=True)
    thread.start()
    time.sleep(0.2)
    times = []
    try:
        state, _ = server.backend.reset()
        for _ in range(steps):
            u = lqr(state)
            start = time.perf_counter()
            state, _ = server.backend.control(u)
            times.append(time.perf_counter() - start)
    finally:
        server.stop()
        thread.join(5.0)
        server.close()
    return times


def run(framing, steps):
    from plant_server_ros.legacy import protocol
    if framing == 'legacy':
        reset = protocol.encode_reset()
        control = lambda u, k: protocol.encode_control(u)  # noqa: E731
        state_of = lambda reply: protocol.parse_reply(reply)[0]  # noqa: E731
    else:
        from plant_server_ros.legacy import compact
        reset = compact.encode_reset(1)
        control = lambda u, k: compact.encode_control(u, k)  # noqa: E731
        state_of = lambda reply: compact.parse_reply(reply[:-1])[1]  # noqa: E731
    server, server_path = child(SERVER, framing)
    echo, echo_path = child(ECHO, framing)
    try:
        door, raw = Line(server_path, framing), Line(echo_path, framing)
        state = state_of(door.round_trip(reset)[1])
        door_times, echo_times, k = [], [], 2
        while len(door_times) < steps:
            for _ in range(BLOCK):
                took, reply = door.round_trip(control(lqr(state), k))
                door_times.append(took)
                state = state_of(reply)
                k = k + 1 if k < 0xFFFF else 2
            for _ in range(BLOCK):
                echo_times.append(raw.round_trip(control(lqr(state), k))[0])
    finally:
        for proc in (server, echo):
            proc.terminate()
            proc.wait(10)
    return door_times[:steps], echo_times[:steps]


def main(argv=None):
    import numpy as np
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[1])
    parser.add_argument('--steps', type=int, default=5000)
    parser.add_argument('--framing', nargs='+', default=['compact', 'legacy'],
                        choices=('compact', 'legacy'))
    args = parser.parse_args(argv)
    global GAIN
    from plant_server_ros.clients.controllers import lqr_gain
    GAIN = tuple(float(k) for k in lqr_gain(0.01))
    print(f'measured under load: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}')
    step = np.array(plant_step_times(args.steps)) * 1e6
    print(percentiles(step, 'plant step through its backend, no door'))
    for framing in args.framing:
        door, echo = (np.array(v) * 1e6 for v in run(framing, args.steps))
        print(f'== {framing} framing, {args.steps} lock-step round trips on a pty')
        print(percentiles(door, 'serial door'))
        print(percentiles(echo, 'raw pty echo'))
        d50, e50, s50 = (float(np.percentile(v, 50)) for v in (door, echo, step))
        print(f'p50 ratio door/echo: {d50 / e50:.2f} (target <= 2); net of the plant step '
              f'(p50 {s50:.0f} us): {(d50 - s50) / e50:.2f}; {1e6 / d50:.0f} steps/s')


if __name__ == '__main__':
    main()
