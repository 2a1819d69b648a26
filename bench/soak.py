"""
Soak: a ROS-free plant server served for a long time, with resets and live faults, in both modes.

    python bench/soak.py [--minutes 10] [--mode lockstep realtime] [--reset-every 500]
                         [--inject-every 1.0]

For each mode, ``dip_plant_server`` runs in a child process (as a user's
would) and one TCP client balances it with the package's LQR, resetting
every ``--reset-every`` steps.  Beside it, every ``--inject-every`` seconds
(0: never) a fault at the bounds of docs/limits.md goes in through the live
view, as ``dip_fault`` sends it (the fastest spikes, the fastest
intermittent switching, the fastest sine), each for half a second, and one
beyond them, which must be refused.  Printed per mode: steps and steps/s,
resets, errors (ERROR replies, timeouts), replies out of order (a reply
whose time is not later than the last one's within an episode), the faults
taken, refused as they must be, and failed, the late ticks the server
logged, and the server's RSS (at start, at a quarter of the run and at the
end: flat once warm) and open file descriptors.
"""

import argparse
import os
import re
import subprocess
import sys
import threading
import time

from _common import REPO  # also puts this checkout on sys.path

from plant_server_ros.clients import controllers  # noqa: I100
from plant_server_ros.clients.tcp_client import LegacyClient
from plant_server_ros.legacy.protocol import ProtocolError

START_LINE = re.compile(r'legacy TCP protocol on [\d.]+:(\d+)')
WEB_LINE = re.compile(r'live view at http://[\d.]+:(\d+)/')
LATE_LINE = re.compile(r'\((\d+) overruns since start')
DT = 0.01
# At the bounds (conditions/faults: MAX_RATE, MIN_ON_OFF, MAX_FREQUENCY), small
# enough that the LQR stays up; the last is beyond them and must be refused.
AT_THE_BOUNDS = ('theta1 spikes rate=1000 size=1e-5 for 0.5s',
                 'motor gain 0.9 pattern=intermittent on=0.001 off=0.001 for 0.5s',
                 'x noise std=1e-5 pattern=intermittent on=0.001..0.002 off=0.001 for 0.5s',
                 'cart_friction drift 0.3 pattern=sine frequency=10000 for 0.5s',
                 'x spikes rate=1e9 size=0.01 for 0.1s')


def server_figures(pid):
    """Return ``(RSS in MiB, open file descriptors)`` of process ``pid``."""
    with open(f'/proc/{pid}/status') as f:
        rss_kb = next(int(line.split()[1]) for line in f if line.startswith('VmRSS:'))
    return rss_kb / 1024.0, len(os.listdir(f'/proc/{pid}/fd'))


def start_server(mode):
    env = dict(os.environ, PYTHONPATH=str(REPO), PYTHONUNBUFFERED='1')
    proc = subprocess.Popen(
        [sys.executable, '-m', 'plant_server_ros.server.cli', '--mode', mode, '--port', '0',
         '--seed', '1', '--noise', '0', '--web', '0'], env=env,
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return proc


def wait_port(proc, timeout=20.0):
    lines = []
    found = []

    def read():
        for line in proc.stdout:
            lines.append(line)
            match = START_LINE.search(line)
            if match and not found:
                found.append(int(match.group(1)))
    threading.Thread(target=read, daemon=True).start()
    end = time.monotonic() + timeout
    while not found and time.monotonic() < end and proc.poll() is None:
        time.sleep(0.05)
    if not found:
        raise SystemExit('soak: the server did not start:\n' + ''.join(lines))
    web = WEB_LINE.search(''.join(lines))
    return found[0], int(web.group(1)) if web else None, lines


class Injector(threading.Thread):
    """Every ``every`` s, one fault of AT_THE_BOUNDS in turn through the live view."""

    def __init__(self, port, every):
        super().__init__(daemon=True)
        self.port, self.every = port, every
        self.taken = self.refused = self.failed = 0
        self.stop = threading.Event()

    def run(self):
        from plant_server_ros.clients.fault_cli import Refused, send
        from plant_server_ros.conditions.faults import from_text
        k = 0
        while not self.stop.wait(self.every):
            line = AT_THE_BOUNDS[k % len(AT_THE_BOUNDS)]
            k += 1
            beyond = k % len(AT_THE_BOUNDS) == 0
            try:
                reply = send('127.0.0.1', self.port, {'cmd': 'fault', 'spec': from_text(line)})
            except Refused:
                self.failed += 1
                continue
            if reply['type'] == 'reply' and not beyond:
                self.taken += 1
            elif reply['type'] == 'error' and beyond:
                self.refused += 1
            else:
                self.failed += 1


def soak(mode, seconds, reset_every, inject_every):
    proc = start_server(mode)
    injector = None
    try:
        port, web_port, log = wait_port(proc)
        time.sleep(0.5)                       # settled: imports done, threads up
        rss0, fds0 = server_figures(proc.pid)
        rss_quarter = None
        if inject_every > 0:
            injector = Injector(web_port, inject_every)
            injector.start()
        controller = controllers.lqr(DT)
        steps = resets = errors = out_of_order = 0
        begin = time.monotonic()
        end = begin + seconds
        with LegacyClient('127.0.0.1', port, timeout=5.0) as client:
            while time.monotonic() < end:
                if rss_quarter is None and time.monotonic() > begin + seconds / 4:
                    rss_quarter = server_figures(proc.pid)[0]
                try:
                    state, last_t = client.reset()
                    resets += 1
                    for _ in range(reset_every):
                        state, t = client.control(controller(state))
                        steps += 1
                        if t <= last_t:
                            out_of_order += 1
                        last_t = t
                except (ProtocolError, OSError):
                    errors += 1
                    client.close()
                    client = LegacyClient('127.0.0.1', port, timeout=5.0)
        took = time.monotonic() - begin
        rss1, fds1 = server_figures(proc.pid)
    finally:
        if injector is not None:
            injector.stop.set()
            injector.join(10.0)
        proc.terminate()
        code = proc.wait(10.0)
    late = [int(m.group(1)) for m in map(LATE_LINE.search, log) if m]
    faults = '' if injector is None else (
        f'; live faults: {injector.taken} taken, {injector.refused} refused as beyond the '
        f'bounds, {injector.failed} failed')
    print(f'{mode}: {seconds / 60:g} min, {steps} steps, {steps / took:.0f} steps/s, '
          f'{resets} resets, {errors} errors, {out_of_order} replies out of order{faults}; '
          f'late ticks: {late[-1] if late else 0} overruns; server RSS {rss0:.1f} -> '
          f'{rss_quarter or rss0:.1f} -> {rss1:.1f} MiB, fds {fds0} -> {fds1}; exit {code}',
          flush=True)
    print(''.join(line for line in log if 'WARNING' in line or 'ERROR' in line), end='')


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--minutes', type=float, default=10.0)
    parser.add_argument('--mode', nargs='+', default=['lockstep', 'realtime'],
                        choices=('lockstep', 'realtime'))
    parser.add_argument('--reset-every', type=int, default=500, metavar='STEPS')
    parser.add_argument('--inject-every', type=float, default=1.0, metavar='SECONDS',
                        help='a live fault at the bounds this often (0: none)')
    args = parser.parse_args()
    for mode in args.mode:
        soak(mode, args.minutes * 60.0, args.reset_every, args.inject_every)


if __name__ == '__main__':
    main()
