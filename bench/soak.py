"""
Soak: a ROS-free plant server served for a long time, with resets, in both modes.

    python bench/soak.py [--minutes 10] [--mode lockstep realtime] [--reset-every 500]

For each mode, ``dip_plant_server`` runs in a child process (as a user's
would) and one TCP client balances it with the package's LQR, resetting
every ``--reset-every`` steps.  Printed per mode: steps and steps/s,
resets, errors (ERROR replies, timeouts), replies out of order (a reply
whose time is not later than the last one's within an episode), and the
server's RSS and open file descriptors at start and end.
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
DT = 0.01


def server_figures(pid):
    """Return ``(RSS in MiB, open file descriptors)`` of process ``pid``."""
    with open(f'/proc/{pid}/status') as f:
        rss_kb = next(int(line.split()[1]) for line in f if line.startswith('VmRSS:'))
    return rss_kb / 1024.0, len(os.listdir(f'/proc/{pid}/fd'))


def start_server(mode):
    env = dict(os.environ, PYTHONPATH=str(REPO), PYTHONUNBUFFERED='1')
    proc = subprocess.Popen(
        [sys.executable, '-m', 'plant_server_ros.server.cli', '--mode', mode, '--port', '0',
         '--seed', '1', '--noise', '0'], env=env,
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
    return found[0], lines


def soak(mode, seconds, reset_every):
    proc = start_server(mode)
    try:
        port, log = wait_port(proc)
        time.sleep(0.5)                       # settled: imports done, threads up
        rss0, fds0 = server_figures(proc.pid)
        controller = controllers.lqr(DT)
        steps = resets = errors = out_of_order = 0
        begin = time.monotonic()
        end = begin + seconds
        with LegacyClient('127.0.0.1', port, timeout=5.0) as client:
            while time.monotonic() < end:
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
        proc.terminate()
        code = proc.wait(10.0)
    print(f'{mode}: {seconds / 60:g} min, {steps} steps, {steps / took:.0f} steps/s, '
          f'{resets} resets, {errors} errors, {out_of_order} replies out of order; '
          f'server RSS {rss0:.1f} -> {rss1:.1f} MiB, fds {fds0} -> {fds1}; exit {code}',
          flush=True)
    print(''.join(line for line in log if 'WARNING' in line or 'ERROR' in line), end='')


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--minutes', type=float, default=10.0)
    parser.add_argument('--mode', nargs='+', default=['lockstep', 'realtime'],
                        choices=('lockstep', 'realtime'))
    parser.add_argument('--reset-every', type=int, default=500, metavar='STEPS')
    args = parser.parse_args()
    for mode in args.mode:
        soak(mode, args.minutes * 60.0, args.reset_every)


if __name__ == '__main__':
    main()
