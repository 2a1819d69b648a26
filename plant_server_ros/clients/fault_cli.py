"""
``dip_fault``: inject a fault into a running plant, for a person at the bench.

    dip_fault --port 8080 motor gain 0.5 for 2s
    dip_fault --port 8080 x jump 0.01
    dip_fault --port 8080 motor loss pattern=intermittent on=0.2 off=0.1..0.5 for 5s
    dip_fault --port 8080 clear
    dip_fault --host 192.168.1.20 --port 8080 --token TOKEN x jump 0.01


It speaks to the plant's live view (its WebSocket, the page's own
``fault`` and ``clear_faults`` commands), which both doors serve: a
``PlantServer`` with ``--web_port`` and the ROS bridge's live view (which
forwards to the plant node's ``faults`` topic).  The spec is checked here
first, so a fault that makes no sense is refused by name before it is sent.
A live view bound beyond loopback wants its token (``--token``, the
``?token=`` of the URL it prints).  Every failure is one line on stderr.
Exit codes: 0 done, 1 the plant refused or could not be reached, 2 usage.
"""

import argparse
import json
import sys
import urllib.parse

from ..conditions.faults import Fault, FaultError, from_text
from ..inputs.flags import ArgumentParser, port

EXIT_OK, EXIT_REFUSED, EXIT_USAGE = 0, 1, 2
REPLY_WAIT = 5.0         # s for the plant's answer
MAX_REPLY = 1 << 20      # bytes of one message from the live view


class Refused(Exception):
    """The live view could not be reached or would not take the command (one line)."""


def send(host, port, command, timeout=REPLY_WAIT, token=''):
    """Send one live view command; return its reply (a dict: ``type`` reply or error)."""
    try:
        from websockets.exceptions import InvalidStatus, WebSocketException
        from websockets.sync.client import connect
    except ImportError:
        raise Refused('dip_fault needs websockets >= 17 (pip install "websockets>=17")') \
            from None
    command = {**command, 'id': 'dip_fault'}
    query = f'?{urllib.parse.urlencode({"token": token})}' if token else ''
    url = f'ws://{host}:{port}/ws{query}'
    try:
        with connect(url, open_timeout=timeout, max_size=MAX_REPLY) as ws:
            ws.send(json.dumps(command))
            while True:
                message = json.loads(ws.recv(timeout))
                if isinstance(message, dict) and message.get('id') == 'dip_fault' and \
                        message.get('type') in ('reply', 'error'):
                    return message
    except InvalidStatus as exc:
        status = exc.response.status_code
        if status == 403:
            why = 'its token is wrong (--token)' if token else 'it wants its token (--token)'
            raise Refused(f'the live view at {host}:{port} refused the connection: {why}') \
                from None
        raise Refused(f'{host}:{port} answered HTTP {status}: is it a live view '
                      '(web_port)?') from None
    except (WebSocketException, ValueError) as exc:        # not a live view, bad JSON
        raise Refused(f"{host}:{port} does not speak the live view's protocol: "
                      f'{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}') \
            from None
    except TimeoutError:
        raise Refused(f'cannot reach the live view at {host}:{port}: no answer within '
                      f'{timeout:g} s') from None
    except OSError as exc:
        raise Refused(f'cannot reach the live view at {host}:{port}: '
                      f'{exc.strerror or exc}') from None


def main(argv=None):
    """Parse the line, check the fault, send it; the exit code."""
    parser = ArgumentParser(prog='dip_fault', description=__doc__.split('\n\n')[0],
                            formatter_class=argparse.RawDescriptionHelpFormatter,
                            epilog='docs/faults.md has every kind and key.')
    parser.add_argument('--host', default='127.0.0.1', help='live view host (%(default)s)')
    parser.add_argument('--port', type=port, required=True, help="the live view's port")
    parser.add_argument('--token', default='', help="the live view's token (the ?token= of "
                        'the URL it prints; needed when it is bound beyond loopback)')
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
        reply = send(args.host, args.port, command, token=args.token)
    except Refused as exc:
        print(f'dip_fault: {exc}', file=sys.stderr)
        return EXIT_REFUSED
    if reply['type'] == 'error':
        print(f'dip_fault: refused: {reply.get("error", reply)}', file=sys.stderr)
        return EXIT_REFUSED
    print(reply.get('result'))
    return EXIT_OK


if __name__ == '__main__':
    sys.exit(main())
