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
them.  A damaged file (a record or checksum that does not read, its summary
intact) is read chunk by chunk, skipping the chunks that fail; a warning
says how many chunks and messages were lost, and one more how many samples
are missing between the first and the last.  Exit status: 0 done (also
with warnings); 1 with ``--strict``, a file damaged, cut off or missing
samples (exported all the same); 2 a missing or invalid file (one line says
why).
"""

import csv
import json
from pathlib import Path
import sys

import numpy as np

from ..inputs import flags

EXIT_OK, EXIT_DAMAGED, EXIT_ERROR = 0, 1, 2
COLUMNS = ('t', 'x', 'theta1', 'theta2', 'x_dot', 'theta1_dot', 'theta2_dot', 'u')
STATE_TOPIC = '/state'
GROUND_TRUTH_TOPIC = '/ground_truth'
EVENTS_TOPIC = '/events'
EPISODE_TOPIC = '/episode'


class EpisodeFileError(ValueError):
    """The file is missing, not an MCAP file, or holds no episode."""


def _read(path, topics):
    """
    Return ``(messages by topic, metadata by name, complete, damage)`` of an MCAP file.

    ``complete``: the data section was read to its end.  ``damage``: None,
    or a one-line account of what a damaged file lost (a record or checksum
    that does not read, in a file whose summary survived): its chunks are
    then read one by one from the summary's index, skipping those that fail.
    """
    try:
        from mcap.exceptions import InvalidMagic
        from mcap.stream_reader import StreamReader
        from mcap_ros2.decoder import DecoderFactory
    except ImportError:
        raise EpisodeFileError('reading a recording needs the mcap and mcap-ros2-support '
                               'packages (pip install mcap mcap-ros2-support)') from None
    try:
        stream = open(path, 'rb')
    except OSError as exc:
        raise EpisodeFileError(f'cannot read {path}: {exc.strerror}') from None
    damage = None
    with stream:
        got = _Records()
        try:
            # CRCs checked: an overwritten stretch inside a chunk is found, not decoded.
            for record in StreamReader(stream, validate_crcs=True).records:
                if got.take(record):
                    break
        except InvalidMagic:
            raise EpisodeFileError(f'{path} is not an MCAP file') from None
        except Exception as exc:  # noqa: B902 - a cut-off or damaged file fails in many ways
            summary = _summary(stream)
            if summary is None:                 # cut off: no summary to say what is missing
                if not got.raw:
                    raise EpisodeFileError(f'{path} is not a readable MCAP file '
                                           f'({type(exc).__name__}: {exc})') from None
            else:
                got, damage = _salvage(stream, summary, StreamReader)
                damage = f'{damage} ({type(exc).__name__}: {_short(exc)})'
    schemas, channels, raw, metadata, complete = (got.schemas, got.channels, got.raw,
                                                  got.metadata, got.complete)
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
    return found, metadata, complete, damage


class _Records:
    """What a pass over an MCAP file's records gathered."""

    def __init__(self):
        self.schemas, self.channels, self.raw, self.metadata = {}, {}, [], {}
        self.complete = False

    def take(self, record):
        """Keep ``record``; return True at the end of the data section."""
        from mcap.records import Channel, DataEnd, Message, Metadata, Schema
        if isinstance(record, Message):
            self.raw.append(record)
        elif isinstance(record, Channel):
            self.channels[record.id] = record
        elif isinstance(record, Schema):
            self.schemas[record.id] = record
        elif isinstance(record, Metadata):
            self.metadata[record.name] = dict(record.metadata)
        elif isinstance(record, DataEnd):
            self.complete = True
            return True
        return False


def _summary(stream):
    """Return the summary of a file whose footer survived, or None (a cut-off file)."""
    from mcap.reader import SeekingReader
    try:
        stream.seek(0)                      # the reader checks the magic where it starts
        summary = SeekingReader(stream, validate_crcs=True).get_summary()
    except Exception:  # noqa: B902 - no readable footer: the file was cut off
        return None
    if summary is None or not summary.chunk_indexes or summary.statistics is None:
        return None
    return summary


def _salvage(stream, summary, reader_class):
    """Read a damaged file chunk by chunk; return ``(_Records, what was skipped)``."""
    import io

    from mcap.exceptions import EndOfFile
    from mcap.records import Chunk
    got = _Records()
    got.schemas.update(summary.schemas)
    got.channels.update(summary.channels)
    bad = []
    for index in summary.chunk_indexes:
        stream.seek(index.chunk_start_offset)
        data = stream.read(index.chunk_length)
        kept = len(got.raw)
        try:
            # Zeroed bytes read as empty records: first make sure a chunk starts here.
            first = next(iter(reader_class(io.BytesIO(data), skip_magic=True,
                                           emit_chunks=True).records))
            if not isinstance(first, Chunk):
                raise ValueError(f'no chunk at byte {index.chunk_start_offset}')
            try:
                for record in reader_class(io.BytesIO(data), skip_magic=True,
                                           validate_crcs=True).records:
                    got.take(record)
            except EndOfFile:           # the chunk's own end: it has no footer
                pass
        except Exception:  # noqa: B902 - this chunk is damaged: skip it whole
            del got.raw[kept:]
            bad.append(index.chunk_start_offset)
    try:                       # metadata records live outside the chunks
        from mcap.reader import SeekingReader
        stream.seek(0)
        for record in SeekingReader(stream).iter_metadata():
            got.metadata[record.name] = dict(record.metadata)
    except Exception:  # noqa: B902 - damaged metadata: the episode is timed from its stamps
        pass
    got.complete = True
    lost = summary.statistics.message_count - len(got.raw)
    where = ', '.join(str(offset) for offset in bad[:5]) + (', ...' if len(bad) > 5 else '')
    where = f' (at byte {where})' if bad else ''
    what = (f'damaged: {len(bad)} of {len(summary.chunk_indexes)} chunks skipped{where}, '
            f'{lost} of {summary.statistics.message_count} messages lost')
    return got, what


def _short(exc):
    text = ' '.join(str(exc).split())
    return text if len(text) <= 120 else text[:117] + '...'


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
    found, metadata, complete, damage = _read(path, (topic, EVENTS_TOPIC, EPISODE_TOPIC))
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
        steps = None
        t = (stamps - stamps[0]) / 1e9
        dt = float(np.median(np.diff(t))) if len(t) > 1 else float('nan')
    meta = None
    if found[EPISODE_TOPIC]:
        meta = _json(found[EPISODE_TOPIC][0][1].data)
    if meta is None:
        meta = _json(metadata.get('episode', {}).get('description', 'null')) or {}
    events = [e for e in (_json(m.data) for _, m in found[EVENTS_TOPIC]) if e is not None]
    return {'t': t, 'x': x, 'u': forces[1:], 'events': events, 'meta': meta, 'dt': dt,
            'stamp_ns': stamps, 'complete': complete, 'damage': damage,
            'gaps': 0 if steps is None else _gaps(steps)}


def _gaps(steps):
    """Return how many plant steps are missing between the first and the last sample."""
    if len(steps) < 2:
        return 0
    return int(steps[-1] - steps[0] + 1 - len(np.unique(steps)))


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
    parser = flags.ArgumentParser(
        prog='dip_export', description='Export an episode recording (MCAP) of plant_server_ros '
        'to CSV and/or .npz (t, x, u, meta).')
    parser.add_argument('file', help='the episode recording (.mcap)')
    parser.add_argument('--csv', metavar='OUT.csv', help='write the samples as CSV')
    parser.add_argument('--npz', metavar='OUT.npz', help='write t, x, u, meta as .npz')
    parser.add_argument('--measured', action='store_true',
                        help='export the measured state (/state) instead of the ground truth')
    parser.add_argument('--strict', action='store_true',
                        help='exit 1 when the file is damaged, cut off or misses samples '
                        '(it is still exported)')
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
    flawed = False
    if episode.get('damage'):
        flawed = True
        print(f"dip_export: warning: {args.file} is {episode['damage']}; exporting the rest",
              file=sys.stderr)
    elif not episode['complete']:
        flawed = True
        print(f'dip_export: warning: {args.file} was not closed; exporting what it holds',
              file=sys.stderr)
    if episode.get('gaps'):
        flawed = True
        print(f"dip_export: warning: {args.file} misses {episode['gaps']} samples between its "
              'first and last', file=sys.stderr)
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
    return EXIT_DAMAGED if flawed and args.strict else EXIT_OK


if __name__ == '__main__':
    sys.exit(main())
