"""
``dip_test``: test a controller command against a scenario or campaign, for CI.

    dip_test campaign.yaml [--door tcp|udp|serial|ros] [--mode lockstep|realtime] [--out DIR]
             [--junit FILE] [--json FILE] [--baseline FILE | --save-baseline FILE]
             [--no-figures] [--timeout S] [--repeat N] [--per-episode] [--only SEED]
             [--workers N | --ray [ADDRESS]] -- COMMAND ...
    dip_test campaign.yaml --batch MODULE:FUNCTION [...]

The command gets the plant's address as placeholders in its arguments
(``{host}``, ``{port}``, ``{udp_port}``, ``{namespace}``, ``{duration}``,
``{dt}``, ``{device}``) and as ``DIP_*`` environment variables.  Exit status: 0 every
criterion of every episode held; 1 one failed (or the run was interrupted:
Ctrl-C, SIGTERM, SIGHUP); 2 a usage or set-up error, or an output that could
not be written (one line says why).

Run as a command (``main()`` with no arguments), ``dip_test`` is the whole
process: it becomes a child subreaper, so that what the controller starts
re-parents to it rather than to init, and it ends every process below it
before it exits (:mod:`.controller_process`).
"""

import sys

# Light imports only: the signal handlers are set before the runner (numpy...) loads.
from .controller_process import become_subreaper, end_descendants, RunGuard
from ..inputs import flags

EXIT_PASSED, EXIT_FAILED, EXIT_ERROR = 0, 1, 2
MIN_TIMEOUT, MAX_TIMEOUT = 0.01, 86400.0       # s, --timeout
MAX_WORKERS = 256                              # --workers


def build_parser():
    """Return dip_test's argument parser."""
    from .runner import DEFAULT_TIMEOUT
    from ..conditions.scenario import MAX_EPISODES
    parser = flags.ArgumentParser(
        prog='dip_test', description='Run a controller command through every episode of a '
        'scenario or campaign of plant_server_ros; judge the criteria; write a report, JUnit '
        'XML and JSON.  Give the command after --.',
        epilog='Exit status: 0 all criteria held, 1 a criterion failed or the run was '
        'interrupted (Ctrl-C, SIGTERM, SIGHUP), 2 a usage or set-up error or an output that '
        'could not be written.')
    parser.add_argument('scenario', help='a scenario or campaign YAML file (or the name of '
                        'a shipped one, e.g. campaign.yaml)')
    parser.add_argument('--door', choices=('tcp', 'udp', 'serial', 'ros'), default='tcp',
                        help='how the controller talks to the plant (default: %(default)s); '
                        'serial: a pseudo-terminal, its path given as {device}')
    parser.add_argument('--serial-device', default=None, metavar='DEVICE',
                        help='--door serial: a real board on DEVICE (/dev/ttyACM0) instead '
                        'of a pseudo-terminal; the command then only waits (sleep 3600)')
    parser.add_argument('--serial-framing', choices=('compact', 'legacy'), default=None,
                        help='--door serial: the framing (default: compact)')
    parser.add_argument('--serial-baud', type=flags.integer(50, 4000000), default=None,
                        metavar='BAUD', help='--door serial: the baud rate the wire time is '
                        'accounted at (default: 115200)')
    parser.add_argument('--mode', choices=('lockstep', 'realtime'), default='lockstep',
                        help='lockstep: one dt per control, as fast as it goes; realtime: '
                        'the wall clock, for HIL (default: %(default)s)')
    parser.add_argument('--out', default='dip_test_out', metavar='DIR',
                        help='recordings, summary.md and figures (default: %(default)s)')
    parser.add_argument('--junit', metavar='FILE', help='write JUnit XML here')
    parser.add_argument('--json', metavar='FILE', help='write the results as JSON here')
    gate = parser.add_mutually_exclusive_group()
    gate.add_argument('--baseline', metavar='FILE',
                      help='fail on a regression against this baseline')
    gate.add_argument('--save-baseline', metavar='FILE',
                      help="store each episode's metrics and trace as a baseline")
    parser.add_argument('--no-figures', action='store_true', help='skip the figures')
    parser.add_argument('--timeout', type=flags.number(MIN_TIMEOUT, MAX_TIMEOUT),
                        default=DEFAULT_TIMEOUT, metavar='S',
                        help='s to wait for a start, for a control, and past the duration of '
                        'an episode (default: %(default)s)')
    parser.add_argument('--repeat', type=flags.integer(1, MAX_EPISODES), default=1,
                        metavar='N', help='play the campaign N times (default: %(default)s; '
                        f'at most {MAX_EPISODES} episodes in all)')
    parser.add_argument('--per-episode', action='store_true',
                        help='start the command afresh for each episode')
    parser.add_argument('--port', type=flags.port, default=0,
                        help="the plant's TCP port (default: a free one)")
    parser.add_argument('--udp-port', type=flags.port, default=0,
                        help="the plant's UDP port (default: a free one)")
    parser.add_argument('--seed', type=flags.integer(0, 2 ** 63 - 1), default=1,
                        help="the plant's seed where a scenario names none (default: "
                        '%(default)s)')
    parser.add_argument('--only', type=flags.integer(0, 2 ** 63 - 1), metavar='SEED',
                        help='play only the episode(s) of this seed: the replay of one '
                        "episode of a set (the report prints each worst one's command)")
    spread = parser.add_mutually_exclusive_group()
    spread.add_argument('--workers', type=flags.integer(1, MAX_WORKERS), metavar='N',
                        help='run the episodes on N worker processes, each with its own '
                        'plant, ports, DDS domain and controller process (docs/montecarlo.md)')
    spread.add_argument('--ray', nargs='?', const='local', metavar='ADDRESS',
                        help="run the episodes as Ray tasks: on a cluster's ADDRESS (e.g. "
                        'auto, ray://head:10001) or, without one, a local Ray instance '
                        '(the ray extra)')
    spread.add_argument('--batch', metavar='MODULE:FUNCTION',
                        help='a vectorised Python controller, (N, 6) observations -> (N,) '
                        'forces, stepped on PlantBatch: no command, no processes')
    return parser


def split(argv):
    """Return ``(dip_test's arguments, the controller command)``, split at the first --."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if '--' not in argv:
        return argv, []
    at = argv.index('--')
    return argv[:at], argv[at + 1:]


def main(argv=None):
    """
    Run ``dip_test``; return the exit status.

    ``argv`` None: this is the ``dip_test`` process (a subreaper, ending every
    process below it before it returns); a list: a call inside a program
    (a test), which ends what the run started and leaves the rest alone.
    """
    whole = argv is None
    # First of all: a SIGINT, SIGTERM or SIGHUP ends the run as Ctrl-C does
    # (dip_test then exits 1); any later one waits for what was judged to be written.
    with RunGuard(redeliver=not whole, restore=not whole):
        try:
            return _main(argv, whole)
        except KeyboardInterrupt:
            print('dip_test: interrupted before the run started; nothing ran',
                  file=sys.stderr)
            return EXIT_FAILED
        finally:
            if whole:
                end_descendants()


def _main(argv, whole):
    own, command = split(argv)
    try:
        args = build_parser().parse_args(own)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_ERROR
    if not command and args.batch is None:
        print('dip_test: no controller command (give it after --)', file=sys.stderr)
        return EXIT_ERROR
    if command and args.batch is not None:
        print('dip_test: --batch runs a Python function, not a command: give no command '
              'after --', file=sys.stderr)
        return EXIT_ERROR
    if whole:
        become_subreaper()
    return _run(args, command)


def say_verdict(result, stream=None):
    """Print an episode's verdict line as it is judged, in one write."""
    stream = sys.stderr if stream is None else stream
    if result.set_name is not None and result.passed:
        return                   # a set's episodes: its failures only (the set has a row)
    mark = 'PASS' if result.passed else 'FAIL'
    why = '' if result.passed else ': ' + '; '.join(result.failures)
    # One write: print writes the text and its newline apart, and a plant log
    # line from another thread could land between them (two lines glued).
    stream.write(f'dip_test: {result.name}: {mark}{why}\n')
    stream.flush()


def _run(args, command):
    from .outputs import table
    from .runner import run_campaign, SetupError
    head = ['dip_test', args.scenario]
    if args.batch is not None:
        head += ['--batch', args.batch]
    else:
        head += ['--door', args.door, '--mode', args.mode]
    if args.seed != 1:
        head += ['--seed', str(args.seed)]
    try:
        result = run_campaign(args.scenario, command or None, door=args.door, mode=args.mode,
                              out=args.out, repeat=args.repeat, per_episode=args.per_episode,
                              timeout=args.timeout, baseline=args.baseline,
                              save_baseline=args.save_baseline, junit=args.junit,
                              json_file=args.json, figures=not args.no_figures,
                              seed=args.seed, port=args.port, udp_port=args.udp_port,
                              settings=_serial_settings(args), on_episode=say_verdict,
                              only=args.only, workers=args.workers, ray=args.ray,
                              batch=args.batch, replay=(head, command))
    except SetupError as exc:
        print(f'dip_test: {exc}', file=sys.stderr)
        return EXIT_ERROR
    print(table(result))
    for name, path in result.files.items():
        print(f'{name}: {path}')
    for error in result.errors:
        print(f'dip_test: {error}', file=sys.stderr)
    if result.errors:
        return EXIT_ERROR
    return EXIT_PASSED if result.passed else EXIT_FAILED


def _serial_settings(args):
    """Return the serial door's settings the flags give (refused off the serial door)."""
    given = {'serial_device': args.serial_device, 'serial_framing': args.serial_framing,
             'serial_baud': args.serial_baud}
    given = {k: v for k, v in given.items() if v is not None}
    if given and args.door != 'serial':
        from .runner import SetupError
        raise SetupError(f'--{next(iter(given)).replace("_", "-")} needs --door serial')
    return given or None


if __name__ == '__main__':
    sys.exit(main())
