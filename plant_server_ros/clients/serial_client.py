"""
A blocking client of the serial door: the compact framing or the legacy frames (docs/serial.md).

Written from docs/serial.md alone.  As a command it balances the plant with
LQR through every episode the plant offers (a RESET after each HALTED) until
FINISHED, which makes it a ``dip_test --door serial`` controller::

    python -m plant_server_ros.clients.serial_client /dev/pts/3 [--framing legacy]

Exit codes: 0 the plant finished (or the steps asked for were done); 2 a
line error (no reply within the timeout, the device gone) or a bad argument.
"""

import argparse
import sys
import time

from ..legacy import protocol
from ..legacy.protocol import ErrorCode, ProtocolError
from ..runtime.settings import SETTINGS

EXIT_OK, EXIT_ERROR = 0, 2
PARITIES = {'none': 'N', 'even': 'E', 'odd': 'O'}


class SerialClient:
    """One serial line to a plant; each call is one request and its reply."""

    def __init__(self, device, baud=SETTINGS['serial_baud'].default,
                 parity=SETTINGS['serial_parity'].default,
                 stop_bits=SETTINGS['serial_stop_bits'].default,
                 framing=SETTINGS['serial_framing'].default, timeout=5.0):
        import serial
        self.framing = framing
        self.timeout = timeout
        self.port = serial.Serial(device, baudrate=baud, parity=PARITIES[parity],
                                  stopbits=stop_bits, bytesize=8, timeout=timeout)
        self.seq = 0
        self.round_trips = []
        self._buffer = bytearray()
        if framing == 'compact':
            from ..legacy import compact
            self._compact = compact
            self._deframer = compact.Deframer()

    def _request(self, frame):
        start = time.perf_counter()
        self.port.write(frame)
        reply = self._reply()
        self.round_trips.append(time.perf_counter() - start)
        return reply

    def _reply(self):
        deadline = time.monotonic() + self.timeout
        while True:
            if self.framing == 'legacy':
                if len(self._buffer) >= protocol.FRAME_SIZE:
                    frame = bytes(self._buffer[:protocol.FRAME_SIZE])
                    del self._buffer[:protocol.FRAME_SIZE]
                    return protocol.parse_reply(frame)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f'no reply within {self.timeout:g} s')
            self.port.timeout = remaining
            data = self.port.read(max(1, self.port.in_waiting))
            if not data:
                continue
            if self.framing == 'legacy':
                self._buffer += data
                continue
            for frame in self._deframer.feed(data):
                try:
                    seq, state, t, _ = self._compact.parse_reply(frame)
                except self._compact.FrameError:
                    continue                    # noise: the next frame may be the reply
                except ProtocolError as exc:
                    if exc.seq != self.seq:
                        continue
                    raise
                if seq == self.seq:
                    return state, t

    def control(self, u, cycles=0):
        """Send force ``u``; return ``(state, t)``.  ProtocolError on an ERROR reply."""
        if self.framing == 'legacy':
            return self._request(protocol.encode_control(u))
        self.seq = (self.seq + 1) & 0xFFFF
        return self._request(self._compact.encode_control(u, self.seq, cycles))

    def reset(self, clock_hz=0):
        """Reset to the configured state; return ``(state, 0.0)``."""
        if self.framing == 'legacy':
            return self._request(protocol.encode_reset())
        self.seq = (self.seq + 1) & 0xFFFF
        return self._request(self._compact.encode_reset(self.seq, clock_hz))

    def close(self):
        self.port.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def build_parser():
    """Return the parser of the reference serial controller."""
    parser = argparse.ArgumentParser(
        prog='python -m plant_server_ros.clients.serial_client',
        description='Balance the plant with LQR over its serial door, every episode until '
        'the plant says FINISHED.')
    parser.add_argument('device', help='the serial device (or the pty the door made)')
    parser.add_argument('--framing', choices=('compact', 'legacy'),
                        default=SETTINGS['serial_framing'].default)
    parser.add_argument('--baud', type=int, default=SETTINGS['serial_baud'].default)
    parser.add_argument('--steps', type=int, default=0,
                        help='stop after this many controls (default: run until FINISHED)')
    parser.add_argument('--timeout', type=float, default=5.0, help='s to wait for a reply')
    return parser


def main(argv=None):
    """Run the reference controller; return the exit code."""
    from .controllers import lqr
    args = build_parser().parse_args(argv)
    law = lqr(max_force=SETTINGS['max_force'].default)
    steps = 0
    try:
        client = SerialClient(args.device, args.baud, framing=args.framing,
                              timeout=args.timeout)
    except (OSError, ValueError) as exc:
        print(f'serial_client: cannot open {args.device}: {exc}', file=sys.stderr)
        return EXIT_ERROR
    with client:
        try:
            state, _ = client.reset()
            while not args.steps or steps < args.steps:
                try:
                    state, _ = client.control(float(law(state)))
                    steps += 1
                except ProtocolError as exc:
                    if exc.code is ErrorCode.FINISHED:
                        break
                    state, _ = client.reset()      # HALTED: the episode is over
        except ProtocolError as exc:
            if exc.code is not ErrorCode.FINISHED:
                print(f'serial_client: {exc}', file=sys.stderr)
                return EXIT_ERROR
        except (TimeoutError, OSError) as exc:
            print(f'serial_client: {exc}', file=sys.stderr)
            return EXIT_ERROR
    print(f'serial_client: {steps} controls', file=sys.stderr)
    return EXIT_OK


if __name__ == '__main__':
    raise SystemExit(main())
