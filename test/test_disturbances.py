"""External disturbances: exact integrals, held samples, noise statistics, config."""

import dataclasses
import math
import random

from plant_server_ros.conditions.disturbances import Disturbance, DisturbanceSchedule
import pytest

DT = 0.01
SLOT = {'force': 0, 'tau1': 1, 'tau2': 2}


def run(schedule, periods, dt=DT):
    """Return the per-period outputs of ``schedule`` over ``periods`` periods."""
    return [schedule.period(k * dt) for k in range(periods)]


def check_shape(pieces, dt=DT):
    """Assert one period's pieces are well formed."""
    assert pieces[0][0] == 0.0
    offsets = [p[0] for p in pieces]
    assert offsets == sorted(set(offsets))
    assert 0.0 <= offsets[-1] < dt
    for _, values in pieces:
        assert isinstance(values, tuple) and len(values) == 3


def integral(outputs, dt=DT):
    """Return the time integral of (F, tau1, tau2) over the periods' pieces."""
    total = [0.0, 0.0, 0.0]
    for pieces in outputs:
        check_shape(pieces, dt)
        ends = [p[0] for p in pieces[1:]] + [dt]
        for (offset, values), end in zip(pieces, ends):
            for i in range(3):
                total[i] += values[i] * (end - offset)
    return total


def held(outputs, slot):
    """Return the value at the start of each period on ``slot``."""
    return [pieces[0][1][slot] for pieces in outputs]


def mean_std_lag1(xs):
    """Return mean, std and lag-1 autocorrelation of ``xs``."""
    n = len(xs)
    mean = sum(xs) / n
    dev = [x - mean for x in xs]
    var = sum(d * d for d in dev) / n
    cov = sum(a * b for a, b in zip(dev, dev[1:])) / (n - 1)
    return mean, math.sqrt(var), cov / var


def test_empty_schedule():
    schedule = DisturbanceSchedule([], DT, random.Random(0))
    assert schedule.empty
    assert schedule.period(0.0) == [(0.0, (0.0, 0.0, 0.0))]
    assert schedule.period(12.34) == [(0.0, (0.0, 0.0, 0.0))]
    assert DisturbanceSchedule([], DT, None).empty


@pytest.mark.parametrize('channel', ['force', 'tau1', 'tau2'])
@pytest.mark.parametrize('start, duration', [(0.2537, 0.0731), (0.5, 0.1), (0.0, 0.0042),
                                             (1.2341, 0.0011), (0.3, 0.05), (0.07, 0.01)])
def test_pulse_integral_is_exact(channel, start, duration):
    pulse = Disturbance('pulse', channel, amplitude=20.0, start=start, duration=duration)
    schedule = DisturbanceSchedule([pulse], DT, None)
    total = integral(run(schedule, 200))
    for name, slot in SLOT.items():
        expected = 20.0 * duration if name == channel else 0.0
        assert abs(total[slot] - expected) < 1e-12


def test_pulse_edge_inside_a_period_cuts_it():
    pulse = Disturbance('pulse', 'force', amplitude=5.0, start=0.0237, duration=0.002)
    schedule = DisturbanceSchedule([pulse], DT, None)
    pieces = run(schedule, 4)
    assert pieces[0] == [(0.0, (0.0, 0.0, 0.0))]
    assert pieces[1] == [(0.0, (0.0, 0.0, 0.0))]
    (o0, v0), (o1, v1), (o2, v2) = pieces[2]
    assert o0 == 0.0 and v0 == (0.0, 0.0, 0.0)
    assert o1 == pytest.approx(0.0037, abs=1e-15) and v1 == (5.0, 0.0, 0.0)
    assert o2 == pytest.approx(0.0057, abs=1e-15) and v2 == (0.0, 0.0, 0.0)
    assert pieces[3] == [(0.0, (0.0, 0.0, 0.0))]


def test_pulse_cut_short_by_end():
    pulse = Disturbance('pulse', 'tau1', amplitude=2.0, start=0.1, duration=0.5, end=0.1234)
    total = integral(run(DisturbanceSchedule([pulse], DT, None), 100))
    assert abs(total[1] - 2.0 * 0.0234) < 1e-12


@pytest.mark.parametrize('start, end', [(0.0, 0.5), (0.0123, 0.4567), (0.3, 0.31),
                                        (0.1001, 0.1002), (0.25, 0.25)])
def test_step_integral(start, end):
    step = Disturbance('step', 'tau2', amplitude=-3.5, start=start, end=end)
    total = integral(run(DisturbanceSchedule([step], DT, None), 100))
    assert abs(total[2] - (-3.5) * (end - start)) < 1e-12
    assert total[0] == 0.0 and total[1] == 0.0


def test_step_without_end_lasts_forever():
    step = Disturbance('step', 'force', amplitude=1.5, start=0.0555)
    schedule = DisturbanceSchedule([step], DT, None)
    outputs = run(schedule, 1000)
    assert abs(integral(outputs)[0] - 1.5 * (1000 * DT - 0.0555)) < 1e-11
    assert outputs[-1] == [(0.0, (1.5, 0.0, 0.0))]


@pytest.mark.parametrize('start, end', [(0.0, None), (0.25, 1.5), (0.1234, 2.0)])
def test_sine_held_per_period(start, end):
    amp, freq, phase = 2.5, 1.7, 0.4
    sine = Disturbance('sine', 'force', amplitude=amp, start=start, end=end, frequency=freq,
                       phase=phase)
    outputs = run(DisturbanceSchedule([sine], DT, None), 300)
    for k, pieces in enumerate(outputs):
        t0 = k * DT
        active = start <= t0 and (end is None or t0 < end)
        expected = amp * math.sin(2 * math.pi * freq * (t0 - start) + phase) if active else 0.0
        assert abs(pieces[0][1][0] - expected) < 1e-12
        if active and (end is None or end >= t0 + DT):
            assert len(pieces) == 1       # held over the whole period
    if start == 0.1234:
        # Begins mid-period at its own phase, then is sampled at period starts.
        (o0, v0), (o1, v1) = outputs[12]
        assert v0 == (0.0, 0.0, 0.0)
        assert o1 == pytest.approx(0.0034, abs=1e-15)
        assert v1[0] == pytest.approx(amp * math.sin(phase), abs=1e-12)


def test_white_noise_statistics():
    noise = Disturbance('noise', 'tau1', std=0.8)
    outputs = run(DisturbanceSchedule([noise], DT, random.Random(11)), 20000)
    assert all(len(p) == 1 for p in outputs)
    mean, std, rho = mean_std_lag1(held(outputs, 1))
    assert abs(mean) < 0.03
    assert std == pytest.approx(0.8, rel=0.03)
    assert abs(rho) < 0.03


@pytest.mark.parametrize('bandwidth', [2.0, 10.0])
def test_band_limited_noise_statistics(bandwidth):
    noise = Disturbance('noise', 'force', std=1.5, bandwidth=bandwidth)
    outputs = run(DisturbanceSchedule([noise], DT, random.Random(5)), 20000)
    a = math.exp(-2 * math.pi * bandwidth * DT)
    # Skip the start-up from 0 (the filter's state after reset).
    mean, std, rho = mean_std_lag1(held(outputs, 0)[500:])
    assert abs(mean) < 0.1
    assert std == pytest.approx(1.5, rel=0.06)
    assert rho == pytest.approx(a, abs=0.02)


def test_noise_reproducible_and_reset():
    shapes = [Disturbance('noise', 'force', std=1.0),
              Disturbance('noise', 'tau2', std=0.3, bandwidth=3.0, start=0.05)]
    first = run(DisturbanceSchedule(shapes, DT, random.Random(42)), 200)
    second = run(DisturbanceSchedule(shapes, DT, random.Random(42)), 200)
    assert first == second
    other = run(DisturbanceSchedule(shapes, DT, random.Random(43)), 200)
    assert first != other
    # reset: the filter restarts from 0, so with the generator reseeded it replays.
    rng = random.Random(42)
    schedule = DisturbanceSchedule(shapes, DT, rng)
    run(schedule, 200)
    schedule.reset()
    rng.seed(42)
    assert run(schedule, 200) == first


def test_noise_acts_only_in_its_window():
    noise = Disturbance('noise', 'tau1', std=1.0, start=0.1, end=0.2)
    outputs = run(DisturbanceSchedule([noise], DT, random.Random(0)), 40)
    values = held(outputs, 1)
    assert values[:10] == [0.0] * 10 and values[20:] == [0.0] * 20
    assert all(v != 0.0 for v in values[10:20])


def test_overlapping_shapes_add_and_channels_map():
    shapes = [Disturbance('step', 'force', amplitude=1.0, start=0.0, end=1.0),
              Disturbance('step', 'force', amplitude=2.5, start=0.5),
              Disturbance('pulse', 'tau1', amplitude=-4.0, start=0.6, duration=0.1),
              Disturbance('sine', 'tau2', amplitude=1.0, frequency=0.0, phase=math.pi / 2),
              Disturbance('step', 'tau2', amplitude=0.25, start=0.2)]
    outputs = run(DisturbanceSchedule(shapes, DT, None), 120)
    assert outputs[10] == [(0.0, (1.0, 0.0, 1.0))]
    assert outputs[30] == [(0.0, (1.0, 0.0, 1.25))]
    assert outputs[55] == [(0.0, (3.5, 0.0, 1.25))]
    assert outputs[65] == [(0.0, (3.5, -4.0, 1.25))]
    assert outputs[110] == [(0.0, (2.5, 0.0, 1.25))]
    total = integral(outputs)
    assert total[0] == pytest.approx(1.0 * 1.0 + 2.5 * 0.7, abs=1e-12)
    assert total[1] == pytest.approx(-4.0 * 0.1, abs=1e-12)
    assert total[2] == pytest.approx(1.2 + 0.25 * 1.0, abs=1e-12)


def test_overlapping_edges_in_one_period():
    shapes = [Disturbance('pulse', 'force', amplitude=1.0, start=0.0512, duration=0.003),
              Disturbance('pulse', 'force', amplitude=2.0, start=0.0531, duration=0.003),
              Disturbance('step', 'tau1', amplitude=7.0, start=0.0531)]
    pieces = DisturbanceSchedule(shapes, DT, None).period(0.05)
    check_shape(pieces)
    offsets = [round(o, 10) for o, _ in pieces]
    assert offsets == [0.0, 0.0012, 0.0031, 0.0042, 0.0061]
    assert [v for _, v in pieces] == [(0.0, 0.0, 0.0), (1.0, 0.0, 0.0), (3.0, 7.0, 0.0),
                                      (2.0, 7.0, 0.0), (0.0, 7.0, 0.0)]


def test_from_dict_round_trip():
    examples = [
        {'kind': 'pulse', 'channel': 'force', 'amplitude': 20, 'start': 2.0, 'duration': 0.1},
        {'kind': 'step', 'channel': 'tau1', 'amplitude': -1.5, 'start': 1, 'end': 3},
        {'kind': 'sine', 'channel': 'tau2', 'amplitude': 0.2, 'frequency': 1.5, 'phase': 0.3},
        {'kind': 'noise', 'channel': 'force', 'std': 0.5, 'bandwidth': 4.0, 'end': 10.0},
        {'kind': 'noise', 'channel': 'tau1', 'std': 0.1},
    ]
    for d in examples:
        dist = Disturbance.from_dict(d)
        assert dist.to_dict() == d
        assert Disturbance.from_dict(dist.to_dict()) == dist
        assert Disturbance.from_dict(dataclasses.asdict(dist)) == dist
        assert isinstance(dist.amplitude, float) and isinstance(dist.start, float)
    schedule = DisturbanceSchedule(examples, DT, random.Random(0))
    assert schedule.disturbances == tuple(Disturbance.from_dict(d) for d in examples)


@pytest.mark.parametrize('d, name', [
    ({'kind': 'kick', 'channel': 'force'}, 'kind'),
    ({'kind': 'step', 'channel': 'torque'}, 'channel'),
    ({'channel': 'force'}, 'kind'),
    ({'kind': 'step'}, 'channel'),
    ({'kind': 'step', 'channel': 'force', 'amplitud': 1.0}, 'amplitud'),
    ({'kind': 'step', 'channel': 'force', 'amplitude': 'big'}, 'amplitude'),
    ({'kind': 'step', 'channel': 'force', 'amplitude': math.nan}, 'amplitude'),
    ({'kind': 'step', 'channel': 'force', 'amplitude': True}, 'amplitude'),
    ({'kind': 'step', 'channel': 'force', 'start': -1.0}, 'start'),
    ({'kind': 'step', 'channel': 'force', 'start': 2.0, 'end': 1.0}, 'end'),
    ({'kind': 'step', 'channel': 'force', 'end': math.inf}, 'end'),
    ({'kind': 'pulse', 'channel': 'force', 'amplitude': 1.0}, 'duration'),
    ({'kind': 'pulse', 'channel': 'force', 'duration': -0.1}, 'duration'),
    ({'kind': 'sine', 'channel': 'force', 'frequency': -1.0}, 'frequency'),
    ({'kind': 'noise', 'channel': 'force', 'std': -1.0}, 'std'),
    ({'kind': 'noise', 'channel': 'force', 'std': 1.0, 'bandwidth': 0.0}, 'bandwidth'),
    ({'kind': 'step', 'channel': 'force', 'frequency': 2.0}, 'frequency'),
    ({'kind': 'noise', 'channel': 'force', 'amplitude': 2.0}, 'amplitude'),
    ({'kind': 'sine', 'channel': 'force', 'duration': 0.1}, 'duration'),
])
def test_nonsense_refused_naming_the_field(d, name):
    with pytest.raises(ValueError, match=name):
        Disturbance.from_dict(d)


def test_schedule_refusals():
    with pytest.raises(ValueError, match='dt'):
        DisturbanceSchedule([], 0.0, None)
    with pytest.raises(ValueError, match='rng'):
        DisturbanceSchedule([Disturbance('noise', 'force', std=1.0)], DT, None)
    with pytest.raises(ValueError, match='mapping'):
        Disturbance.from_dict(['step', 'force'])


def test_pulse_integral_exact_for_random_times():
    rng = random.Random(7)
    for _ in range(300):
        dt = rng.choice([0.01, 0.001, 0.0033])
        start = rng.choice([rng.uniform(0.0, 0.5), rng.randint(0, 50) * dt])
        duration = rng.choice([rng.uniform(1e-5, 0.2), rng.randint(1, 20) * dt])
        pulse = Disturbance('pulse', 'force', amplitude=17.0, start=start, duration=duration)
        outputs = run(DisturbanceSchedule([pulse], dt, None), int((start + duration) / dt) + 3,
                      dt)
        assert abs(integral(outputs, dt)[0] - 17.0 * duration) < 1e-12


@pytest.mark.parametrize('field, value', [('frequency', 1e300), ('amplitude', 1e300),
                                          ('std', 1e7), ('start', 1e300)])
def test_values_beyond_the_bounds_are_refused_by_name(field, value):
    kind = 'noise' if field == 'std' else 'sine'
    spec = {'kind': kind, 'channel': 'force', field: value}
    with pytest.raises(ValueError, match=f'{field} must be within'):
        Disturbance.from_dict(spec)
