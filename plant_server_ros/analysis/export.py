"""
``dip_export``: turn an episode recording (MCAP) into CSV and/or ``.npz``.

    dip_export episode_0001_nominal.mcap --csv run.csv --npz run.npz [--measured]

Reads a file the :class:`~plant_server_ros.observers.recording.Recorder` wrote:
the ground truth (``/ground_truth``) by default, the measured state
(``/state``) with ``--measured``.  With neither ``--csv`` nor ``--npz`` it
prints a one-line summary.  A file whose writer died before closing it is
read as far as it goes (a warning says so).

- CSV: a header ``t,x,theta1,theta2,x_dot,theta1_dot,theta2_dot,u`` and one
  row per sample; ``u`` of a row is the force held from that sample to the
  next (so the last row's ``u`` is empty).  Floats are written with
  Python's ``repr``: they read back to the same bits.
- NPZ, the original project's layout: ``t`` (N+1), ``x`` (N+1 x 6), ``u``
  (N) and ``meta``, the episode description (scenario, seed, drawn
  parameters) as a JSON string in a 0-d unicode array, so ``np.load`` needs
  no ``allow_pickle``: ``json.loads(str(data['meta']))``.  Besides: ``dt``
  (0-d float) and ``events`` (a JSON string: a list of ``{t, kind, detail}``).

Times are episode times: ``t[k] = k * dt`` to the bit, as the plant counts
them.  Exit status: 0 done; 2 a missing or invalid file (one line says why).
"""

import argparse
import csv
import json
from pathlib import Path
import sys

import numpy as np

EXIT_OK, EXIT_ERROR = 0, 2
COLUMNS = ('t', 'x', 'theta1', 'theta2', 'x_dot', 'theta1_dot', 'theta2_dot', 'u')
STATE_TOPIC = '/state'
GROUND_TRUTH_TOPIC = '/ground_truth'
EVENTS_TOPIC = '/events'
EPISODE_TOPIC = '/episode'


class EpisodeFileError(ValueError):
    """The file is missing, not an MCAP file, or holds no episode."""


def _read(path, topics):
    """Return ``(messages by topic, metadata by name, complete)`` of an MCAP file."""
    try:
        from mcap.exceptions import InvalidMagic
        from mcap.records import Channel, DataEnd, Message, Metadata, Schema
        from mcap.stream_reader import StreamReader
        from mcap_ros2.decoder import DecoderFactory
    except ImportError:
        raise EpisodeFileError('reading a recording needs the mcap and mcap-ros2-support '
                               'packages (pip install mcap mcap-ros2-support)') from None
    schemas, channels, raw, metadata = {}, {}, [], {}
    complete = False
    try:
        stream = open(path, 'rb')
    except OSError as exc:
        raise EpisodeFileError(f'cannot read {path}: {exc.strerror}') from None
    with stream:
        try:
            for record in StreamReader(stream).records:
                if isinstance(record, Message):
                    raw.append(record)
                elif isinstance(record, Channel):
                    channels[record.id] = record
                elif isinstance(record, Schema):
                    schemas[record.id] = record
                elif isinstance(record, Metadata):
                    metadata[record.name] = dict(record.metadata)
                elif isinstance(record, DataEnd):
                    complete = True
                    break
        except InvalidMagic:
            raise EpisodeFileError(f'{path} is not an MCAP file') from None
        except Exception as exc:  # noqa: B902 - a cut-off file fails in many ways
            if not raw:
                raise EpisodeFileError(f'{path} is not a readable MCAP file '
                                       f'({type(exc).__name__}: {exc})') from None
    factory = DecoderFactory()
    decoders = {}
    found = {topic: [] for topic in topics}
    for message in raw:
        channel = channels.get(message.channel_id)
        if channel is None or channel.topic not in found:
            continue
        decode = decoders.get(channel.id)
        if decode is None:
            decode = factory.decoder_for(channel.message_encoding, schemas.get(channel.schema_id))
            if decode is None:
                raise EpisodeFileError(f'{path}: cannot decode {channel.topic} '
                                       f'({channel.message_encoding} messages)')
            decoders[channel.id] = decode
        found[channel.topic].append((message.log_time, decode(message.data)))
    for messages in found.values():
        messages.sort(key=lambda item: item[0])       # stable: equal stamps keep file order
    return found, metadata, complete


def load_episode(path, measured=False):
    """
    Return one recorded episode as arrays: a dict of ``t``, ``x``, ``u``, ``events``, ``meta``.

    ``t`` (N+1) episode times, ``x`` (N+1, 6) the states (ground truth, or
    the measured state with ``measured``), ``u`` (N) the force held from
    ``t[k]`` to ``t[k+1]``, ``events`` a list of ``{t, kind, detail, ...}``,
    ``meta`` the episode description (scenario, seed, drawn parameters).
    Besides: ``dt``, ``stamp_ns`` (the samples' stamps) and ``complete``
    (False: the file was cut off).  EpisodeFileError if it cannot be read.
    """
    path = Path(path)
    if not path.is_file():
        raise EpisodeFileError(f'no such file: {path}')
    topic = STATE_TOPIC if measured else GROUND_TRUTH_TOPIC
    found, metadata, complete = _read(path, (topic, EVENTS_TOPIC, EPISODE_TOPIC))
    samples = found[topic]
    if not samples:
        raise EpisodeFileError(f'{path} holds no {topic} messages: not an episode recording')
    try:
        stamps = np.array([s[0] for s in samples], dtype=np.int64)
        x = np.array([tuple(m.position) + tuple(m.velocity) for _, m in samples],
                     dtype=np.float64)
        forces = np.array([m.effort[0] if len(m.effort) else np.nan for _, m in samples],
                          dtype=np.float64)
    except (AttributeError, TypeError, ValueError) as exc:
        raise EpisodeFileError(f'{path}: {topic} is not a plant state ({exc})') from None
    if x.shape[1:] != (6,):
        raise EpisodeFileError(f'{path}: {topic} does not hold 3 positions and 3 velocities')
    recording = metadata.get('recording', {})
    try:
        dt = float(recording['dt'])
        dt_ns = int(recording['dt_ns'])
        start_ns = int(recording['start_ns'])
        steps = np.rint((stamps - start_ns) / dt_ns).astype(np.int64)
        t = steps.astype(np.float64) * dt               # the plant's steps * dt, to the bit
    except (KeyError, ValueError, ZeroDivisionError):
        # Not written by the Recorder: time from the first stamp.
        t = (stamps - stamps[0]) / 1e9
        dt = float(np.median(np.diff(t))) if len(t) > 1 else float('nan')
    meta = None
    if found[EPISODE_TOPIC]:
        meta = _json(found[EPISODE_TOPIC][0][1].data)
    if meta is None:
        meta = _json(metadata.get('episode', {}).get('description', 'null')) or {}
    events = [e for e in (_json(m.data) for _, m in found[EVENTS_TOPIC]) if e is not None]
    return {'t': t, 'x': x, 'u': forces[1:], 'events': events, 'meta': meta, 'dt': dt,
            'stamp_ns': stamps, 'complete': complete}


def _json(text):
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return None


def write_csv(episode, out):
    """Write an episode (from :func:`load_episode`) as CSV to the path ``out``."""
    t, x, u = episode['t'], episode['x'], episode['u']
    with open(out, 'w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS)
        for k in range(len(t)):
            force = repr(float(u[k])) if k < len(u) else ''
            writer.writerow([repr(float(t[k]))] + [repr(float(v)) for v in x[k]] + [force])


def write_npz(episode, out):
    """Write an episode as ``.npz``: ``t``, ``x``, ``u``, ``meta`` (JSON), ``dt``, ``events``."""
    np.savez(out, t=episode['t'], x=episode['x'], u=episode['u'],
             meta=np.array(json.dumps(episode['meta'])), dt=np.array(float(episode['dt'])),
             events=np.array(json.dumps(episode['events'])))


def build_parser():
    parser = argparse.ArgumentParser(
        prog='dip_export', description='Export an episode recording (MCAP) of plant_server_ros '
        'to CSV and/or .npz (t, x, u, meta).')
    parser.add_argument('file', help='the episode recording (.mcap)')
    parser.add_argument('--csv', metavar='OUT.csv', help='write the samples as CSV')
    parser.add_argument('--npz', metavar='OUT.npz', help='write t, x, u, meta as .npz')
    parser.add_argument('--measured', action='store_true',
                        help='export the measured state (/state) instead of the ground truth')
    return parser


def main(argv=None):
    """Run ``dip_export``; return the exit status."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:                 # --help, or a usage error (status 2)
        return exc.code if isinstance(exc.code, int) else EXIT_ERROR
    try:
        episode = load_episode(args.file, measured=args.measured)
    except EpisodeFileError as exc:
        print(f'dip_export: {exc}', file=sys.stderr)
        return EXIT_ERROR
    if not episode['complete']:
        print(f'dip_export: warning: {args.file} was not closed; exporting what it holds',
              file=sys.stderr)
    try:
        if args.csv:
            write_csv(episode, args.csv)
        if args.npz:
            write_npz(episode, args.npz)
    except OSError as exc:
        print(f'dip_export: cannot write {exc.filename}: {exc.strerror}', file=sys.stderr)
        return EXIT_ERROR
    if not (args.csv or args.npz):
        meta = episode['meta'] if isinstance(episode['meta'], dict) else {}
        scenario = meta.get('scenario', {})
        name = scenario.get('name', '?') if isinstance(scenario, dict) else scenario
        print(f"{args.file}: episode {meta.get('episode', '?')}, scenario {name}, "
              f"{len(episode['t'])} samples over {episode['t'][-1]:g} s, "
              f"{len(episode['events'])} events")
    return EXIT_OK


if __name__ == '__main__':
    sys.exit(main())
