"""
``dip_plant_server``: the ROS-free plant server from the command line.

    dip_plant_server [--config FILE] [--log-level LEVEL] [--FLAG VALUE ...]

One flag per setting of the table that has one (``dip_plant_server --help``
lists them; ``docs/parameters.md`` has the table), range-checked by argparse.
Flags win over the file.  Exit codes: 0 at ``max_steps``, on SIGINT or
SIGTERM; 2 on a bad argument, a bad config value or a port in use, with a
one-line reason.  No ROS is imported.
"""

import argparse
import errno
import logging
import signal
import sys

from .config import ConfigError
from .plant_server import PlantServer
from ..conditions.scenario import ScenarioError
from ..inputs import flags
from ..runtime.settings import SETTINGS

EXIT_OK, EXIT_USAGE = 0, 2
# Flags that are not one setting each: addresses are a (host, port) pair.
_ADDRESS_FLAGS = {'bind_address': 'bind', 'port': 'port', 'udp_port': 'udp_port',
                  'web_port': 'web'}
_METAVARS = {'dt': 'S', 'sensor_noise_std': 'STD', 'control_timeout': 'S', 'track_limit': 'M',
             'busy_poll_us': 'US', 'record': 'DIR', 'realtime_priority': 'P', 'scenario': 'FILE',
             'bind_address': 'ADDR', 'port': 'P', 'udp_port': 'P', 'idle_timeout': 'S',
             'extra_latency_ms': 'MS', 'allow': 'CIDR[,CIDR]', 'web_token': 'TOKEN',
             'serial_device': 'DEVICE', 'serial_baud': 'BAUD', 'serial_stop_bits': 'N'}
_FLAG_HELP = {
    'bind_address': 'address to listen on (default: %(default)s)',
    'port': 'TCP port, 0 = any free one (default: %(default)s)',
    'udp_port': 'also serve the UDP datagrams on this port (default: hil.plant_port of '
                '--config, else off)',
    'web_port': 'serve the live view in the browser on PORT (default 8080), on the --bind '
                'address',
}


def setting_type(setting):
    """Return an argparse ``type`` that reads a flag's text as ``setting`` and checks it."""
    def convert(text):
        value = text
        if setting.kind in ('float', 'int'):
            try:
                value = int(text) if setting.kind == 'int' else float(text)
            except ValueError:
                value = text
        problem = setting.problem(value)
        if problem:
            raise argparse.ArgumentTypeError(f'{problem}, got {text!r}')
        if setting.name == 'record':
            flags.directory(text)           # a file there is named, not "cannot listen"
        return setting.check(value)
    convert.__name__ = setting.kind           # what argparse names in its errors
    return convert


def build_parser():
    """Return the parser: ``--config``, ``--log-level`` and one flag per setting that has one."""
    parser = flags.ArgumentParser(
        prog='dip_plant_server',
        description='Serve the double-inverted-pendulum plant over the legacy TCP (and UDP) '
        'protocols of plant_server_ros, without ROS.')
    parser.add_argument('--config', metavar='FILE',
                        help="the original project's config.yaml (physics, simulation.dt, "
                        'simulation.initial_state, hil.*, global_seed)')
    for setting in SETTINGS.values():
        if setting.flag is None:
            continue
        dest = _ADDRESS_FLAGS.get(setting.name, setting.name)
        kwargs = {'dest': dest, 'type': setting_type(setting),
                  'metavar': _METAVARS.get(setting.name, 'N')}
        if setting.choices:
            kwargs['choices'] = setting.choices
            kwargs.pop('metavar')
        if setting.name in ('mode', 'bind_address', 'port'):
            kwargs['default'] = setting.default
        if setting.name == 'web_port':
            kwargs.update(nargs='?', const=8080, metavar='PORT')
        if setting.kind == 'bool':
            kwargs = {'dest': dest, 'action': 'store_true', 'default': None}
        default = setting.default_for('PlantServer')
        help_text = _FLAG_HELP.get(setting.name) or (
            f'{setting.doc} [{setting.unit}]' if setting.unit and setting.unit != 'SI'
            else setting.doc) + (f' (default: {default!r})' if default not in ('', None)
                                 and setting.name not in ('mode',) else '')
        if setting.name == 'mode':
            help_text += ' (default: %(default)s)'
        parser.add_argument(setting.flag, help=help_text.replace('%', '%%')
                            if '%(' not in help_text else help_text, **kwargs)
    parser.add_argument('--log-level', default='info',
                        choices=('debug', 'info', 'warning', 'error'))
    return parser


def main(argv=None):
    """Entry point of ``dip_plant_server``; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)       # exits 2 with a usage line on a bad flag
    logging.basicConfig(level=args.log_level.upper(),
                        format='[%(levelname)s] [%(asctime)s] [dip_plant_server]: %(message)s')
    settings = {name: value for name, value in vars(args).items()
                if value is not None and name in SETTINGS and SETTINGS[name].keyword == name}
    try:
        server = PlantServer(cfg=args.config, bind_addr=(args.bind, args.port),
                             udp_addr=_udp_addr(args), web=args.web, **settings)
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
