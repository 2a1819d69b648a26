"""
Record every episode of a plant to an MCAP file, in ROS 2 messages (no ROS needed).

A :class:`Recorder` is an observer of a :class:`~.schedule.Fanout`: each
door (the ROS ``plant`` node, the in-process ``PlantServer``) can hand one
to its schedule.  One file per episode, ``episode_0001_<scenario>.mcap``,
with the ``ros2`` profile, ``cdr`` message encoding and ``ros2msg`` schemas,
so ``ros2 bag info``, Foxglove and PlotJuggler open it.  Its topics:

- ``/state``, ``/ground_truth`` (``sensor_msgs/msg/JointState``): joints
  ``cart_joint``, ``link1_joint``, ``link2_joint``; position ``[x, th1, th2]``,
  velocity their rates, effort ``[u, 0, 0]``; ``header.stamp`` (and the
  record's log and publish time) ``stamp_origin_ns + index * dt_ns``, as
  the ROS node stamps the sample (``dt_ns = round(dt * 1e9)``);
- ``/applied_force`` (``std_msgs/msg/Float64``): the force applied in the
  period that ended at the sample, at the sample's stamp;
- ``/disturbance`` (``std_msgs/msg/Float64MultiArray``, ``[F, tau1, tau2]``):
  the *live* disturbance (``set_disturbance``, the ``disturbance`` topic),
  written at the first sample of the episode and at the first sample
  published after each change.  Scheduled disturbances (the scenario's)
  are not on this topic: they appear as ``disturbance_start`` /
  ``disturbance_end`` events and in the episode description;
- ``/events`` (``std_msgs/msg/String``): JSON ``{t, kind, detail, episode}``
  of every plant event, stamped at its episode time; a tick that came late
  (real time) is recorded too, as kind ``late``;
- ``/episode`` (``std_msgs/msg/String``): JSON of ``plant.describe_episode()``
  (scenario, seed, drawn parameters), once, at the episode's first stamp.

The episode description is also in the file's metadata (record ``episode``,
string values) and so is how to read the stamps (record ``recording``:
``dt``, ``dt_ns``, ``stamp_origin_ns``, ``start_index``, ``start_ns``).

Recording never delays the plant: the hooks run on the stepping thread and
only put a tuple on a queue (``on_episode`` also takes the plant's episode
description, once per episode); a thread of the recorder's own serialises
and writes.  When ``max_queue`` samples wait, a new one is dropped and counted
(``dropped``) instead of blocking.  Episode boundaries are never dropped.

The message definitions are embedded (comments stripped) and the messages
packed by :mod:`.cdr`: recording needs ``mcap``, not a ROS installation
(reading a recording back needs ``mcap-ros2-support``).
"""

import json
import logging
import os
from pathlib import Path
import queue
import re
import sys
import threading

from . import cdr
from ..runtime.schedule import PlantListener
from ..runtime.views import view_of

_log = logging.getLogger(__name__)

NS_PER_S = 1_000_000_000
JOINT_NAMES = ('cart_joint', 'link1_joint', 'link2_joint')

STATE_TOPIC = '/state'
GROUND_TRUTH_TOPIC = '/ground_truth'
FORCE_TOPIC = '/applied_force'
DISTURBANCE_TOPIC = '/disturbance'
EVENTS_TOPIC = '/events'
EPISODE_TOPIC = '/episode'

JOINT_STATE = 'sensor_msgs/msg/JointState'
FLOAT64 = 'std_msgs/msg/Float64'
FLOAT64_MULTI_ARRAY = 'std_msgs/msg/Float64MultiArray'
STRING = 'std_msgs/msg/String'

# The ROS 2 message definitions (.msg text, comments and blank lines
# stripped), so that a recording needs no ROS installation; a test checks
# them against the .msg files the ROS packages ship, where they are installed.
MESSAGE_DEFINITIONS = {
    'builtin_interfaces/msg/Time': 'int32 sec\nuint32 nanosec\n',
    'std_msgs/msg/Header': 'builtin_interfaces/Time stamp\nstring frame_id\n',
    JOINT_STATE: 'std_msgs/Header header\nstring[] name\nfloat64[] position\n'
                 'float64[] velocity\nfloat64[] effort\n',
    FLOAT64: 'float64 data\n',
    'std_msgs/msg/MultiArrayDimension': 'string label\nuint32 size\nuint32 stride\n',
    'std_msgs/msg/MultiArrayLayout': 'MultiArrayDimension[] dim\nuint32 data_offset\n',
    FLOAT64_MULTI_ARRAY: 'MultiArrayLayout layout\nfloat64[] data\n',
    STRING: 'string data\n',
}

# The types each recorded type depends on, in the order they are appended.
DEPENDENCIES = {
    JOINT_STATE: ('std_msgs/msg/Header', 'builtin_interfaces/msg/Time'),
    FLOAT64: (),
    FLOAT64_MULTI_ARRAY: ('std_msgs/msg/MultiArrayLayout', 'std_msgs/msg/MultiArrayDimension'),
    STRING: (),
}

_SEPARATOR = '=' * 80
CHUNK_SIZE = 256 * 1024      # bytes buffered before a chunk is compressed and written

# Queue items: (kind, ...).  Only samples are ever dropped.
_SAMPLE, _EPISODE, _EVENT, _LATE, _FINISH, _STOP = range(6)


def schema_text(type_name):
    """
    Return the ``ros2msg`` schema of ``type_name`` (e.g. ``sensor_msgs/msg/JointState``).

    Its own definition first, then each dependency after a line of 80 ``=``
    and a ``MSG: pkg/Type`` line, as rosbag2 writes them.
    """
    parts = [MESSAGE_DEFINITIONS[type_name]]
    for dependency in DEPENDENCIES[type_name]:
        package, _, name = dependency.split('/')
        parts.append(f'{_SEPARATOR}\nMSG: {package}/{name}\n{MESSAGE_DEFINITIONS[dependency]}')
    return ''.join(parts)


def episode_file_name(episode, scenario):
    """Return the file name of an episode: ``episode_0001_<scenario>.mcap``."""
    safe = re.sub(r'[^A-Za-z0-9_.-]+', '_', str(scenario)).strip('._') or 'scenario'
    return f'episode_{int(episode):04d}_{safe}.mcap'


def _import_writer():
    try:
        from mcap.writer import CompressionType, Writer
    except ImportError:
        raise ImportError('recording needs the mcap package (pip install mcap)') from None

    def open_writer(stream, chunk_size):
        writer = Writer(stream, chunk_size=chunk_size, compression=CompressionType.ZSTD,
                        enable_crcs=True)
        writer.start(profile='ros2', library='plant_server_ros recorder')
        return writer
    return open_writer


class Recorder(PlantListener):
    """
    Write each episode of ``plant`` to its own MCAP file in ``directory``.

    ``dt``: the plant's period [s]; ``stamp_origin_ns``: the stamp of
    sample index 0 (the ROS node passes its origin; 0 gives plant time).
    Counters (samples): ``written``, ``dropped`` (the queue was full, the
    recorder closed, or a file could not be written: see ``error``).
    ``files``: the paths written so far.  Call :meth:`close` at the end.

    Meant as an observer of a :class:`~.schedule.Fanout`; as a schedule's
    own listener it records what it is given to publish.  ``chunk_size``
    [bytes]: how much the file buffers before it writes a (compressed)
    chunk, i.e. at most what a crash loses.
    """

    def __init__(self, directory, plant, dt, stamp_origin_ns=0, max_queue=100000,
                 chunk_size=CHUNK_SIZE):
        self._writer_class = _import_writer()
        if not dt > 0.0:
            raise ValueError('dt must be > 0')
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.view = view_of(plant)       # a Plant or its PlantView: read, never changed
        self.dt = float(dt)
        self.dt_ns = round(self.dt * NS_PER_S)
        self.stamp_origin_ns = int(stamp_origin_ns)
        self.max_queue = int(max_queue)
        self.chunk_size = int(chunk_size)
        self.written = 0
        self._refused = 0            # stepping side: queue full or closed
        self._lost = 0               # writer side: no file to write to
        self.files = []
        self.error = None
        # SimpleQueue: put never blocks and never waits on a lock the writer holds.
        self._queue = queue.SimpleQueue()
        self._episode_open = False        # stepping side: an episode marker was sent
        self._last_t = 0.0
        self._closed = False
        self._close_lock = threading.Lock()
        # Writer side.
        self._mcap = None
        self._file = None
        self._schemas = {}
        self._channels = {}
        self._joint_state = cdr.JointStateEncoder(JOINT_NAMES)
        self._episode_number = 0
        self._start_ns = 0
        self._disturbance = None
        self._thread = threading.Thread(target=self._run, name='recorder', daemon=True)
        self._thread.start()

    # -- the stepping thread: enqueue only ------------------------------------
    def on_sample(self, sample):
        """Queue ``sample`` with the live disturbance (drop and count when full)."""
        if self._closed or self._queue.qsize() >= self.max_queue:
            self._refused += 1
            return
        if not self._episode_open:
            # Recording began mid-episode: its file starts here.
            start = sample.index - round(sample.t / self.dt)
            self.on_episode(start)
        self._last_t = sample.t
        self._queue.put((_SAMPLE, sample, self.view.live_disturbance))

    def on_episode(self, index):
        """Start the file of the episode that begins at sample ``index``."""
        if self._closed:
            return
        self._episode_open = True
        self._last_t = 0.0
        self._queue.put((_EPISODE, index, self.view.episode.description))

    def on_event(self, event):
        """Queue a plant :class:`~.plant.Event` for ``/events``."""
        if not self._closed:
            self._queue.put((_EVENT, event.t, event.kind, event.detail))

    def on_late(self, missed, overruns, controlled):
        """Queue a ``late`` event: a real-time tick came ``missed`` periods late."""
        if not self._closed:
            self._queue.put((_LATE, self._last_t, missed, overruns))

    def on_finish(self):
        """Close the file of the running episode: no more samples will come."""
        if not self._closed:
            self._episode_open = False
            self._queue.put((_FINISH,))

    def publish(self, prepared):
        """Record ``prepared`` (a Sample): the recorder is a schedule's own listener."""
        self.on_sample(prepared)

    # -- the caller's thread --------------------------------------------------
    def close(self, timeout=None):
        """Write what is queued, close the running episode's file, stop the thread."""
        with self._close_lock:
            if not self._closed:
                self._closed = True
                self._queue.put((_STOP,))
        self._thread.join(timeout)

    @property
    def dropped(self):
        """Return how many samples were not written (queue full, closed, no file)."""
        return self._refused + self._lost

    @property
    def pending(self):
        """Return how many items wait to be written."""
        return self._queue.qsize()

    # -- the writer thread ----------------------------------------------------
    def _run(self):
        get = self._queue.get
        while True:
            item = get()
            kind = item[0]
            if kind == _STOP:
                try:
                    self._close_file()
                except Exception as exc:  # noqa: B902 - close() must learn of it
                    self._fail(exc)
                return
            try:
                if kind == _SAMPLE:
                    if self._mcap is None:
                        self._lost += 1
                    else:
                        self._write_sample(item[1], item[2])
                        self.written += 1
                        self._episode_samples += 1
                elif kind == _EPISODE:
                    try:
                        self._close_file()
                    except Exception as exc:  # noqa: B902 - the next episode is still written
                        self._fail(exc)
                    self._open_file(item[1], item[2])
                elif kind == _EVENT:
                    self._write_event(*item[1:])
                elif kind == _LATE:
                    _, t, missed, overruns = item
                    self._write_event(t, 'late', f'tick came {missed} period(s) late; '
                                                 f'{overruns} overrun(s) so far')
                elif kind == _FINISH:
                    self._close_file()
            except Exception as exc:  # noqa: B902 - a failed write must not stop the plant
                if kind == _SAMPLE:
                    self._lost += 1
                self._fail(exc)

    def _fail(self, exc):
        self.error = f'{type(exc).__name__}: {exc}'
        _log.error(f'recording stopped until the next episode: {self.error}')
        mcap, stream = self._mcap, self._file
        self._mcap = self._file = None
        try:
            if mcap is not None:
                mcap.finish()                   # keep what was written, if the disk lets us
        except Exception:  # noqa: B902 - best effort: the file may be cut off
            pass
        finally:
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass

    def _open_file(self, index, description):
        episode = description.get('episode', self._episode_number + 1)
        scenario = description.get('scenario', {})
        name = scenario.get('name', 'scenario') if isinstance(scenario, dict) else scenario
        path = self._free_path(episode_file_name(episode, name))
        self._file = open(path, 'xb')
        self._mcap = self._writer_class(self._file, chunk_size=self.chunk_size)
        self.files.append(path)
        self._episode_samples = 0
        self._episode_number = episode
        self._start_ns = self.stamp_origin_ns + index * self.dt_ns
        self._disturbance = None
        self._schemas = {t: self._mcap.register_schema(t, 'ros2msg', schema_text(t).encode())
                         for t in DEPENDENCIES}
        self._channels = {}
        text = json.dumps(description, default=str)
        self._write(EPISODE_TOPIC, STRING, cdr.encode_string(text), self._start_ns)
        meta = {'episode': str(episode), 'scenario': str(name), 'description': text,
                'parameters': json.dumps(description.get('parameters', {}), default=str)}
        if isinstance(scenario, dict) and scenario.get('seed') is not None:
            meta['seed'] = str(scenario['seed'])
        if 'campaign_position' in description:
            meta['campaign_position'] = json.dumps(description['campaign_position'])
        self._mcap.add_metadata('episode', meta)
        self._mcap.add_metadata('recording', {
            'dt': repr(self.dt), 'dt_ns': str(self.dt_ns),
            'stamp_origin_ns': str(self.stamp_origin_ns), 'start_index': str(index),
            'start_ns': str(self._start_ns), 'joint_names': ','.join(JOINT_NAMES),
            'disturbance': 'live only; scheduled disturbances are events'})

    def _free_path(self, name):
        path = self.directory / name
        stem = path.name[:-len('.mcap')]
        copy = 1
        while path.exists():
            copy += 1
            path = self.directory / f'{stem}.{copy}.mcap'
        return path

    def _close_file(self):
        if self._mcap is None:
            return
        mcap, self._mcap = self._mcap, None
        stream, self._file = self._file, None
        try:
            mcap.finish()
        finally:
            stream.close()
        if self._episode_samples <= 1:
            # Only its t = 0 sample: an episode in which nothing happened (the
            # start-up one a client's first RESET replaces at once).
            path = self.files.pop()
            path.unlink(missing_ok=True)

    def _channel(self, topic, type_name):
        channel = self._channels.get(topic)
        if channel is None:        # registered when first written, as rosbag2 does
            channel = self._channels[topic] = self._mcap.register_channel(
                topic, 'cdr', self._schemas[type_name])
        return channel

    def _write(self, topic, type_name, data, ns, sequence=0):
        self._mcap.add_message(self._channel(topic, type_name), log_time=ns, data=data,
                               publish_time=ns, sequence=sequence)

    def _write_sample(self, sample, disturbance):
        ns = self.stamp_origin_ns + sample.index * self.dt_ns
        sec, nanosec = divmod(ns, NS_PER_S)
        force = sample.force
        effort = (force, 0.0, 0.0)
        seq = sample.index & 0xFFFFFFFF
        encode = self._joint_state.encode
        for topic, state in ((STATE_TOPIC, sample.measured), (GROUND_TRUTH_TOPIC, sample.true)):
            self._write(topic, JOINT_STATE, encode(sec, nanosec, state[:3], state[3:6], effort),
                        ns, seq)
        self._write(FORCE_TOPIC, FLOAT64, cdr.encode_float64(force), ns, seq)
        if disturbance != self._disturbance:
            self._disturbance = disturbance
            self._write(DISTURBANCE_TOPIC, FLOAT64_MULTI_ARRAY,
                        cdr.encode_float64_array(disturbance), ns, seq)

    def _write_event(self, t, kind, detail):
        if self._mcap is None:
            return
        ns = self._start_ns + round(t * NS_PER_S)
        text = json.dumps({'t': t, 'kind': kind, 'detail': detail,
                           'episode': self._episode_number})
        self._write(EVENTS_TOPIC, STRING, cdr.encode_string(text), ns)


def shipped_definition(type_name, prefixes=None):
    """
    Return the ``.msg`` file ROS ships for ``type_name``, or None.

    Looked for under ``share/<package>/msg/`` of each prefix (default: this
    Python's ``sys.prefix`` and ``AMENT_PREFIX_PATH``).
    """
    package, _, name = type_name.split('/')
    if prefixes is None:
        prefixes = [sys.prefix] + [p for p in os.environ.get('AMENT_PREFIX_PATH', '')
                                   .split(os.pathsep) if p]
    for prefix in prefixes:
        path = Path(prefix) / 'share' / package / 'msg' / f'{name}.msg'
        if path.is_file():
            return path
    return None


def strip_definition(text):
    """Return a ``.msg`` text without comments, blank lines and repeated blanks."""
    lines = (' '.join(line.split('#', 1)[0].split()) for line in text.splitlines())
    return ''.join(f'{line}\n' for line in lines if line)
