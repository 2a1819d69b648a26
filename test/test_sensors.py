"""The sensor model: every stage against its definition, draws reproducible (no ROS)."""

import math
import random
import re
import statistics
import timeit

from plant_server_ros.conditions.sensors import CHANNELS, ChannelSpec, SensorModel
import pytest

DT = 0.01
STATE = (0.1, 0.05, -0.03, 0.2, -0.4, 0.7)
EVERYTHING = ChannelSpec(noise_std=0.01, bias=0.002, drift_std=0.05, quantum=0.001,
                         dropout=0.1, stuck_from=0.5)


def trajectory(n, seed=1):
    """Return ``n`` plausible true states (a smooth swing plus some jitter)."""
    rng = random.Random(seed)
    return [tuple(a * math.sin(0.03 * k + a) + rng.uniform(-1e-3, 1e-3)
                  for a in (0.5, 0.2, -0.3, 1.0, 2.0, -3.0)) for k in range(n)]


def run(model, states, t0=0):
    """Measure ``states`` at sample times ``(t0 + n) * DT``; the outputs as a list."""
    return [model.measure(s, (t0 + n) * DT) for n, s in enumerate(states)]


def column(outputs, i):
    return [o[i] for o in outputs]


# -- today's behaviour, bit for bit ------------------------------------------
@pytest.mark.parametrize('std', [0.01, 0.3, 1e-6])
def test_simple_is_bit_identical_to_todays_expression(std):
    model = SensorModel.simple(DT, std, random.Random(42))
    rng = random.Random(42)
    for n, state in enumerate(trajectory(5000)):
        expected = tuple(s + rng.gauss(0.0, std) for s in state)
        assert model.measure(state, n * DT) == expected
    assert model._rng.getstate() == rng.getstate()


def test_the_inline_draws_are_gauss_even_with_a_draw_pending():
    # The fast path inlines random.Random.gauss in pairs; a pending half-pair
    # (gauss_next) takes gauss itself: either way the very same numbers.
    model = SensorModel.simple(DT, 0.02, random.Random(9))
    rng = random.Random(9)
    for n, state in enumerate(trajectory(300)):
        if n % 7 == 3:                       # someone else drew one: a draw pending
            assert model._rng.gauss(0.0, 1.0) == rng.gauss(0.0, 1.0)
        assert model.measure(state, n * DT) == tuple(s + rng.gauss(0.0, 0.02) for s in state)
    assert model._rng.getstate() == rng.getstate()


def test_simple_with_zero_std_returns_the_state_itself_and_draws_nothing():
    rng = random.Random(3)
    before = rng.getstate()
    model = SensorModel.simple(DT, 0.0, rng)
    assert model.ideal
    for state in trajectory(100):
        assert model.measure(state, 0.0) is state
    assert rng.getstate() == before


def test_general_path_gives_the_fast_paths_numbers():
    specs = [ChannelSpec(noise_std=0.01 * (i + 1)) for i in range(6)]
    fast = SensorModel(DT, specs, random.Random(5))
    slow = SensorModel(DT, specs, random.Random(5))
    for n, state in enumerate(trajectory(500)):
        assert fast.measure(state, n * DT) == SensorModel.measure(slow, state, n * DT)
    ideal = SensorModel(DT, ChannelSpec(), random.Random(5))
    assert SensorModel.measure(ideal, STATE, 0.0) == ideal.measure(STATE, 0.0) == STATE


def test_ideal_only_when_nothing_is_on():
    rng = random.Random(0)
    assert SensorModel(DT, ChannelSpec(), rng).ideal
    assert SensorModel(DT, [ChannelSpec()] * 6, rng).ideal
    assert not SensorModel(DT, ChannelSpec(), rng, delay=1).ideal
    assert not SensorModel(DT, ChannelSpec(), rng, velocities='derived').ideal
    for field in ('noise_std', 'bias', 'drift_std', 'quantum', 'dropout', 'stuck_from'):
        specs = [ChannelSpec()] * 6
        specs[4] = ChannelSpec(**{field: 0.5})
        assert not SensorModel(DT, specs, rng).ideal, field


# -- each stage --------------------------------------------------------------
def test_noise_mean_zero_and_std_sigma():
    n = 20000
    sigmas = (0.01, 0.002, 0.5, 0.0, 1.0, 3.0)
    model = SensorModel(DT, [ChannelSpec(noise_std=s) for s in sigmas], random.Random(11))
    errors = [[m - s for m, s in zip(model.measure(STATE, k * DT), STATE)] for k in range(n)]
    for i, sigma in enumerate(sigmas):
        e = column(errors, i)
        if sigma == 0.0:
            assert e == [0.0] * n
            continue
        # 4.5 standard errors: a false alarm about once in 150000 runs per check.
        assert abs(statistics.fmean(e)) < 4.5 * sigma / math.sqrt(n), CHANNELS[i]
        assert abs(statistics.pstdev(e) / sigma - 1.0) < 4.5 / math.sqrt(2 * n), CHANNELS[i]


def test_bias_shifts_exactly():
    biases = (0.1, -0.02, 0.0, 1.5, -3.0, 0.25)
    model = SensorModel(DT, [ChannelSpec(bias=b) for b in biases], random.Random(1))
    for state in trajectory(200):
        assert model.measure(state, 0.0) == tuple(s + b for s, b in zip(state, biases))
    # With noise: the same draws, so the mean moves by the bias (to rounding).
    noisy = [SensorModel(DT, [ChannelSpec(noise_std=0.05, bias=b * k) for b in biases],
                         random.Random(2)) for k in (0, 1)]
    outs = [[m.measure(STATE, 0.0) for _ in range(5000)] for m in noisy]
    for i, b in enumerate(biases):
        shift = statistics.fmean(column(outs[1], i)) - statistics.fmean(column(outs[0], i))
        assert shift == pytest.approx(b, abs=1e-12)


def test_drift_spread_grows_with_sqrt_time_and_starts_at_zero():
    drift_std, samples, seeds = 0.5, 100, 2000
    spec = ChannelSpec(drift_std=drift_std)
    quarter, full = [], []
    for seed in range(seeds):
        model = SensorModel(DT, spec, random.Random(seed))
        assert model.drift == (0.0,) * 6
        for k in range(samples):
            out = model.measure(STATE, k * DT)
            assert out == tuple(s + d for s, d in zip(STATE, model.drift))
            if k == samples // 4 - 1:
                quarter.extend(model.drift)
        full.extend(model.drift)
        model.reset()
        assert model.drift == (0.0,) * 6
    tolerance = 4.5 / math.sqrt(2 * len(full))
    expected = drift_std * math.sqrt(samples * DT)
    assert abs(statistics.fmean(full)) < 4.5 * expected / math.sqrt(len(full))
    assert abs(statistics.pstdev(full, 0.0) / expected - 1.0) < tolerance
    assert abs(statistics.pstdev(quarter, 0.0) / (expected / 2) - 1.0) < tolerance


@pytest.mark.parametrize('quantum', [0.001, 2 * math.pi / 4096, 0.25])
def test_quantisation_gives_multiples_within_half_a_step(quantum):
    model = SensorModel(DT, ChannelSpec(quantum=quantum), random.Random(0))
    for state in trajectory(3000):
        for m, s in zip(model.measure(state, 0.0), state):
            k = round(m / quantum)
            assert m == k * quantum
            assert abs(m - s) <= quantum / 2 + 1e-12
    noisy = SensorModel(DT, ChannelSpec(noise_std=0.1, quantum=quantum), random.Random(0))
    for state in trajectory(1000):
        assert all(m == round(m / quantum) * quantum for m in noisy.measure(state, 0.0))


def test_dropout_holds_the_previous_output_with_probability_p():
    p, n = 0.3, 20000
    model = SensorModel(DT, ChannelSpec(dropout=p), random.Random(8))
    # A true value that changes every sample: a fresh sample equals it.
    states = [(k * 1e-3,) * 6 for k in range(1, n + 1)]
    outs = run(model, states)
    assert outs[0] == states[0]
    for i in range(6):
        held = 0
        for k in range(1, n):
            if outs[k][i] != states[k][i]:
                held += 1
                assert outs[k][i] == outs[k - 1][i]
        assert abs(held / (n - 1) - p) < 4.5 * math.sqrt(p * (1 - p) / n), CHANNELS[i]


def test_dropout_never_drops_the_first_sample_of_an_episode():
    model = SensorModel(DT, ChannelSpec(noise_std=0.1, dropout=1.0), random.Random(4))
    firsts = []
    for _ in range(20):
        outs = run(model, [STATE] * 10)
        assert outs[0] != STATE and all(o == outs[0] for o in outs)
        firsts.append(outs[0])
        model.reset()
    assert len(set(firsts)) == 20      # each episode starts with a fresh sample


def test_stuck_holds_the_last_output_from_stuck_from_on():
    specs = [ChannelSpec(noise_std=0.1)] * 6
    specs[1] = ChannelSpec(noise_std=0.1, drift_std=0.2, stuck_from=0.5)
    specs[4] = ChannelSpec(noise_std=0.1, stuck_from=0.0)
    model = SensorModel(DT, specs, random.Random(6))
    outs = run(model, trajectory(200))
    theta1 = column(outs, 1)
    assert len(set(theta1[:50])) == 50
    assert theta1[50:] == [theta1[49]] * 150
    assert column(outs, 4) == [outs[0][4]] * 200
    for i in (0, 2, 3, 5):
        assert len(set(column(outs, i))) == 200


def test_stuck_from_on_the_grid_is_hit_despite_rounding():
    model = SensorModel(0.1, ChannelSpec(noise_std=0.1, stuck_from=1.0), random.Random(6))
    t, outs = 0.0, []
    for _ in range(15):
        outs.append(model.measure(STATE, t))
        t += 0.1                     # ten of them make 0.9999999999999999
    assert outs[10:] == [outs[9]] * 5 and outs[9] != outs[8]


@pytest.mark.parametrize('delay', [1, 3, 7])
def test_delay_returns_the_measurement_of_k_samples_ago(delay):
    states = trajectory(300)
    delayed = SensorModel(DT, EVERYTHING, random.Random(9), delay=delay)
    undelayed = SensorModel(DT, EVERYTHING, random.Random(9))
    for _ in range(2):                   # and again after a reset
        outs, ref = run(delayed, states), run(undelayed, states)
        assert outs == [ref[max(n - delay, 0)] for n in range(len(states))]
        delayed.reset()
        undelayed.reset()


def test_derived_velocities_are_finite_differences_of_the_measured_positions():
    positions = ChannelSpec(noise_std=0.002, bias=0.01, drift_std=0.01, quantum=0.001,
                            dropout=0.2, stuck_from=2.0)
    derived = SensorModel(DT, positions, random.Random(12), velocities='derived')
    specs = [positions] * 3 + [ChannelSpec()] * 3
    measured = SensorModel(DT, specs, random.Random(12))
    states = trajectory(300)
    for _ in range(2):                   # and again after a reset
        outs, ref = run(derived, states), run(measured, states)
        assert outs[0][3:] == (0.0, 0.0, 0.0)
        for n in range(1, len(outs)):
            assert outs[n][:3] == ref[n][:3]
            assert outs[n][3:] == tuple((outs[n][i] - outs[n - 1][i]) / DT for i in range(3))
        assert outs[-1][3:] == (0.0, 0.0, 0.0)    # positions stuck from 2 s on
        derived.reset()
        measured.reset()


def test_derived_then_delayed():
    states = trajectory(100)
    outs = run(SensorModel(DT, EVERYTHING, random.Random(1), 2, 'derived'), states)
    ref = run(SensorModel(DT, EVERYTHING, random.Random(1), 0, 'derived'), states)
    assert outs == [ref[max(n - 2, 0)] for n in range(len(states))]


def test_derived_refuses_velocity_specs_given_one_by_one():
    specs = [ChannelSpec()] * 6
    specs[4] = ChannelSpec(noise_std=0.01)
    with pytest.raises(ValueError, match='theta1_dot'):
        SensorModel(DT, specs, random.Random(0), velocities='derived')
    # One spec for all six: it applies to the positions only.
    model = SensorModel(DT, specs[4], random.Random(0), velocities='derived')
    assert model.channels[3:] == (ChannelSpec(),) * 3


# -- episodes, seeds, refusals -----------------------------------------------
@pytest.mark.parametrize('velocities', ['measured', 'derived'])
def test_reset_empties_everything(velocities):
    states = trajectory(120)
    used = SensorModel(DT, EVERYTHING, random.Random(13), 3, velocities)
    run(used, states)
    assert used.drift != (0.0,) * 6
    used.reset()
    assert used.drift == (0.0,) * 6
    fresh_rng = random.Random()
    fresh_rng.setstate(used._rng.getstate())
    fresh = SensorModel(DT, EVERYTHING, fresh_rng, 3, velocities)
    assert run(used, states) == run(fresh, states)


def test_same_seed_same_sequence_other_seed_other_sequence():
    states = trajectory(500)
    a, b, c = (SensorModel(DT, EVERYTHING, random.Random(s), 2) for s in (21, 21, 22))
    outs = run(a, states)
    assert outs == run(b, states)
    assert outs != run(c, states)


def test_draws_only_for_features_that_are_on_in_the_documented_order():
    specs = [ChannelSpec(), ChannelSpec(noise_std=0.1, dropout=0.5), ChannelSpec(),
             ChannelSpec(drift_std=0.3, noise_std=0.2), ChannelSpec(bias=1.0, quantum=0.5),
             ChannelSpec(dropout=0.5)]
    model = SensorModel(DT, specs, random.Random(30))
    rng = random.Random(30)
    drift = 0.0
    prev = None
    for n, state in enumerate(trajectory(50)):
        out = model.measure(state, n * DT)
        v1 = state[1] + rng.gauss(0.0, 0.1)
        if rng.random() < 0.5 and prev is not None:
            v1 = prev[1]
        drift += rng.gauss(0.0, 0.3 * math.sqrt(DT))
        v3 = state[3] + drift + rng.gauss(0.0, 0.2)
        v5 = prev[5] if rng.random() < 0.5 and prev is not None else state[5]
        v4 = round((state[4] + 1.0) / 0.5) * 0.5
        assert out == (state[0], v1, state[2], v3, v4, v5)
        prev = out
    assert model._rng.getstate() == rng.getstate()


@pytest.mark.parametrize('field, value', [
    ('noise_std', -0.1), ('noise_std', math.nan), ('bias', math.inf), ('drift_std', -1e-9),
    ('quantum', -0.001), ('quantum', math.inf), ('dropout', 1.5), ('dropout', -0.1),
    ('dropout', math.nan), ('stuck_from', -1.0), ('stuck_from', math.inf), ('bias', 'abc'),
    ('noise_std', None),
])
def test_channel_spec_refuses_nonsense_naming_the_field(field, value):
    with pytest.raises(ValueError, match=f'ChannelSpec.{field}'):
        ChannelSpec(**{field: value})


def test_channel_spec_stores_floats_and_is_frozen():
    spec = ChannelSpec(noise_std=1, dropout=1, stuck_from=2)
    assert type(spec.noise_std) is float and type(spec.stuck_from) is float
    with pytest.raises(AttributeError):
        spec.bias = 1.0


@pytest.mark.parametrize('kwargs, words', [
    ({'dt': 0.0}, 'dt'), ({'dt': math.nan}, 'dt'),
    ({'channels': [ChannelSpec()] * 5}, 'channels'),
    ({'channels': [ChannelSpec()] * 5 + [0.1]}, 'theta2_dot'),
    ({'delay': -1}, 'delay'), ({'delay': 1.5}, 'delay'), ({'delay': True}, 'delay'),
    ({'velocities': 'estimated'}, 'velocities'),
])
def test_sensor_model_refuses_nonsense(kwargs, words):
    args = {'dt': DT, 'channels': ChannelSpec(), 'rng': random.Random(0), **kwargs}
    with pytest.raises((ValueError, TypeError), match=words):
        SensorModel(**args)


# -- cost (printed, not asserted) ----------------------------------------------
def cost_per_call(model, number=100000):
    """Return the best of five timings of ``measure`` per call, in seconds."""
    t = 0.35
    return min(timeit.repeat(lambda: model.measure(STATE, t), number=number, repeat=5)) / number


def todays_cost_per_call(std=0.01, number=100000):
    """Return the cost of today's expression in ``Plant.measure`` per call, in seconds."""
    gauss = random.Random(0).gauss
    state = STATE

    def todays():
        return tuple(s + gauss(0.0, std) for s in state)
    return min(timeit.repeat(todays, number=number, repeat=5)) / number


if __name__ == '__main__':
    # PYTHONPATH=. python test/test_sensors.py   (from the package root)
    everything = ChannelSpec(noise_std=0.01, bias=0.002, drift_std=0.05, quantum=0.001,
                             dropout=0.1, stuck_from=1e9)
    rows = [
        ("today's expression", todays_cost_per_call()),
        ('simple, std 0 (ideal)', cost_per_call(SensorModel.simple(DT, 0.0, random.Random(0)))),
        ('simple, std 0.01', cost_per_call(SensorModel.simple(DT, 0.01, random.Random(0)))),
        ('everything on, measured', cost_per_call(SensorModel(DT, everything, random.Random(0)))),
        ('everything on, delay 3', cost_per_call(SensorModel(DT, everything, random.Random(0),
                                                             3))),
        ('everything on, derived, delay 3',
         cost_per_call(SensorModel(DT, everything, random.Random(0), 3, 'derived'))),
    ]
    for name, seconds in rows:
        print(f'{name:34s} {seconds * 1e6:6.2f} us per measure()')


@pytest.mark.parametrize('field, value, words', [
    ('quantum', 1e-300, 'quantum must be 0 (none) or >= 1e-09'),
    ('noise_std', 1e300, 'noise_std must be within'),
    ('bias', -1e7, 'bias must be within'),
    ('stuck_from', 1e300, 'stuck_from must be within'),
])
def test_a_channel_beyond_the_bounds_is_refused_by_name(field, value, words):
    with pytest.raises(ValueError, match=re.escape(words)):
        ChannelSpec(**{field: value})
