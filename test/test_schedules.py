"""The lock-step and real-time schedules and the plant log, without ROS."""

import math
import threading
import time
from types import SimpleNamespace

from plant_server_ros.runtime import plant_log
from plant_server_ros.runtime.lockstep import LockstepSchedule
from plant_server_ros.runtime.plant import Plant
from plant_server_ros.runtime.plant_log import PlantLog
from plant_server_ros.runtime.realtime import MAX_PUBLISHED_BACKLOG, RealtimeSchedule
from plant_server_ros.runtime.schedule import PlantFinished, PlantHalted, PlantListener
import pytest

DT = 0.01


class Recorder(PlantListener):
    """Record every hook a schedule calls, with the wall time of each publish."""

    def __init__(self):
        self.published, self.times = [], []
        self.episodes, self.halts, self.finishes = [], [], 0
        self.failsafes, self.lates = [], []
        self.plant = None                 # set to record the plant time of a fail-safe
        self.failsafe_times = []
        self.on_publish = None            # optional hook, called with each sample
        self.got_sample = threading.Event()

    def prepare(self, sample):
        return ('prepared', sample)

    def publish(self, prepared):
        tag, sample = prepared
        assert tag == 'prepared'
        self.times.append(time.monotonic())
        self.published.append(sample)
        if self.on_publish is not None:
            self.on_publish(sample)
        self.got_sample.set()

    def on_episode(self, index):
        self.episodes.append(index)

    def on_halt(self, reason):
        self.halts.append(reason)

    def on_finish(self):
        self.finishes += 1

    def on_failsafe(self, active, controlled):
        self.failsafes.append((active, controlled))
        if self.plant is not None:
            self.failsafe_times.append(self.plant.time)

    def on_late(self, missed, overruns, controlled):
        self.lates.append(missed)


def wait_for(predicate, timeout=3.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.002)
    return True


# -- lock-step ---------------------------------------------------------------------------
def lockstep(max_steps=0, **plant_args):
    plant_args.setdefault('dt', DT)
    plant_args.setdefault('sensor_noise_std', 0.0)
    rec = Recorder()
    schedule = LockstepSchedule(Plant(**plant_args), rec, max_steps=max_steps)
    schedule.start()
    return schedule, rec


def test_lockstep_one_dt_per_control_and_returns_what_it_published():
    schedule, rec = lockstep(sensor_noise_std=0.01, seed=1)
    assert rec.episodes == [0]
    assert [(s.index, s.t) for s in rec.published] == [(0, 0.0)]
    for k in range(1, 6):
        sample = schedule.control(2.0)
        assert (sample.index, sample.t) == (k, k * DT)
        assert sample.force == 2.0
        assert rec.published[-1] is sample and len(rec.published) == k + 1
        assert sample.true == schedule.plant.state and sample.measured != sample.true
    assert schedule.last_reply() == (rec.published[-1].measured, 5 * DT)


def test_lockstep_reset_starts_an_episode_one_tick_after_the_last_sample():
    schedule, rec = lockstep()
    for _ in range(4):
        schedule.control(3.0)
    sample = schedule.reset()
    # One tick later than the last state: two states never share a stamp.
    assert (sample.index, sample.t, sample.force) == (5, 0.0, 0.0)
    assert sample.true == schedule.plant.initial_state
    assert rec.episodes == [0, 5] and rec.published[-1] is sample
    given = (0.1, 0.2, -0.1, 0.0, 0.0, 0.0)
    assert schedule.reset(given).true == given and rec.episodes == [0, 5, 6]
    after = schedule.control(0.0)
    assert (after.index, after.t) == (7, DT)     # the index never goes back, t does
    indices = [s.index for s in rec.published]
    assert all(b > a for a, b in zip(indices, indices[1:])), indices
    assert schedule.plant.total_steps == 5       # periods stepped: resets are not steps


def test_lockstep_off_the_track_halts_then_reset_recovers():
    schedule, rec = lockstep(track_limit=0.01, control_timeout=0.0, sensor_noise_std=0.01,
                             seed=2)
    for _ in range(200):
        last = schedule.control(20.0)
        if rec.halts:
            break
    assert len(rec.halts) == 1 and 'track' in rec.halts[0]
    assert abs(last.true[0]) > 0.01 and rec.published[-1] is last
    published = len(rec.published)
    for _ in range(2):
        with pytest.raises(PlantHalted) as halted:
            schedule.control(20.0)
        assert halted.value.last == (last.measured, last.t)
    assert len(rec.halts) == 1 and len(rec.published) == published
    assert schedule.halted is not None
    sample = schedule.reset()
    assert sample.t == 0.0 and schedule.halted is None
    assert schedule.control(0.0).t == DT


class BlowUp:
    """Dynamics that become non-finite under any force."""

    def step(self, state, u, dt):
        return state if u == 0.0 else (math.nan,) * 6


def test_lockstep_non_finite_state_halts_on_that_control():
    schedule, rec = lockstep(dynamics=BlowUp())
    good = schedule.control(0.0)
    with pytest.raises(PlantHalted) as halted:
        schedule.control(1.0)
    assert halted.value.last == (good.measured, good.t)
    assert len(rec.halts) == 1 and 'non-finite' in rec.halts[0]
    assert rec.published[-1] is good
    assert all(math.isfinite(v) for v in schedule.plant.state)


def test_lockstep_max_steps_finishes_once():
    schedule, rec = lockstep(max_steps=5)
    for k in range(1, 6):
        assert schedule.control(0.0).index == k
        assert rec.finishes == (1 if k == 5 else 0)
    published = len(rec.published)
    with pytest.raises(PlantFinished):
        schedule.control(0.0)
    with pytest.raises(PlantFinished):
        schedule.reset()
    assert rec.finishes == 1 and len(rec.published) == published
    assert schedule.plant.total_steps == 5


@pytest.mark.parametrize('bad', [math.nan, math.inf, -math.inf])
def test_lockstep_non_finite_control_refused_untouched(bad):
    schedule, rec = lockstep()
    schedule.control(4.0)
    plant = schedule.plant
    before = (plant.state, plant.total_steps, plant.commanded_force, len(rec.published))
    with pytest.raises(ValueError):
        schedule.control(bad)
    assert (plant.state, plant.total_steps, plant.commanded_force,
            len(rec.published)) == before
    assert schedule.control(4.0).force == 4.0


def run_lockstep(seed, forces):
    schedule, rec = lockstep(sensor_noise_std=0.02, seed=seed)
    for u in forces:
        schedule.control(u)
    schedule.reset()
    schedule.control(1.0)
    return rec.published


def test_lockstep_same_seed_same_controls_bit_identical():
    forces = [4.0 * math.sin(k / 5.0) for k in range(50)]
    first = run_lockstep(5, forces)
    assert len(first) == 53
    assert first == run_lockstep(5, forces)
    assert first != run_lockstep(6, forces)


# -- real time ---------------------------------------------------------------------------
@pytest.fixture
def realtime():
    """Make started RealtimeSchedules (dt 10 ms by default); stop them all at the end."""
    made = []

    def make(max_steps=0, **plant_args):
        plant_args.setdefault('dt', DT)
        plant_args.setdefault('sensor_noise_std', 0.0)
        rec = Recorder()
        schedule = RealtimeSchedule(Plant(**plant_args), rec, max_steps=max_steps)
        rec.plant = schedule.plant
        made.append(schedule)
        schedule.start()
        return schedule, rec

    yield make
    for schedule in made:
        schedule.stop()


def test_realtime_publishes_every_tick_on_its_instant(realtime):
    schedule, rec = realtime()
    time.sleep(0.3)
    schedule.stop()
    samples, t0 = list(rec.published), schedule.ticker.t0
    assert 15 <= len(samples) <= 45
    if not any(missed >= MAX_PUBLISHED_BACKLOG for missed in rec.lates):
        assert [s.index for s in samples] == list(range(len(samples)))
    assert all(s.t == s.index * DT for s in samples)
    # Never published before its instant t0 + index * dt, and mostly right on it.
    lateness = sorted(at - (t0 + s.index * DT) for s, at in zip(samples, rec.times))
    assert lateness[0] > -1e-3
    assert lateness[len(lateness) // 2] < 0.005
    assert rec.episodes == [0] and not rec.halts and rec.finishes == 0


def test_realtime_reset_lands_on_the_next_tick(realtime):
    schedule, rec = realtime()
    schedule.control(5.0)
    time.sleep(0.1)
    schedule.reset((0.1, 0.0, 0.0, 0.0, 0.0, 0.0))
    requested = time.monotonic()
    assert wait_for(lambda: len(rec.episodes) == 2)
    time.sleep(0.05)
    schedule.stop()
    start = rec.episodes[1]
    pos = next(i for i, s in enumerate(rec.published) if s.index == start)
    sample, at = rec.published[pos], rec.times[pos]
    assert (sample.t, sample.force) == (0.0, 0.0)
    assert sample.true == (0.1, 0.0, 0.0, 0.0, 0.0, 0.0)
    # The tick before still published the old episode, before the request returned ...
    assert rec.published[pos - 1].index == start - 1 and rec.published[pos - 1].t > 0.0
    assert rec.times[pos - 1] < requested
    # ... and the reset sample came at its own instant on the grid, not at the request.
    due = schedule.ticker.t0 + start * DT
    assert due - 1e-3 < at < due + 0.05
    after = rec.published[pos + 1:]
    assert after and all(s.t == (s.index - start) * DT and s.force == 0.0 for s in after)


def test_realtime_control_acts_from_its_arrival_in_the_next_sample(realtime):
    schedule, rec = realtime(control_timeout=0.0)
    u = 10.0
    for _ in range(20):
        rec.got_sample.clear()
        assert rec.got_sample.wait(1.0)
        with schedule.lock:
            prev = schedule.last_sample
            period_start = schedule.ticker.t0 + prev.index * DT
            early = time.monotonic() - period_start
            if early < DT / 2:
                schedule.control(u)
                late = time.monotonic() - period_start
                break
    else:
        pytest.fail('could not send a control in the first half of a period')
    assert wait_for(lambda: rec.published[-1].index >= prev.index + 2)
    schedule.stop()
    by_index = {s.index: s for s in rec.published}
    nxt, then = by_index[prev.index + 1], by_index[prev.index + 2]

    def by_hand(at):
        plant = Plant(dt=DT, sensor_noise_std=0.0, control_timeout=0.0,
                      initial_state=prev.true)
        plant.set_control(u, at)
        plant.step()
        return plant.state

    lo, hi = by_hand(early), by_hand(late)
    for got, a, b in zip(nxt.true, lo, hi):
        assert min(a, b) - 1e-9 <= got <= max(a, b) + 1e-9
    assert nxt.force == u and prev.force == 0.0
    assert nxt.true[3] - by_hand(DT)[3] > 1e-3                 # pushed, not unforced
    held = Plant(dt=DT, sensor_noise_std=0.0, control_timeout=0.0, initial_state=nxt.true)
    held.set_control(u)
    held.step()
    assert then.true == held.state and then.force == u


def test_realtime_max_steps_stops_after_exactly_max_steps(realtime):
    schedule, rec = realtime(max_steps=20)
    assert schedule.finished.wait(2.0)
    count = len(rec.published)
    time.sleep(0.1)
    assert len(rec.published) == count == 21                 # sample 0 and 20 steps
    assert [s.index for s in rec.published] == list(range(21))
    assert schedule.plant.total_steps == 20 and rec.finishes == 1
    assert wait_for(lambda: not schedule.ticker._thread.is_alive(), 1.0)


@pytest.mark.parametrize('dt', [DT, 0.5])
def test_realtime_stop_is_prompt_and_final(realtime, dt):
    schedule, rec = realtime(dt=dt)
    time.sleep(0.1)
    start = time.monotonic()
    schedule.stop()
    assert time.monotonic() - start < 0.25
    assert not schedule.ticker.running
    count = len(rec.published)
    time.sleep(max(0.1, 1.2 * dt - 0.1))                   # past the next tick
    assert len(rec.published) == count


def test_realtime_late_tick_integrates_all_publishes_the_last_few(realtime):
    schedule, rec = realtime()

    def stall(sample):
        if sample.index == 10:
            time.sleep(0.2)                                 # about twenty periods

    rec.on_publish = stall
    assert wait_for(lambda: len(rec.published) > 13, 2.0)
    schedule.stop()
    indices = [s.index for s in rec.published]
    pos = indices.index(10)
    burst = indices[pos + 1:pos + 1 + MAX_PUBLISHED_BACKLOG]
    assert burst == list(range(burst[0], burst[0] + MAX_PUBLISHED_BACKLOG))
    assert burst[0] >= 10 + 1 + 5                           # older due periods: not published
    assert burst[-1] - 10 - 1 in rec.lates                  # missed periods, reported
    assert all(s.t == s.index * DT for s in rec.published)  # all integrated: wall time kept


def test_realtime_failsafe_trips_once_then_control_ends_it(realtime):
    schedule, rec = realtime(control_timeout=0.05)
    time.sleep(0.3)
    assert rec.failsafes == [(True, False)]                 # once, nobody driving yet
    assert 0.05 <= rec.failsafe_times[0] <= 0.06 + 1e-9
    with schedule.lock:
        controlled_at = schedule.plant.time
        schedule.control(1.0)
    assert rec.failsafes == [(True, False), (False, True)]
    assert wait_for(lambda: len(rec.failsafes) == 3, 1.0)
    time.sleep(0.1)
    assert rec.failsafes == [(True, False), (False, True), (True, True)]
    assert 0.05 <= rec.failsafe_times[2] - controlled_at <= 0.07 + 1e-9


# -- the plant's log ---------------------------------------------------------------------
class FakeLog:
    """A logger that records (level, text)."""

    def __init__(self):
        self.lines = []
        for level in ('debug', 'info', 'warning', 'error'):
            setattr(self, level, lambda text, level=level: self.lines.append((level, text)))

    def levels(self):
        return [level for level, _ in self.lines]


def test_plant_log_failsafe_once_per_episode_info_then_warning():
    log = FakeLog()
    listener = PlantLog(log, Plant(control_timeout=0.05))
    listener.on_episode(0)
    listener.on_failsafe(True, False)
    assert log.levels() == ['info'] and 'fail-safe' in log.lines[0][1]
    listener.on_failsafe(False, True)
    listener.on_failsafe(True, True)                        # second trip: not logged
    listener.on_failsafe(False, True)
    listener.on_failsafe(True, True)
    assert log.levels() == ['info', 'info']
    assert 'control received again' in log.lines[1][1]
    listener.on_episode(40)
    assert log.lines[-1] == ('info', 'fail-safe tripped 3 times in that episode')
    listener.on_failsafe(True, True)
    assert log.lines[-1][0] == 'warning' and '0.05 s' in log.lines[-1][1]
    listener.on_episode(80)                                 # one trip: no count
    assert len(log.lines) == 4


def test_plant_log_late_ticks_debug_then_warning_at_most_every_10_s(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(plant_log, 'time', SimpleNamespace(monotonic=lambda: now[0]))
    log = FakeLog()
    listener = PlantLog(log, Plant())
    listener.on_late(2, 1, False)
    assert log.levels() == ['debug']
    for at in (1001.0, 1005.0, 1009.9):
        now[0] = at
        listener.on_late(1, 2, True)
    assert log.levels() == ['debug']
    now[0] = 1010.5
    listener.on_late(4, 5, True)
    assert log.levels() == ['debug', 'warning']
    text = log.lines[-1][1]
    assert text.startswith('4 late tick(s)') and '4 period(s) late' in text
    now[0] = 1015.0
    listener.on_late(1, 6, True)
    assert len(log.lines) == 2


def test_realtime_refresh_recomputes_the_sample_ahead_after_a_setting_changes(realtime):
    # dt 0.2 s: the change lands well inside the period whose sample was computed ahead.
    schedule, rec = realtime(dt=0.2, control_timeout=0.0)
    schedule.control(15.0)
    assert wait_for(lambda: len(rec.published) >= 2)
    with schedule.lock:
        schedule.plant.set_max_force(5.0)
        schedule.refresh()
        committed_from = schedule.plant.state
    n = len(rec.published)
    assert wait_for(lambda: len(rec.published) > n, timeout=2.0)
    sample = rec.published[n]
    assert sample.force == 5.0
    # What was published is what the plant then committed: no jump in the stream.
    assert wait_for(lambda: schedule.plant.steps >= sample.index)
    expected = schedule.plant.dynamics.step(committed_from, 5.0, 0.2)
    assert sample.true == pytest.approx(expected, abs=1e-12)
