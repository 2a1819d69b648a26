"""
``dip_plant_server``: the ROS-free plant server from the command line.

    dip_plant_server [--config FILE] [--max-steps N] [--mode realtime|lockstep]
                     [--bind ADDR] [--port P] [--udp-port P] [--dt S]
                     [--noise STD] [--seed N] [--latency-ms MS] [--scenario FILE]

Flags win over the file.  Exit codes: 0 at ``max_steps``, on SIGINT or
SIGTERM; 2 on a bad argument, a bad config value or a port in use, with a
one-line reason.  No ROS is imported.
"""

import errno
import logging
import signal
import sys

from .config import ConfigError
from .plant_server import MODES, PlantServer
from ..conditions.scenario import ScenarioError
from ..inputs import flags

EXIT_OK, EXIT_USAGE = 0, 2


def build_parser():
    parser = flags.ArgumentParser(
        prog='dip_plant_server',
        description='Serve the double-inverted-pendulum plant over the legacy TCP (and UDP) '
        'protocols of plant_server_ros, without ROS.')
    parser.add_argument('--config', metavar='FILE',
                        help="the original project's config.yaml (physics, simulation.dt, "
                        'simulation.initial_state, hil.*, global_seed)')
    parser.add_argument('--max-steps', type=flags.integer(0, 2 ** 62), metavar='N',
                        help='stop after N steps (default: run until stopped)')
    parser.add_argument('--mode', choices=MODES, default='realtime',
                        help='realtime: step every dt of wall time; lockstep: one dt per '
                        'CONTROL (default: %(default)s)')
    parser.add_argument('--bind', default='127.0.0.1', metavar='ADDR',
                        help='address to listen on (default: %(default)s)')
    parser.add_argument('--port', type=flags.port, default=5555, metavar='P',
                        help='TCP port, 0 = any free one (default: %(default)s)')
    parser.add_argument('--udp-port', type=flags.port, metavar='P',
                        help='also serve the UDP datagrams on this port (default: '
                        'hil.plant_port of --config, else off)')
    parser.add_argument('--dt', type=flags.number(1e-4, 1.0), metavar='S',
                        help='control period [s] (default: simulation.dt of --config, else 0.01)')
    parser.add_argument('--noise', type=flags.number(0.0, 10.0), metavar='STD',
                        help='sensor noise std (default: hil.sensor_noise_std, else 0.01)')
    parser.add_argument('--seed', type=flags.integer(0, 2 ** 63 - 1), metavar='N',
                        help='noise seed (default: global_seed, else random)')
    parser.add_argument('--latency-ms', type=flags.number(0.0, 1e4), metavar='MS',
                        help='extra latency of every reply [ms] (default: '
                        'hil.extra_latency_ms, else 0)')
    parser.add_argument('--scenario', metavar='FILE',
                        help='test conditions of each episode: a scenario or campaign YAML '
                        '(config/scenarios/ has examples)')
    parser.add_argument('--web', metavar='PORT', type=flags.port, nargs='?', const=8080,
                        help='serve the live view in the browser on PORT (default 8080), '
                        'on the --bind address')
    parser.add_argument('--allow', metavar='CIDR[,CIDR]', type=flags.networks,
                        help='serve only clients of these networks on every door (default: '
                        'loopback when bound to it, else anyone, with a warning)')
    parser.add_argument('--web-view-only', action='store_true',
                        help='the live view shows the plant but offers no buttons')
    parser.add_argument('--web-token', metavar='TOKEN',
                        help="the live view's WebSocket token (default: a fresh one when "
                        'bound beyond loopback, none on loopback; "" for none)')
    parser.add_argument('--record', metavar='DIR', type=flags.directory,
                        help='record every episode to an MCAP file in DIR')
    parser.add_argument('--log-level', default='info',
                        choices=('debug', 'info', 'warning', 'error'))
    return parser


def main(argv=None):
    """Entry point of ``dip_plant_server``; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)       # exits 2 with a usage line on a bad flag
    logging.basicConfig(level=args.log_level.upper(),
                        format='[%(levelname)s] [%(asctime)s] [dip_plant_server]: %(message)s')
    try:
        server = PlantServer(
            cfg=args.config, bind_addr=(args.bind, args.port), dt=args.dt,
            extra_latency_ms=args.latency_ms, sensor_noise_std=args.noise,
            max_steps=args.max_steps, mode=args.mode, seed=args.seed,
            udp_addr=_udp_addr(args), scenario=args.scenario, record=args.record,
            web=args.web, allow=args.allow, web_token=args.web_token,
            web_view_only=args.web_view_only)
    except (ConfigError, ScenarioError) as exc:
        print(f'dip_plant_server: {exc}', file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        reason = 'port in use' if exc.errno == errno.EADDRINUSE else exc.strerror
        where = exc.filename or f'{args.bind}:{args.port}'
        print(f'dip_plant_server: cannot listen on {where}: {reason}', file=sys.stderr)
        return EXIT_USAGE
    except ImportError as exc:           # --web without websockets, --record without mcap
        print(f'dip_plant_server: {exc}; see requirements/web.txt and requirements/record.txt',
              file=sys.stderr)
        return EXIT_USAGE

    def stop(signum, frame):
        server.stop()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    with server:
        server.start()
    return EXIT_OK


def _udp_addr(args):
    if args.udp_port is None:
        return 'config' if args.config else None
    return (args.bind, args.udp_port)


if __name__ == '__main__':
    raise SystemExit(main())
