"""
``dip_fault``: inject a fault into a running plant, for a person at the bench.

    dip_fault --port 8080 motor gain 0.5 for 2s
    dip_fault --port 8080 x jump 0.01
    dip_fault --port 8080 motor loss pattern=intermittent on=0.2 off=0.1..0.5 for 5s
    dip_fault --port 8080 clear

It speaks to the plant's live view (its WebSocket, the page's own
``fault`` and ``clear_faults`` commands), which both doors serve: a
``PlantServer`` with ``--web_port`` and the ROS bridge's live view (which
forwards to the plant node's ``faults`` topic).  The spec is checked here
first, so a fault that makes no sense is refused by name before it is sent.
Exit codes: 0 done, 1 the plant refused or could not be reached, 2 usage.
"""

import argparse
import json
import sys

from ..conditions.faults import Fault, FaultError, from_text

EXIT_OK, EXIT_REFUSED, EXIT_USAGE = 0, 1, 2
REPLY_WAIT = 5.0         # s for the plant's answer


def send(host, port, command, timeout=REPLY_WAIT):
    """Send one live view command; return its reply (a dict: ``type`` reply or error)."""
    from websockets.sync.client import connect
    command = {**command, 'id': 'dip_fault'}
    with connect(f'ws://{host}:{port}/ws', open_timeout=timeout) as ws:
        ws.send(json.dumps(command))
        while True:
            message = json.loads(ws.recv(timeout))
            if message.get('id') == 'dip_fault' and message.get('type') in ('reply', 'error'):
                return message


def main(argv=None):
    """Parse the line, check the fault, send it; the exit code."""
    parser = argparse.ArgumentParser(prog='dip_fault', description=__doc__.split('\n\n')[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog='docs/faults.md has every kind and key.')
    parser.add_argument('--host', default='127.0.0.1', help='live view host (%(default)s)')
    parser.add_argument('--port', type=int, required=True, help="the live view's port")
    parser.add_argument('spec', nargs='+', help='"clear", or <target> <kind> [value] '
                        '[key=value ...] [for <s>] [at <s>]')
    args = parser.parse_args(argv)
    if args.spec == ['clear']:
        command = {'cmd': 'clear_faults'}
    else:
        line = ' '.join(args.spec)
        try:
            spec = from_text(line)
            Fault.from_dict(spec)
        except FaultError as exc:
            print(f'dip_fault: {exc}', file=sys.stderr)
            return EXIT_USAGE
        command = {'cmd': 'fault', 'spec': spec}
    try:
        reply = send(args.host, args.port, command)
    except (OSError, TimeoutError) as exc:
        print(f'dip_fault: cannot reach the live view at {args.host}:{args.port}: {exc}',
              file=sys.stderr)
        return EXIT_REFUSED
    if reply['type'] == 'error':
        print(f'dip_fault: refused: {reply["error"]}', file=sys.stderr)
        return EXIT_REFUSED
    print(reply.get('result'))
    return EXIT_OK


if __name__ == '__main__':
    sys.exit(main())
