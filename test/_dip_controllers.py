"""
Controllers that misbehave on purpose, for test/test_dip_test.py (run as scripts).

    python _dip_controllers.py MODE PORT

``loop``: an LQR over TCP that resets after every episode until FINISHED
(one process for a whole campaign); ``hang``: resets, controls 10 periods,
then stops answering; ``nan``: resets, then sends a NaN force; ``crash``:
resets, controls a few periods, then dies of SIGSEGV; ``flipped``: the PD
with its sign flipped, for one episode.
"""

import os
import signal
import sys
import time

from plant_server_ros.clients import controllers
from plant_server_ros.clients.tcp_client import LegacyClient
from plant_server_ros.legacy.protocol import ErrorCode, ProtocolError


def main(mode, port):
    lqr = controllers.lqr(0.01, 20.0)
    if mode == 'loop':
        while True:
            try:
                with LegacyClient('127.0.0.1', port) as client:
                    state, _ = client.reset()
                    while True:
                        state, _ = client.control(lqr(state))
            except ProtocolError as exc:
                if exc.code is ErrorCode.FINISHED:
                    print('campaign finished', file=sys.stderr)
                    return 0
                # HALTED: the episode is over; the server closed: reconnect, reset.
    with LegacyClient('127.0.0.1', port) as client:
        state, _ = client.reset()
        if mode == 'flipped':
            gain = controllers.lqr_gain(0.01)
            bad = controllers.pd(-gain[:3], -gain[3:], 20.0)
            try:
                while True:
                    state, _ = client.control(bad(state))
            except ProtocolError:
                return 1
        for _ in range(10):
            state, _ = client.control(lqr(state))
        if mode == 'hang':
            print('hanging now', file=sys.stderr, flush=True)
            time.sleep(600)
        elif mode == 'nan':
            client.control(float('nan'))
        elif mode == 'crash':
            print('about to crash', file=sys.stderr, flush=True)
            os.kill(os.getpid(), signal.SIGSEGV)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1], int(sys.argv[2])))
