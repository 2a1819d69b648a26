"""
``dip_client``: balance the pendulum over the legacy protocol and report.

Exit codes: 0 balanced to the end; 1 the pendulum fell (|th| over
``--fall-angle``, angles wrapped to (-pi, pi]; from a start beyond it, a
swing-up, only once it was upright, and never upright is 1 too); 2 a
protocol or connection error.
"""

import argparse
import csv
import math
import sys

import numpy as np

from . import controllers
from .tcp_client import LegacyClient
from .udp_client import UdpClient
from ..analysis.metrics import UPRIGHT_BAND
from ..legacy.datagram import ORIGINAL_PORT
from ..legacy.protocol import ProtocolError
from ..physics.state import wrap_angle
from ..runtime.settings import SETTINGS

EXIT_OK, EXIT_FELL, EXIT_ERROR = 0, 1, 2


def _floats(n):
    def parse(text):
        values = [float(v) for v in text.split(',')]
        if len(values) != n:
            raise argparse.ArgumentTypeError(f'expected {n} comma-separated numbers')
        return values
    return parse


def build_parser():
    parser = argparse.ArgumentParser(
        prog='dip_client', description='Balance the double inverted pendulum through the '
        'legacy TCP protocol of plant_server_ros and print a summary.')
    parser.add_argument('--host', default='127.0.0.1',
                        help='address of the plant server or bridge (default: %(default)s)')
    parser.add_argument('--port', type=int, default=None,
                        help=f"its TCP port (default {SETTINGS['port'].default}), or with "
                        f'--udp its UDP port (default {ORIGINAL_PORT})')
    parser.add_argument('--udp', action='store_true',
                        help="speak the original project's UDP datagrams instead of TCP")
    parser.add_argument('--controller', choices=('lqr', 'pd', 'swingup'), default='lqr',
                        help='swingup: from hanging, plan tracking then the LQR catch '
                        '(docs/swingup.md); the fall counts only once it was upright')
    parser.add_argument('--plan', help='--controller swingup: a plan file of '
                        'swingup_plan.py (default: the shipped one)')
    parser.add_argument('--kp', type=_floats(3), help='PD gains on x, th1, th2 '
                        '(default: the LQR position gains)')
    parser.add_argument('--kd', type=_floats(3), help='PD gains on the rates '
                        '(default: the LQR rate gains)')
    parser.add_argument('--dt', type=float, default=SETTINGS['dt'].default,
                        help='control period the LQR is designed for [s]')
    parser.add_argument('--max-force', type=float, default=math.inf,
                        help='saturate the command here [N] (the plant saturates too)')
    length = parser.add_mutually_exclusive_group()
    length.add_argument('--steps', type=int, default=None, help='number of control steps')
    length.add_argument('--seconds', type=float, default=None,
                        help='plant time to run [s] (default 10 s)')
    start = parser.add_mutually_exclusive_group()
    start.add_argument('--no-reset', action='store_true',
                       help='start from wherever the plant is (default: RESET first)')
    start.add_argument('--reset-state', type=_floats(6), metavar='X,TH1,TH2,XD,TH1D,TH2D',
                       help='RESET to this state first')
    parser.add_argument('--fall-angle', type=float, default=0.6,
                        help='|th1| or |th2| beyond this [rad] counts as fallen')
    parser.add_argument('--csv', help='write the trajectory here (t, state, u, rtt)')
    parser.add_argument('--timeout', type=float, default=15.0, help='socket timeout [s]')
    return parser


def make_controller(args):
    if args.controller == 'swingup':
        from .swingup import SwingUp
        limit = None if math.isinf(args.max_force) else args.max_force
        return SwingUp(args.plan, args.dt, limit)
    if args.controller == 'lqr':
        return controllers.lqr(args.dt, args.max_force)
    gain = controllers.lqr_gain(args.dt)
    kp = args.kp if args.kp is not None else gain[:3]
    kd = args.kd if args.kd is not None else gain[3:]
    return controllers.pd(kp, kd, args.max_force)


def run(args, out=None):
    """Run one session; return ``(exit_code, summary dict)``; the summary goes to ``out``."""
    try:
        controller = make_controller(args)
    except (OSError, ValueError) as exc:
        print(f'dip_client: {exc}', file=sys.stderr)
        return EXIT_ERROR, {'steps': 0}
    timed = args.controller == 'swingup'        # the swing-up follows its plan in time
    rows = []
    summary = {'steps': 0}
    try:
        with _connect(args) as client:
            if args.no_reset:
                state, t = client.control(0.0)
            else:
                state, t = client.reset(args.reset_state)
            t_start = t
            max_th1 = abs(wrap_angle(state[1]))
            max_th2 = abs(wrap_angle(state[2]))
            # A start beyond the fall angle is a swing-up: a fall only once it was up
            # (both links within the metrics' upright band), as dip_test judges it.
            up = max(max_th1, max_th2) <= args.fall_angle
            code = EXIT_OK
            steps = 0
            while True:
                if args.steps is not None and steps >= args.steps:
                    break
                if args.steps is None and t - t_start >= (args.seconds or 10.0) - 1e-9:
                    break
                u = controller(state, t - t_start) if timed else controller(state)
                state, t = client.control(u)
                steps += 1
                rows.append((t, *state, u, client.round_trips[-1]))
                th1, th2 = abs(wrap_angle(state[1])), abs(wrap_angle(state[2]))
                max_th1 = max(max_th1, th1)
                max_th2 = max(max_th2, th2)
                if up and max(th1, th2) > args.fall_angle:
                    code = EXIT_FELL
                    break
                up = up or max(th1, th2) <= UPRIGHT_BAND
            rtt = np.array(client.round_trips[1:] or client.round_trips) * 1e6
            summary = {'steps': steps, 'rtt_p50_us': float(np.percentile(rtt, 50)),
                       'rtt_p99_us': float(np.percentile(rtt, 99)),
                       'max_abs_theta1': max_th1, 'max_abs_theta2': max_th2,
                       'final_t': t, 'final_state': list(state), 'fell': code == EXIT_FELL,
                       'never_up': not up}
            if not up:
                code = EXIT_FELL
    except ProtocolError as exc:
        print(f'dip_client: protocol error: {exc.code.name}: {exc}', file=sys.stderr)
        return EXIT_ERROR, summary
    except (OSError, ValueError) as exc:      # TimeoutError (UDP) is an OSError
        print(f'dip_client: {exc}', file=sys.stderr)
        return EXIT_ERROR, summary
    finally:
        if args.csv and rows:
            with open(args.csv, 'w', newline='') as f:
                writer = csv.writer(f)
                writer.writerow(['t', 'x', 'theta1', 'theta2', 'x_dot', 'theta1_dot',
                                 'theta2_dot', 'u', 'rtt_s'])
                writer.writerows(rows)
    print_summary(summary, out if out is not None else sys.stdout)
    return code, summary


def _connect(args):
    if args.udp:
        if args.reset_state is not None:
            raise ValueError('--reset-state needs TCP: the UDP datagrams have no RESET')
        return UdpClient(args.host, args.port or ORIGINAL_PORT, dt=args.dt)
    return LegacyClient(args.host, args.port or SETTINGS['port'].default, args.timeout)


def print_summary(s, out):
    fs = ', '.join(f'{v:+.4f}' for v in s['final_state'])
    result = 'FELL' if s['fell'] else 'never upright' if s.get('never_up') else 'balanced'
    print(f'steps: {s["steps"]}  plant time: {s["final_t"]:.3f} s\n'
          f'round trip: p50 {s["rtt_p50_us"]:.0f} us, p99 {s["rtt_p99_us"]:.0f} us\n'
          f'max |theta1|: {s["max_abs_theta1"]:.4f} rad  '
          f'max |theta2|: {s["max_abs_theta2"]:.4f} rad\n'
          f'final state [x, th1, th2, xd, th1d, th2d]: [{fs}]\n'
          f'result: {result}', file=out)


def main(argv=None):
    """Entry point of ``dip_client``."""
    args = build_parser().parse_args(argv)
    code, _ = run(args)
    return code


if __name__ == '__main__':
    raise SystemExit(main())
