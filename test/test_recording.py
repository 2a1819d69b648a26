"""Episode recordings (MCAP, ROS 2 messages) and dip_export, without ROS."""

import csv
import json
import shutil
import subprocess
import threading
import time

import numpy as np
from plant_server_ros.analysis import export
from plant_server_ros.conditions.scenario import Scenario, ScenarioPlayer
from plant_server_ros.observers import recording
from plant_server_ros.observers.recording import Recorder
from plant_server_ros.runtime.lockstep import LockstepSchedule
from plant_server_ros.runtime.plant import Plant
from plant_server_ros.runtime.realtime import RealtimeSchedule
from plant_server_ros.runtime.schedule import Fanout, PlantListener
import pytest

# The recorder and dip_export import these when used; without them the tests skip
# (not the module: a module-level skip ends the collection of the whole folder
# under launch_testing's plugin, colcon test; see test_collection.py).
try:
    from mcap.reader import make_reader
    from mcap_ros2.decoder import DecoderFactory
except ImportError as exc:
    MISSING = {'mcap': 'mcap is not installed (pip install mcap)'}.get(
        (exc.name or '').partition('.')[0], 'mcap-ros2-support is not installed')
else:
    MISSING = None
pytestmark = pytest.mark.skipif(MISSING is not None, reason=str(MISSING))

DT = 0.01
DT_NS = 10_000_000
TOPICS = {'/state': 'sensor_msgs/msg/JointState', '/ground_truth': 'sensor_msgs/msg/JointState',
          '/applied_force': 'std_msgs/msg/Float64',
          '/disturbance': 'std_msgs/msg/Float64MultiArray', '/events': 'std_msgs/msg/String',
          '/episode': 'std_msgs/msg/String'}
PUSH = {'name': 'push test', 'seed': 7, 'duration': 20.0,
        'disturbances': [{'kind': 'pulse', 'channel': 'force', 'amplitude': 2.0,
                          'start': 0.5, 'duration': 0.1}],
        'uncertainty': {'masses': 0.05}}


class Collector(PlantListener):
    """A door's own listener: keep what was published, per episode, with its events."""

    def __init__(self, plant):
        self.plant = plant
        self.episodes = []          # [(start index, description, [samples], [events])]

    def publish(self, prepared):
        self.episodes[-1][2].append(prepared)

    def on_episode(self, index):
        self.episodes.append((index, self.plant.describe_episode(), [], []))

    def on_event(self, event):
        self.episodes[-1][3].append(event)


def read(path):
    """Return (summary, header, {topic: [(log_time, decoded)]}, {metadata name: dict})."""
    with open(path, 'rb') as f:
        reader = make_reader(f, decoder_factories=[DecoderFactory()])
        summary, header = reader.get_summary(), reader.get_header()
        messages = {}
        for _, channel, message, decoded in reader.iter_decoded_messages():
            assert message.publish_time == message.log_time
            messages.setdefault(channel.topic, []).append((message.log_time, decoded))
        metadata = {m.name: m.metadata for m in reader.iter_metadata()}
    return summary, header, messages, metadata


@pytest.fixture(scope='module')
def lockstep_run(tmp_path_factory):
    """Two lock-step episodes of a scenario with a pulse, a live push, recorded."""
    directory = tmp_path_factory.mktemp('recording')
    plant = Plant(dt=DT, seed=1,
                  scenarios=ScenarioPlayer([Scenario.from_dict(PUSH, dt=DT)]))
    collector = Collector(plant)
    recorder = Recorder(directory, plant, DT)
    schedule = LockstepSchedule(plant, Fanout(collector, [recorder]))
    schedule.start()
    for k in range(250):
        schedule.control(0.3 * np.sin(0.05 * k))
    schedule.set_disturbance(1.5, 0.02, 0.0)      # live: from the next step on
    for _ in range(50):
        schedule.control(0.0)
    schedule.set_disturbance(0.0)
    for _ in range(20):
        schedule.control(-0.1)
    schedule.reset()                              # the second episode
    for _ in range(120):
        schedule.control(0.2)
    recorder.close()
    assert plant.fault is None
    return directory, recorder, collector


def test_one_file_per_episode(lockstep_run):
    directory, recorder, collector = lockstep_run
    names = sorted(p.name for p in directory.iterdir())
    assert names == ['episode_0001_push_test.mcap', 'episode_0002_push_test.mcap']
    assert [p.name for p in recorder.files] == names
    assert len(collector.episodes) == 2
    total = sum(len(samples) for _, _, samples, _ in collector.episodes)
    assert recorder.written == total == 1 + 320 + 1 + 120
    assert recorder.dropped == 0 and recorder.error is None


def test_topics_schemas_encodings_and_summary(lockstep_run):
    # ros2 bag info is not available here: mcap's own summary stands in for it.
    directory, recorder, collector = lockstep_run
    for path, (_, _, samples, events) in zip(recorder.files, collector.episodes):
        summary, header, messages, metadata = read(path)
        assert header.profile == 'ros2'
        channels = {c.topic: c for c in summary.channels.values()}
        assert set(channels) == set(TOPICS)
        for topic, channel in channels.items():
            schema = summary.schemas[channel.schema_id]
            assert channel.message_encoding == 'cdr'
            assert schema.encoding == 'ros2msg'
            assert schema.name == TOPICS[topic]
            assert schema.data.decode() == recording.schema_text(schema.name)
        stats = summary.statistics
        assert stats.channel_count == 6 and stats.schema_count == 4
        assert stats.metadata_count == 2
        assert stats.message_count == sum(len(m) for m in messages.values())
        counts = {channels[t].id: len(m) for t, m in messages.items()}
        assert stats.channel_message_counts == counts
        for topic in ('/state', '/ground_truth', '/applied_force'):
            assert len(messages[topic]) == len(samples)
        assert len(messages['/events']) == len(events)
        assert len(messages['/episode']) == 1
        assert stats.message_start_time == samples[0].index * DT_NS
        assert stats.message_end_time == samples[-1].index * DT_NS


def test_samples_bit_exact_on_the_dt_grid(lockstep_run):
    _, recorder, collector = lockstep_run
    for path, (start, _, samples, _) in zip(recorder.files, collector.episodes):
        _, _, messages, metadata = read(path)
        assert samples[0].index == start
        for topic, field in (('/state', 'measured'), ('/ground_truth', 'true')):
            assert len(messages[topic]) == len(samples)
            for (log_time, msg), sample in zip(messages[topic], samples):
                ns = sample.index * DT_NS
                assert log_time == ns
                assert msg.header.stamp.sec * 10 ** 9 + msg.header.stamp.nanosec == ns
                assert list(msg.name) == ['cart_joint', 'link1_joint', 'link2_joint']
                state = getattr(sample, field)
                assert list(msg.position) == list(state[:3])      # == on floats: bit-exact
                assert list(msg.velocity) == list(state[3:])
                assert list(msg.effort) == [sample.force, 0.0, 0.0]
        assert [m.data for _, m in messages['/applied_force']] == [s.force for s in samples]
        assert metadata['recording']['start_index'] == str(start)
        assert metadata['recording']['dt_ns'] == str(DT_NS)


def test_measured_differs_from_truth(lockstep_run):
    # The plant's sensor noise: /state is not /ground_truth.
    _, _, collector = lockstep_run
    samples = collector.episodes[0][2]
    assert any(s.measured != s.true for s in samples)


def test_disturbance_topic_has_the_live_pushes(lockstep_run):
    _, recorder, collector = lockstep_run
    _, _, messages, _ = read(recorder.files[0])
    samples = collector.episodes[0][2]
    written = [(ns, list(m.data)) for ns, m in messages['/disturbance']]
    pushed = samples[251].index * DT_NS      # the first sample published after the push
    cleared = samples[301].index * DT_NS
    assert written == [(samples[0].index * DT_NS, [0.0, 0.0, 0.0]),
                       (pushed, [1.5, 0.02, 0.0]), (cleared, [0.0, 0.0, 0.0])]
    _, _, second, _ = read(recorder.files[1])
    assert [list(m.data) for _, m in second['/disturbance']] == [[0.0, 0.0, 0.0]]


def test_events_with_their_plant_times(lockstep_run):
    _, recorder, collector = lockstep_run
    for path, (start, description, _, events) in zip(recorder.files, collector.episodes):
        _, _, messages, _ = read(path)
        recorded = [(ns, json.loads(m.data)) for ns, m in messages['/events']]
        assert [(e['t'], e['kind'], e['detail']) for _, e in recorded] == \
            [(e.t, e.kind, e.detail) for e in events]
        assert all(e['episode'] == description['episode'] for _, e in recorded)
        for ns, e in recorded:
            assert ns == start * DT_NS + round(e['t'] * 1e9)
    kinds = [e.kind for e in collector.episodes[0][3]]
    assert kinds == ['episode', 'disturbance_start', 'disturbance_end', 'disturbance',
                     'disturbance']
    first = {e.kind: e.t for e in collector.episodes[0][3]}
    assert first['disturbance_start'] == pytest.approx(0.5)
    assert first['disturbance_end'] == pytest.approx(0.6)


def test_episode_description_topic_and_metadata(lockstep_run):
    _, recorder, collector = lockstep_run
    for path, (start, description, _, _) in zip(recorder.files, collector.episodes):
        _, _, messages, metadata = read(path)
        (ns, msg), = messages['/episode']
        assert ns == start * DT_NS
        expected = json.loads(json.dumps(description))
        assert json.loads(msg.data) == expected
        assert expected['scenario']['seed'] == 7
        assert 'cart_mass' in expected['parameters']
        meta = metadata['episode']
        assert meta['episode'] == str(description['episode'])
        assert meta['scenario'] == 'push test' and meta['seed'] == '7'
        assert json.loads(meta['description']) == expected
        assert json.loads(meta['parameters']) == expected['parameters']
        assert all(isinstance(v, str) for v in meta.values())


def test_export_csv_and_npz_round_trip(lockstep_run, tmp_path):
    _, recorder, collector = lockstep_run
    _, description, samples, events = collector.episodes[0]
    for measured in (False, True):
        field = 'measured' if measured else 'true'
        out_csv, out_npz = tmp_path / f'{field}.csv', tmp_path / f'{field}.npz'
        argv = [str(recorder.files[0]), '--csv', str(out_csv), '--npz', str(out_npz)]
        assert export.main(argv + (['--measured'] if measured else [])) == 0
        x = np.array([getattr(s, field) for s in samples])
        u = np.array([s.force for s in samples[1:]])
        t = np.array([s.t for s in samples])
        with np.load(out_npz) as data:                   # no allow_pickle needed
            assert data['t'].shape == (len(samples),)
            assert data['x'].shape == (len(samples), 6)
            assert data['u'].shape == (len(samples) - 1,)
            assert np.array_equal(data['t'], t)          # k * dt, as the plant counts
            assert np.array_equal(data['x'], x)
            assert np.array_equal(data['u'], u)
            assert json.loads(str(data['meta'])) == json.loads(json.dumps(description))
            assert float(data['dt']) == DT
            assert len(json.loads(str(data['events']))) == len(events)
        with open(out_csv, newline='') as f:
            rows = list(csv.reader(f))
        assert rows[0] == ['t', 'x', 'theta1', 'theta2', 'x_dot', 'theta1_dot', 'theta2_dot',
                           'u']
        body = rows[1:]
        assert len(body) == len(samples)
        assert np.array_equal(np.array([[float(v) for v in r[1:7]] for r in body]), x)
        assert np.array_equal(np.array([float(r[0]) for r in body]), t)
        assert np.array_equal(np.array([float(r[7]) for r in body[:-1]]), u)
        assert body[-1][7] == ''
    episode = export.load_episode(recorder.files[1])
    assert episode['complete'] and episode['dt'] == DT
    assert np.array_equal(episode['x'], np.array([s.true for s in collector.episodes[1][2]]))
    assert [e['kind'] for e in episode['events']] == \
        [e.kind for e in collector.episodes[1][3]]


def test_export_summary_and_bad_files(lockstep_run, tmp_path, capsys):
    _, recorder, _ = lockstep_run
    assert export.main([str(recorder.files[0])]) == 0
    assert 'scenario push test, 321 samples' in capsys.readouterr().out
    missing = tmp_path / 'missing.mcap'
    assert export.main([str(missing)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f'dip_export: no such file: {missing}' and '\n' not in err
    text = tmp_path / 'not.mcap'
    text.write_text('t,x\n0,0\n')
    assert export.main([str(text)]) == 2
    assert 'is not an MCAP file' in capsys.readouterr().err
    empty = tmp_path / 'empty.mcap'
    empty.write_bytes(b'')
    assert export.main([str(empty)]) == 2
    assert 'not a readable MCAP file' in capsys.readouterr().err
    assert export.main([]) == 2                           # usage error


def test_cut_off_file_is_read_as_far_as_it_goes(tmp_path):
    # A writer that died mid-episode leaves no summary; the chunks written are read.
    plant = Plant(dt=DT, seed=3)
    recorder = Recorder(tmp_path / 'rec', plant, DT, chunk_size=4096)
    schedule = LockstepSchedule(plant, Fanout(PlantListener(), [recorder]))
    schedule.start()
    for _ in range(400):
        schedule.control(0.0)
    recorder.close()
    path, = recorder.files
    cut = tmp_path / 'cut.mcap'
    data = path.read_bytes()
    cut.write_bytes(data[:len(data) // 2])
    episode = export.load_episode(cut)
    assert not episode['complete']
    assert 10 < len(episode['t']) < 401
    full = export.load_episode(path)
    n = len(episode['t'])
    assert np.array_equal(episode['x'], full['x'][:n])
    assert export.main([str(cut), '--npz', str(tmp_path / 'cut.npz')]) == 0


def test_recording_can_begin_mid_episode(tmp_path):
    plant = Plant(dt=DT, seed=4)
    fanout = Fanout(PlantListener(), [])
    schedule = LockstepSchedule(plant, fanout)
    schedule.start()
    for _ in range(30):
        schedule.control(0.1)
    recorder = Recorder(tmp_path, plant, DT, stamp_origin_ns=5 * 10 ** 9)
    fanout.observers.append(recorder)
    published = [schedule.control(0.1) for _ in range(20)]
    recorder.on_late(2, 1, True)                # a real-time tick that came late
    recorder.close()
    path, = recorder.files
    episode = export.load_episode(path)
    late, = episode['events']
    assert late['kind'] == 'late' and late['t'] == published[-1].t
    assert 'tick came 2 period(s) late' in late['detail']
    assert np.array_equal(episode['t'], np.array([s.t for s in published]))
    assert list(episode['stamp_ns']) == [5 * 10 ** 9 + s.index * DT_NS for s in published]
    assert np.array_equal(episode['x'], np.array([s.true for s in published]))


class TimedRecorder(Recorder):
    """A Recorder that times each on_sample (the stepping thread's cost)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.durations = []

    def on_sample(self, sample):
        begin = time.perf_counter()
        super().on_sample(sample)
        self.durations.append(time.perf_counter() - begin)


def test_realtime_every_published_sample_recorded(tmp_path):
    dt = 0.002
    plant = Plant(dt=dt, seed=5, scenarios=ScenarioPlayer([Scenario.from_dict(PUSH, dt=dt)]))
    collector = Collector(plant)
    origin = 1_700_000_000 * 10 ** 9        # the ROS node's origin: a wall-clock instant
    recorder = TimedRecorder(tmp_path, plant, dt, stamp_origin_ns=origin)
    schedule = RealtimeSchedule(plant, Fanout(collector, [recorder]))
    schedule.start()
    time.sleep(0.5)
    schedule.stop()
    recorder.close()
    samples = collector.episodes[0][2]
    assert len(samples) > 100
    assert recorder.written == len(samples) and recorder.dropped == 0
    path, = recorder.files
    _, _, messages, _ = read(path)
    stamps = [ns for ns, _ in messages['/ground_truth']]
    assert stamps == [origin + s.index * 2_000_000 for s in samples]
    assert [list(m.position) + list(m.velocity) for _, m in messages['/ground_truth']] == \
        [list(s.true) for s in samples]
    # The stepping thread only enqueues: microseconds (5 ms is generous).
    assert len(recorder.durations) == len(samples)
    assert max(recorder.durations) < 5e-3, max(recorder.durations)


class StuckRecorder(Recorder):
    """A Recorder whose writer thread hangs on its first sample until released."""

    def __init__(self, *args, **kwargs):
        self.gate = threading.Event()
        self.stuck = threading.Event()
        super().__init__(*args, **kwargs)

    def _write_sample(self, sample, disturbance):
        self.stuck.set()
        self.gate.wait()
        super()._write_sample(sample, disturbance)


def test_full_queue_drops_and_counts_never_blocks(tmp_path):
    plant = Plant(dt=DT, seed=6)
    recorder = StuckRecorder(tmp_path, plant, DT, max_queue=5)
    schedule = LockstepSchedule(plant, Fanout(PlantListener(), [recorder]))
    schedule.start()
    assert recorder.stuck.wait(5.0)
    begin = time.perf_counter()
    for _ in range(100):
        schedule.control(0.0)
    blocked_for = time.perf_counter() - begin
    assert blocked_for < 2.0                     # 100 steps; the writer hangs all along
    assert recorder.dropped > 0
    recorder.gate.set()
    recorder.close()
    assert recorder.written + recorder.dropped == 101
    assert recorder.written <= 1 + 5
    episode = export.load_episode(recorder.files[0])
    assert len(episode['t']) == recorder.written
    recorder.on_sample(None)                     # after close: counted, not queued
    assert recorder.written + recorder.dropped == 102


class FailingRecorder(Recorder):
    """A Recorder whose disk fails on the 5th sample it writes."""

    def _write_sample(self, sample, disturbance):
        if self.written == 4 and self.error is None:
            raise OSError(28, 'No space left on device')
        super()._write_sample(sample, disturbance)


def test_a_failed_write_loses_the_episode_not_the_plant(tmp_path):
    plant = Plant(dt=DT, seed=2)
    recorder = FailingRecorder(tmp_path, plant, DT)
    schedule = LockstepSchedule(plant, Fanout(PlantListener(), [recorder]))
    schedule.start()
    for _ in range(9):
        schedule.control(0.0)
    schedule.reset()                            # a new episode: a new file, recording again
    for _ in range(5):
        schedule.control(0.0)
    recorder.close()
    assert 'No space left on device' in recorder.error
    assert recorder.written == 4 + 6 and recorder.dropped == 6
    assert len(recorder.files) == 2
    assert len(export.load_episode(recorder.files[0])['t']) == 4     # what came before
    assert len(export.load_episode(recorder.files[1])['t']) == 6


def test_no_overwrite_of_an_earlier_recording(tmp_path):
    for _ in range(2):
        plant = Plant(dt=DT, seed=8)
        recorder = Recorder(tmp_path, plant, DT)
        schedule = LockstepSchedule(plant, Fanout(PlantListener(), [recorder]))
        schedule.start()
        schedule.control(0.0)
        recorder.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == \
        ['episode_0001_default.2.mcap', 'episode_0001_default.mcap']


@pytest.mark.parametrize('type_name', sorted(recording.MESSAGE_DEFINITIONS))
def test_embedded_definitions_match_ros(type_name):
    shipped = recording.shipped_definition(type_name)
    if shipped is None:
        pytest.skip(f'{type_name}.msg is not installed (no ROS message packages here)')
    assert recording.MESSAGE_DEFINITIONS[type_name] == \
        recording.strip_definition(shipped.read_text())


def ros2_bag_info():
    """Return ``ros2 bag info``'s command if it can read MCAP here, else why not."""
    ros2 = shutil.which('ros2')
    if ros2 is None:
        return None, 'the ros2 CLI is not available'
    # ros2 without rosbag2 (ros2bag) has no bag verb: "invalid choice: 'bag'".
    try:
        help_ = subprocess.run([ros2, 'bag', 'info', '--help'], capture_output=True, text=True,
                               timeout=60)
    except subprocess.TimeoutExpired:
        return None, 'ros2 bag info --help did not answer in 60 s'
    if help_.returncode != 0:
        return None, ('ros2 has no bag verb (rosbag2 is not installed): '
                      + (help_.stderr.strip().splitlines() or [''])[-1])
    if 'mcap' not in help_.stdout:
        return None, "rosbag2's MCAP storage plugin (rosbag2_storage_mcap) is not installed"
    return [ros2, 'bag', 'info', '-s', 'mcap'], None


def test_a_ros2_without_rosbag2_is_told_apart(tmp_path, monkeypatch):
    fake = tmp_path / 'ros2'
    fake.write_text('#!/bin/sh\necho "ros2: error: argument Call `ros2 <command> -h` for more '
                    'detailed usage.: invalid choice: \'bag\'" >&2\nexit 2\n')
    fake.chmod(0o755)
    monkeypatch.setenv('PATH', str(tmp_path))
    command, why = ros2_bag_info()
    assert command is None and "invalid choice: 'bag'" in why


def test_ros2_bag_info_reads_a_recording(tmp_path):
    # Where the ros2 CLI (with rosbag2's MCAP plugin) exists, it reads the file too.
    command, why = ros2_bag_info()
    if command is None:
        pytest.skip(f'{why}: the mcap summary checks stand in for ros2 bag info')
    plant = Plant(dt=DT, seed=9)
    recorder = Recorder(tmp_path, plant, DT)
    schedule = LockstepSchedule(plant, Fanout(PlantListener(), [recorder]))
    schedule.start()
    for _ in range(10):
        schedule.control(0.0)
    recorder.close()
    path, = recorder.files
    result = subprocess.run([*command, str(path)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert '/ground_truth' in result.stdout and 'sensor_msgs/msg/JointState' in result.stdout


# -- the CDR encoders against mcap_ros2's --------------------------------------------
def _reference(type_name):
    from mcap_ros2._dynamic import serialize_dynamic
    return serialize_dynamic(type_name, recording.schema_text(type_name))[type_name]


def test_the_cdr_encoders_give_mcap_ros2s_bytes():
    from plant_server_ros.observers import cdr
    hypothesis = pytest.importorskip('hypothesis', reason='hypothesis is not installed')
    st = hypothesis.strategies
    joint_state, float64 = _reference(recording.JOINT_STATE), _reference(recording.FLOAT64)
    array, string = _reference(recording.FLOAT64_MULTI_ARRAY), _reference(recording.STRING)
    encoder = cdr.JointStateEncoder(recording.JOINT_NAMES)
    numbers = st.floats(allow_nan=False)
    triple = st.lists(numbers, min_size=3, max_size=3)

    @hypothesis.given(st.integers(-2**31, 2**31 - 1), st.integers(0, 2**32 - 1),
                      triple, triple, triple, numbers, st.lists(numbers, max_size=7),
                      st.text(max_size=40))
    def same_bytes(sec, nanosec, position, velocity, effort, value, values, text):
        msg = {'header': {'stamp': {'sec': sec, 'nanosec': nanosec}, 'frame_id': ''},
               'name': list(recording.JOINT_NAMES), 'position': position,
               'velocity': velocity, 'effort': effort}
        assert encoder.encode(sec, nanosec, position, velocity, effort) == joint_state(msg)
        assert cdr.encode_float64(value) == float64({'data': value})
        layout = {'dim': [], 'data_offset': 0}
        assert cdr.encode_float64_array(values) == array({'layout': layout, 'data': values})
        assert cdr.encode_string(text) == string({'data': text})
    same_bytes()


# -- through the doors ------------------------------------------------------------------
def test_plant_server_records_each_episode_and_dip_export_reads_it(tmp_path):
    from plant_server_ros import PlantServer
    from plant_server_ros.clients.tcp_client import LegacyClient
    ready = threading.Event()
    server = PlantServer(bind_addr=('127.0.0.1', 0), mode='lockstep', seed=2,
                         server_ready_event=ready, record=str(tmp_path))
    thread = threading.Thread(target=server.start)
    thread.start()
    assert ready.wait(10)
    try:
        with LegacyClient(port=server.port) as c:
            c.reset()
            replies = [c.control(1.0) for _ in range(50)]
    finally:
        server.stop()
        thread.join(10)
        server.close()
    files = sorted(tmp_path.glob('*.mcap'))
    assert len(files) == 1                  # the start-up episode held one sample: not kept
    episode = export.load_episode(files[-1], measured=True)
    assert len(episode['t']) == 51 and episode['u'].shape == (50,)
    assert tuple(episode['x'][-1]) == tuple(replies[-1][0])
    assert export.main([str(files[-1]), '--npz', str(tmp_path / 'run.npz')]) == 0
