"""
The ROS-free ``PlantServer`` and ``dip_plant_server``, each on a free port.

Servers run in threads of this process (``start()`` blocks) or, for the CLI,
as a child process; every one listens on port 0 and the test reads the port
it got.  The plant's motion is checked against ``DIPDynamics`` itself, the
configuration against the original project's ``config.yaml`` layout.
"""

import contextlib
import dataclasses
import json
import math
import os
from pathlib import Path
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import numpy as np
from plant_server_ros import PlantServer
from plant_server_ros.clients import cli as client_cli, controllers
from plant_server_ros.clients.tcp_client import LegacyClient
from plant_server_ros.doors import assembly as doors_assembly
from plant_server_ros.legacy.protocol import ErrorCode, ProtocolError
from plant_server_ros.physics.dynamics import DIPDynamics, DIPParams
from plant_server_ros.server.config import ConfigError
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
HOST = '127.0.0.1'
DT = 0.01
INITIAL = (0.0, 0.05, -0.03, 0.0, 0.0, 0.0)
TRACK_LIMIT = 2.0
STOP_WITHIN = 1.0          # s for start() to return after stop()
SLACK = 0.15               # s a noisy shared machine may add to a timing

# The original project's config.yaml: sections and keys as it writes them,
# with values that all differ from the plant's defaults.  Ports 0: nothing
# fixed is ever bound.
CONFIG_YAML = """\
global_seed: 42
controllers:
  classical_smc:
    gains: [5.0, 5.0, 5.0, 0.5, 0.5, 0.5]
    max_force: 150.0
physics:
  cart_mass: 3.0
  pendulum1_mass: 0.25
  pendulum2_mass: 0.1
  pendulum1_length: 0.5
  pendulum2_length: 0.35
  pendulum1_com: 0.25
  pendulum2_com: 0.175
  pendulum1_inertia: 0.005
  pendulum2_inertia: 0.002
  gravity: 9.7
  cart_friction: 0.3
  joint1_friction: 0.01
  joint2_friction: 0.008
  singularity_cond_threshold: 1.0e+8
  regularization_alpha: 1.0e-4
simulation:
  duration: 10.0
  dt: 0.02
  initial_state: [0.1, 0.02, -0.01, 0.0, 0.0, 0.0]
  use_full_dynamics: false
  safety:
    max_cart_position: 2.4
hil:
  plant_ip: 127.0.0.1
  plant_port: 0
  controller_ip: 127.0.0.1
  controller_port: 0
  extra_latency_ms: 0.0
  sensor_noise_std: 0.0
"""
CONFIG_PARAMS = DIPParams(
    cart_mass=3.0, link1_mass=0.25, link2_mass=0.1, link1_length=0.5, link2_length=0.35,
    link1_com=0.25, link2_com=0.175, link1_inertia=0.005, link2_inertia=0.002, gravity=9.7,
    cart_friction=0.3, joint1_friction=0.01, joint2_friction=0.008)
CONFIG_DT = 0.02
CONFIG_INITIAL = (0.1, 0.02, -0.01, 0.0, 0.0, 0.0)


# -- helpers -------------------------------------------------------------------
class Running:
    """A PlantServer on a free port whose ``start()`` runs in a thread of its own."""

    def __init__(self, **kwargs):
        self.ready = threading.Event()
        kwargs.setdefault('bind_addr', (HOST, 0))
        self.server = PlantServer(server_ready_event=self.ready, **kwargs)
        self.port = self.server.port
        self.returned = threading.Event()
        self.error = None
        self.thread = threading.Thread(target=self._run, daemon=True,
                                       name=f'plant-server-{self.port}')
        self.thread.start()
        assert self.ready.wait(5.0), 'start() did not set server_ready_event'

    def _run(self):
        try:
            self.server.start()
        except BaseException as exc:  # noqa: B902 - reported by stop()
            self.error = exc
        finally:
            self.returned.set()

    def client(self, timeout=5.0):
        return LegacyClient(HOST, self.port, timeout)

    def stop(self):
        """Stop; check that start() returned promptly and cleanly; return how long it took."""
        begin = time.monotonic()
        self.server.stop()
        self.thread.join(STOP_WITHIN + SLACK)
        took = time.monotonic() - begin
        self.server.close()
        assert not self.thread.is_alive(), 'start() did not return after stop()'
        assert self.error is None, f'start() raised {self.error!r}'
        return took


@contextlib.contextmanager
def running(**kwargs):
    """Yield a :class:`Running` server; stop it (and check it stopped) on the way out."""
    run = Running(**kwargs)
    try:
        yield run
    except BaseException:
        run.server.stop()
        run.server.close()
        raise
    run.stop()


def free_port():
    """Return a port nothing listens on now (bound once to port 0, then released)."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def assert_bindable(port):
    """Bind and listen on ``port`` as a server would (SO_REUSEADDR), then release it."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((HOST, port))
        sock.listen()


def assert_nothing_listens(port):
    with socket.socket() as sock:
        sock.settimeout(2.0)
        assert sock.connect_ex((HOST, port)) != 0, f'something listens on port {port}'


def assert_ended(client):
    """After an ERROR (or a shutdown) the server closes: no more frames on this connection."""
    client.sock.settimeout(2.0)
    with pytest.raises(OSError):
        client.recv_frame()
    client.close()


def finished_or_closed(client, u=0.0):
    """Send a CONTROL that must get FINISHED, or find the connection closed."""
    try:
        client.control(u)
    except ProtocolError as exc:
        assert exc.code is ErrorCode.FINISHED
    except OSError:
        pass
    else:
        pytest.fail('a CONTROL after the end was answered with a STATE')
    client.close()


def client_args(port, *extra):
    return client_cli.build_parser().parse_args(['--port', str(port), '--timeout', '5',
                                                 *extra])


def write_config(tmp_path, text=CONFIG_YAML, name='config.yaml'):
    path = tmp_path / name
    path.write_text(text)
    return path


# -- 1. one server, both modes ------------------------------------------------------
@pytest.mark.parametrize('mode, steps', [('lockstep', 1000), ('realtime', 200)])
def test_a_client_balances(mode, steps):
    for _ in range(3):
        with running(mode=mode, seed=5) as run:
            code, summary = client_cli.run(client_args(run.port, '--steps', str(steps)))
            overruns = run.server.status().get('overruns', 0)
        # Real time only: a machine that stalls the process for tenths of a second
        # (another suite on the 2 cores) makes the plant catch up periods with the
        # control it holds, and the pendulum falls. The plant says so (an overrun);
        # only then is the run tried again, at most twice.
        if code == 0 or mode != 'realtime' or not overruns:
            break
    assert code == 0, (summary, overruns)
    assert summary['steps'] == steps
    assert summary['max_abs_theta1'] < 0.2 and summary['max_abs_theta2'] < 0.2
    if mode == 'lockstep':
        assert summary['final_t'] == pytest.approx(steps * DT, abs=1e-9)
    else:       # the plant kept wall time: at least one period per reply
        assert summary['final_t'] >= steps * DT - 1e-9


@pytest.mark.parametrize('dt', [0.01, 0.005])
def test_lockstep_advances_exactly_dt_per_control(dt):
    controller = controllers.lqr(dt)
    with running(mode='lockstep', dt=dt, seed=1) as run, run.client() as client:
        state, t = client.reset()
        assert t == 0.0
        times = []
        for _ in range(300):
            state, t = client.control(controller(state))
            times.append(t)
    np.testing.assert_allclose(times, dt * np.arange(1, 301), rtol=0, atol=1e-12)
    assert max(abs(state[1]), abs(state[2])) < 0.2


def test_realtime_replies_are_paced_to_the_plant_clock():
    controller = controllers.lqr(DT)
    with running(mode='realtime', seed=2) as run, run.client() as client:
        state, t = client.reset()
        begin = time.monotonic()
        times = [t]
        for _ in range(100):
            state, t = client.control(controller(state))
            times.append(t)
        took = time.monotonic() - begin
    steps = np.diff(times)
    assert np.all(steps > DT / 2), 'every CONTROL is answered by a later sample'
    np.testing.assert_allclose(steps / DT, np.round(steps / DT), atol=1e-6)   # on the grid
    assert took >= 100 * DT * 0.9, 'real time: a client cannot run faster than the plant'
    assert times[-1] == pytest.approx(took, abs=0.1 + SLACK)


def test_realtime_reset_is_answered_on_a_busy_interpreter():
    # Threads that hog the interpreter make the serving thread wake up periods after
    # the reset sample was published: it must still get that sample (t = 0), not
    # wait for a t = 0 that has already gone by (PLANT_UNAVAILABLE after 1 s).
    busy = threading.Event()

    def hog():
        while not busy.is_set():
            pass

    hogs = [threading.Thread(target=hog, daemon=True) for _ in range(2)]
    with running(mode='realtime', sensor_noise_std=0.0) as run, run.client() as client:
        for thread in hogs:
            thread.start()
        try:
            for i in range(20):
                start = (0.01 * i, 0.0, 0.0, 0.0, 0.0, 0.0)
                assert client.reset(start) == (start, 0.0)
                client.control(0.0)
        finally:
            busy.set()
            for thread in hogs:
                thread.join(5.0)


# -- 2. several servers in one process ------------------------------------------------
def _three_servers(mode, **kwargs):
    """Start three servers as Example 3 of the seed does: start() in a thread, close() after."""
    servers, threads, readies, returned = [], [], [], []

    def run_server(server, done):
        server.start()
        server.close()
        done.set()

    for seed in (11, 12, 13):
        ready, done = threading.Event(), threading.Event()
        server = PlantServer(bind_addr=(HOST, 0), dt=DT, max_steps=5000, mode=mode,
                             server_ready_event=ready, seed=seed, **kwargs)
        thread = threading.Thread(target=run_server, args=(server, done), daemon=True)
        thread.start()
        servers.append(server)
        threads.append(thread)
        readies.append(ready)
        returned.append(done)
    for ready in readies:
        assert ready.wait(5.0)
    assert len({s.port for s in servers}) == 3
    return servers, threads, returned


def _stop_all(servers, threads, returned):
    for server in servers:
        server.stop()
    for thread in threads:
        thread.join(STOP_WITHIN + SLACK)
    assert all(done.is_set() for done in returned), 'a start() did not return after stop()'
    assert not any(thread.is_alive() for thread in threads)


def _concurrently(work, ports):
    """Run ``work(port)`` for every port at once; return the results in order."""
    results = [None] * len(ports)
    errors = []
    barrier = threading.Barrier(len(ports))

    def one(i, port):
        try:
            barrier.wait(5.0)
            results[i] = work(port)
        except BaseException as exc:  # noqa: B902 - re-raised below
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(i, p)) for i, p in enumerate(ports)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60.0)
    if errors:
        raise errors[0]
    return results


STARTS = [(-0.5, 0.04, -0.02, 0.0, 0.0, 0.0), (0.0, -0.06, 0.03, 0.0, 0.0, 0.0),
          (0.5, 0.02, 0.05, 0.0, 0.0, 0.0)]


def _lqr_run(port, start, steps=150):
    controller = controllers.lqr(DT)
    with LegacyClient(HOST, port, 5.0) as client:
        state, _ = client.reset(start)
        trajectory = [state]
        for _ in range(steps):
            state, t = client.control(controller(state))
            trajectory.append(state)
    assert t == pytest.approx(steps * DT)
    return np.array(trajectory)


def test_three_lockstep_servers_in_one_process_are_independent_plants():
    servers, threads, returned = _three_servers('lockstep')
    try:
        ports = [s.port for s in servers]
        together = _concurrently(lambda p: _lqr_run(p, STARTS[ports.index(p)]), ports)
    finally:
        _stop_all(servers, threads, returned)
    for i in range(3):
        for j in range(i + 1, 3):
            assert np.max(np.abs(together[i] - together[j])) > 0.1, 'two plants moved alike'
    # Each plant alone, with its seed and start, does exactly what it did among the
    # others: no noise generator, state or session is shared.
    for seed, start, trajectory in zip((11, 12, 13), STARTS, together):
        with running(mode='lockstep', dt=DT, seed=seed) as run:
            alone = _lqr_run(run.port, start)
        np.testing.assert_array_equal(trajectory, alone)


def test_three_realtime_servers_in_one_process_stay_apart():
    # Upright at rest with u = 0 is an equilibrium: each plant must stay exactly where
    # its own client put it while the other two are driven at the same time.
    rests = [(x, 0.0, 0.0, 0.0, 0.0, 0.0) for x in (-1.0, 0.25, 1.5)]
    servers, threads, returned = _three_servers('realtime', sensor_noise_std=0.0)

    def hold(port):
        rest = rests[[s.port for s in servers].index(port)]
        with LegacyClient(HOST, port, 5.0) as client:
            replies = [client.reset(rest)]
            replies += [client.control(0.0) for _ in range(60)]
        return rest, replies

    try:
        results = _concurrently(hold, [s.port for s in servers])
        statuses = [s.status() for s in servers]
    finally:
        _stop_all(servers, threads, returned)
    for rest, replies in results:
        assert replies[0][1] == 0.0
        for state, _ in replies:
            assert state == rest
        times = [t for _, t in replies]
        assert all(b > a for a, b in zip(times, times[1:]))
    assert len({st['tcp_port'] for st in statuses}) == 3


# -- 3. the original config.yaml --------------------------------------------------------
def test_config_file_sets_the_physics_dt_and_initial_state(tmp_path):
    path = write_config(tmp_path)
    u = 5.0
    with running(cfg=str(path), mode='lockstep') as run, run.client() as client:
        assert run.server.plant.dt == CONFIG_DT
        state, t = client.reset()
        assert (state, t) == (CONFIG_INITIAL, 0.0)
        state, t = client.control(u)
    assert t == CONFIG_DT
    expected = DIPDynamics(CONFIG_PARAMS).step(CONFIG_INITIAL, u, CONFIG_DT)
    np.testing.assert_allclose(state, expected, rtol=0, atol=1e-12)
    # The mass matters as the physics says: the default cart mass moves otherwise.
    default_mass = dataclasses.replace(CONFIG_PARAMS, cart_mass=DIPParams().cart_mass)
    other = DIPDynamics(default_mass).step(CONFIG_INITIAL, u, CONFIG_DT)
    assert abs(other[3] - state[3]) > 0.01       # cart speed: lighter cart, faster
    assert other[3] > state[3] > 0.0


def test_config_dict_works_like_the_file(tmp_path):
    path = write_config(tmp_path)
    replies = []
    for cfg in (path, yaml.safe_load(CONFIG_YAML)):
        with running(cfg=cfg, mode='lockstep') as run, run.client() as client:
            replies.append((client.reset(), client.control(-3.0), client.control(2.0),
                            run.server.settings))
    assert replies[0] == replies[1]


def _lockstep_reply(cfg, u=1.0, **kwargs):
    """RESET and one CONTROL on a lockstep server; ``(reset reply, control reply, rtt)``."""
    with running(cfg=cfg, mode='lockstep', **kwargs) as run, run.client() as client:
        reset = client.reset()
        control = client.control(u)
    return reset, control, max(client.round_trips)


def test_explicit_arguments_win_over_the_config(tmp_path):
    path = write_config(tmp_path)
    reset, (state, t), _ = _lockstep_reply(str(path), u=5.0, dt=0.005)
    assert reset == (CONFIG_INITIAL, 0.0)
    assert t == 0.005
    np.testing.assert_allclose(
        state, DIPDynamics(CONFIG_PARAMS).step(CONFIG_INITIAL, 5.0, 0.005), rtol=0, atol=1e-12)

    noisy = yaml.safe_load(CONFIG_YAML)
    noisy['hil']['sensor_noise_std'] = 0.5
    (state, _), _, _ = _lockstep_reply(noisy)
    assert max(abs(a - b) for a, b in zip(state, CONFIG_INITIAL)) > 0.05
    (state, _), _, _ = _lockstep_reply(noisy, sensor_noise_std=0.0)
    assert state == CONFIG_INITIAL

    # The seed: the explicit one decides the noise, not global_seed.
    seeded = {**noisy, 'global_seed': 2}
    by_config, _, _ = _lockstep_reply(seeded)
    assert _lockstep_reply(seeded)[0] == by_config           # a seed is reproducible
    assert _lockstep_reply(noisy, seed=2)[0] == by_config
    assert _lockstep_reply(noisy)[0] != by_config            # global_seed 42 differs

    slow = yaml.safe_load(CONFIG_YAML)
    slow['hil']['extra_latency_ms'] = 300.0
    assert _lockstep_reply(slow)[2] >= 0.29
    assert _lockstep_reply(slow, extra_latency_ms=0.0)[2] < 0.29 - SLACK


# -- 4. bad configuration ---------------------------------------------------------------
def _with(key, value):
    cfg = yaml.safe_load(CONFIG_YAML)
    *sections, last = key.split('.')
    node = cfg
    for section in sections:
        node = node[section]
    node[last] = value
    return cfg


BAD_VALUES = [
    ('physics.cart_mass', 'heavy'),
    ('physics.cart_mass', 0.0),
    ('physics.pendulum1_mass', 0),
    ('physics.pendulum2_mass', -0.1),
    ('physics.pendulum1_length', 0.0),
    ('physics.cart_friction', -0.2),
    ('physics.joint1_friction', math.nan),
    ('physics.gravity', True),
    ('simulation.dt', 0),
    ('simulation.dt', 'fast'),
    ('simulation.initial_state', [0.0, 0.1]),
    ('simulation.initial_state', [0.0, 'a', 0.0, 0.0, 0.0, 0.0]),
    ('simulation.initial_state', [0.0, math.inf, 0.0, 0.0, 0.0, 0.0]),
    ('simulation.initial_state', [3.0, 0.0, 0.0, 0.0, 0.0, 0.0]),      # beyond the track
    ('simulation.initial_state', 0.1),
    ('hil.sensor_noise_std', -0.01),
    ('hil.extra_latency_ms', 'slow'),
    ('hil.plant_port', 70000),
    ('global_seed', 1.5),
]


@pytest.fixture
def nothing_may_listen(monkeypatch):
    """Fail at once if the server got as far as creating a socket; yield a free port."""
    def forbidden(*args, **kwargs):
        raise AssertionError('a socket was opened for a configuration that is refused')

    # Every door of a PlantServer is opened by the one assembly of doors.
    monkeypatch.setattr(doors_assembly, 'TcpServer', forbidden)
    monkeypatch.setattr(doors_assembly, 'UdpServer', forbidden)
    return free_port()


@pytest.mark.parametrize('source', ['file', 'dict'])
@pytest.mark.parametrize('key, value', BAD_VALUES,
                         ids=[f'{k}={v!r}' for k, v in BAD_VALUES])
def test_bad_config_value_is_refused_by_name_before_listening(
        tmp_path, nothing_may_listen, source, key, value):
    cfg = _with(key, value)
    if source == 'file':
        cfg = write_config(tmp_path, yaml.safe_dump(cfg))
    port = nothing_may_listen
    with pytest.raises(ConfigError, match=re.escape(key)):
        PlantServer(cfg=cfg, bind_addr=(HOST, port), mode='lockstep')
    with socket.socket() as sock:           # the port was never taken
        sock.bind((HOST, port))


@pytest.mark.parametrize('kwargs, name', [
    ({'dt': 0}, 'dt'), ({'dt': -0.01}, 'dt'), ({'sensor_noise_std': -1.0}, 'sensor_noise_std'),
    ({'extra_latency_ms': math.inf}, 'extra_latency_ms'), ({'max_steps': -1}, 'max_steps'),
    ({'max_steps': 2.5}, 'max_steps'), ({'mode': 'turbo'}, 'mode'), ({'seed': 'x'}, 'seed'),
])
def test_bad_argument_is_refused_by_name_before_listening(nothing_may_listen, kwargs, name):
    with pytest.raises(ConfigError, match=re.escape(name)):
        PlantServer(bind_addr=(HOST, nothing_may_listen), **kwargs)


@pytest.mark.parametrize('text', ['- a list\n- not sections\n', 'physics: [1, 2\n'])
def test_config_file_that_is_no_mapping_is_refused(tmp_path, nothing_may_listen, text):
    with pytest.raises(ConfigError):
        PlantServer(cfg=write_config(tmp_path, text), bind_addr=(HOST, nothing_may_listen))


def test_missing_config_file_is_refused(tmp_path, nothing_may_listen):
    with pytest.raises(ConfigError, match='cannot read'):
        PlantServer(cfg=tmp_path / 'nope.yaml', bind_addr=(HOST, nothing_may_listen))


# -- 5. HALTED ----------------------------------------------------------------------
@pytest.mark.parametrize('mode', ['lockstep', 'realtime'])
def test_leaving_the_track_halts_at_once_and_a_reset_starts_afresh(mode):
    with running(mode=mode, sensor_noise_std=0.0, dt=DT) as run:
        client = run.client()
        assert client.reset() == (INITIAL, 0.0)
        replies = []                       # (received at, state, t)
        with pytest.raises(ProtocolError) as err:
            for _ in range(500):
                state, t = client.control(20.0)
                replies.append((time.monotonic(), state, t))
        halted_at = time.monotonic()
        assert err.value.code is ErrorCode.HALTED
        assert_ended(client)
        # Driven at 20 N the cart needs ~0.6 s to reach 2 m: it halted there, not before.
        received, last, t_last = replies[-1]
        assert t_last == pytest.approx(0.63, abs=0.05)
        assert all(abs(s[0]) <= TRACK_LIMIT for _, s, _ in replies[:-1])
        if mode == 'lockstep':
            assert last[0] > TRACK_LIMIT, 'the sample that left the track is the reply'
        else:
            assert last[0] > TRACK_LIMIT - 0.1
        # The CONTROL after the sample that left the track got HALTED within one period.
        assert halted_at - received < DT + SLACK
        assert client.round_trips[-1] < DT + SLACK
        status = run.server.status()
        assert status['state'] == 'halted' and 'track' in status['halt_reason']

        # A new connection without a RESET: still halted, again at once.
        with run.client() as again:
            with pytest.raises(ProtocolError) as err:
                again.control(0.0)
            assert err.value.code is ErrorCode.HALTED
            assert again.round_trips[-1] < DT + SLACK
            assert_ended(again)

        # A RESET on a new connection starts a new episode that can be driven.
        controller = controllers.lqr(DT)
        with run.client() as fresh:
            state, t = fresh.reset()
            assert (state, t) == (INITIAL, 0.0)
            times = []
            for _ in range(50):
                state, t = fresh.control(controller(state))
                times.append(t)
            assert max(abs(state[1]), abs(state[2])) < 0.2
            assert run.server.status()['state'] == 'running'
            if mode == 'lockstep':
                np.testing.assert_allclose(times, DT * np.arange(1, 51), rtol=0, atol=1e-12)
            # ... and driven off the track again.
            with pytest.raises(ProtocolError) as err:
                for _ in range(500):
                    fresh.control(20.0)
            assert err.value.code is ErrorCode.HALTED


# -- 6. max_steps ----------------------------------------------------------------------
def test_lockstep_max_steps_ends_start_by_itself():
    run = Running(mode='lockstep', max_steps=40, seed=3)
    try:
        client = run.client()
        client.reset()
        for k in range(1, 41):
            _, t = client.control(0.5)
            assert t == pytest.approx(k * DT, abs=1e-12)
        finished_or_closed(client)
        assert run.returned.wait(STOP_WITHIN), 'start() did not return at max_steps'
        assert run.error is None
        assert run.server.status()['state'] == 'finished'
        try:
            late = run.client()            # a new connection: nothing more to serve
        except OSError:
            pass                           # refused: nothing listens any more
        else:
            finished_or_closed(late)
    finally:
        run.server.close()
    assert not run.thread.is_alive()
    assert_nothing_listens(run.port)


@pytest.mark.parametrize('max_steps', [25, 60])
def test_realtime_max_steps_ends_start_after_max_steps_periods(max_steps):
    run = Running(mode='realtime', max_steps=max_steps)
    begin = time.monotonic()
    try:
        with run.client() as client:
            client.reset()
            try:
                for _ in range(max_steps + 20):
                    client.control(0.0)
            except ProtocolError as exc:
                assert exc.code is ErrorCode.FINISHED
            except OSError:
                pass
            else:
                pytest.fail('the plant served beyond max_steps')
        assert run.returned.wait(max_steps * DT + 1.0), 'start() did not return'
        took = time.monotonic() - begin
    finally:
        run.server.close()
    assert run.error is None
    assert max_steps * DT - 0.02 <= took <= max_steps * DT + SLACK + 0.1
    assert run.server.plant.total_steps == max_steps


# -- 7. stop / close / context manager ------------------------------------------------------
@pytest.mark.parametrize('mode', ['lockstep', 'realtime'])
def test_stop_from_another_thread_returns_start_promptly(mode):
    run = Running(mode=mode)
    client = run.client()
    client.reset()
    ended = []

    def drive():
        try:
            while True:
                client.control(0.0)
        except ProtocolError as exc:
            ended.append(exc.code)
        except OSError:
            ended.append('closed')

    driver = threading.Thread(target=drive)
    driver.start()
    time.sleep(0.2)
    stopper = threading.Thread(target=run.stop)
    begin = time.monotonic()
    stopper.start()
    assert run.returned.wait(STOP_WITHIN), 'start() did not return after stop()'
    took = time.monotonic() - begin
    stopper.join(5.0)
    driver.join(5.0)
    assert not driver.is_alive(), 'the client was left hanging'
    assert ended and ended[0] in (ErrorCode.FINISHED, 'closed')
    assert took < 0.5
    run.server.close()
    run.server.close()                     # twice is fine
    with pytest.raises(RuntimeError):
        run.server.start()                 # a closed server does not start again
    assert_nothing_listens(run.port)
    assert_bindable(run.port)


def test_stop_before_start_makes_start_return_at_once():
    server = PlantServer(bind_addr=(HOST, 0), mode='realtime')
    server.stop()
    begin = time.monotonic()
    server.start()
    assert time.monotonic() - begin < 0.5
    server.close()
    assert_nothing_listens(server.port)


@pytest.mark.parametrize('mode', ['lockstep', 'realtime'])
def test_close_without_start_frees_the_port_at_once(mode):
    with PlantServer(bind_addr=(HOST, 0), mode=mode) as server:
        port = server.port
    with socket.socket() as sock:          # not even SO_REUSEADDR needed: no connection
        sock.bind((HOST, port))
        sock.listen()
    server.close()


@pytest.mark.parametrize('mode', ['lockstep', 'realtime'])
def test_context_manager_closes_and_the_port_serves_again(mode):
    ready = threading.Event()
    with PlantServer(bind_addr=(HOST, 0), mode=mode, server_ready_event=ready) as server:
        port = server.port
        thread = threading.Thread(target=server.start, daemon=True)
        thread.start()
        assert ready.wait(5.0)
        client = LegacyClient(HOST, port, 5.0)
        client.reset()
        client.control(0.0)
    thread.join(STOP_WITHIN)
    assert not thread.is_alive(), 'leaving the with block did not end start()'
    finished_or_closed(client)
    assert_nothing_listens(port)
    # A new server takes the same port at once and serves.
    with running(bind_addr=(HOST, port), mode='lockstep') as again:
        assert again.port == port
        code, summary = client_cli.run(client_args(port, '--steps', '50'))
        assert code == 0, summary


# -- 8. dip_plant_server ------------------------------------------------------------------
START_LINE = re.compile(r'legacy TCP protocol on [\d.]+:(\d+)')


class ServerProcess:
    """``python -m plant_server_ros.server.cli ...`` with its log read as it comes."""

    def __init__(self, *args):
        env = dict(os.environ, PYTHONPATH=str(REPO), PYTHONUNBUFFERED='1')
        self.proc = subprocess.Popen(
            [sys.executable, '-m', 'plant_server_ros.server.cli', *args], env=env,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True)
        self.lines = []
        self._line = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.proc.stdout:
            with self._line:
                self.lines.append(line.rstrip('\n'))
                self._line.notify_all()

    @property
    def output(self):
        return '\n'.join(self.lines)

    def port(self, timeout=20.0):
        """Wait for the start line; return the port it names."""
        def found():
            return next((int(m.group(1)) for m in map(START_LINE.search, self.lines) if m),
                        None)
        with self._line:
            self._line.wait_for(lambda: found() is not None or self.proc.poll() is not None,
                                timeout)
            port = found()
        assert port is not None, f'no start line:\n{self.output}'
        return port

    def wait(self, timeout):
        code = self.proc.wait(timeout)
        self._reader.join(5.0)
        return code

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10.0)
        self._reader.join(5.0)


@contextlib.contextmanager
def cli(*args):
    proc = ServerProcess(*args)
    try:
        yield proc
    finally:
        proc.kill()


def test_cli_exits_0_at_max_steps():
    with cli('--mode', 'lockstep', '--port', '0', '--max-steps', '30', '--seed', '1') as proc:
        port = proc.port()
        with LegacyClient(HOST, port, 5.0) as client:
            client.reset()
            for k in range(1, 31):
                assert client.control(0.0)[1] == pytest.approx(k * DT)
        assert proc.wait(10.0) == 0, proc.output
    assert 'max_steps=30 reached' in proc.output
    assert 'Traceback' not in proc.output


def test_cli_serves_a_config_file_and_a_known_port(tmp_path):
    port = free_port()
    config = write_config(tmp_path)
    with cli('--mode', 'lockstep', '--port', str(port), '--config', str(config),
             '--max-steps', '1') as proc:
        assert proc.port() == port
        with LegacyClient(HOST, port, 5.0) as client:
            assert client.reset() == (CONFIG_INITIAL, 0.0)
            state, t = client.control(5.0)
        assert t == CONFIG_DT
        np.testing.assert_allclose(
            state, DIPDynamics(CONFIG_PARAMS).step(CONFIG_INITIAL, 5.0, CONFIG_DT), atol=1e-12)
        assert proc.wait(10.0) == 0, proc.output


@pytest.mark.parametrize('sig', [signal.SIGINT, signal.SIGTERM], ids=['SIGINT', 'SIGTERM'])
def test_cli_exits_0_on_a_signal_within_a_second(sig):
    with cli('--port', '0') as proc:           # real time, served until stopped
        port = proc.port()
        client = LegacyClient(HOST, port, 5.0)
        client.reset()
        for _ in range(10):
            client.control(0.0)
        begin = time.monotonic()
        proc.proc.send_signal(sig)
        code = proc.wait(5.0)
        took = time.monotonic() - begin
    assert code == 0, proc.output
    assert took < 1.0
    assert 'Traceback' not in proc.output
    finished_or_closed(client)
    assert_nothing_listens(port)
    with running(bind_addr=(HOST, port), mode='lockstep') as again:   # free at once
        assert again.port == port


def _fails_with_2(*args):
    with cli(*args) as proc:
        code = proc.wait(20.0)
    assert code == 2, proc.output
    assert 'Traceback' not in proc.output
    return proc.lines


@pytest.mark.parametrize('args', [['--bogus'], ['--mode', 'turbo'], ['--port', 'x']],
                         ids=['unknown', 'bad-mode', 'bad-port'])
def test_cli_bad_flag_exits_2(args):
    lines = _fails_with_2('--port', '0', *args)
    assert sum('error:' in line for line in lines) == 1


def test_cli_bad_config_value_exits_2_naming_the_key(tmp_path):
    config = write_config(tmp_path, CONFIG_YAML.replace('cart_mass: 3.0', 'cart_mass: -3.0'))
    port = free_port()
    lines = _fails_with_2('--port', str(port), '--config', str(config))
    assert len(lines) == 1 and 'physics.cart_mass' in lines[0]
    assert_bindable(port)


def test_cli_bad_value_flag_exits_2_naming_it():
    lines = _fails_with_2('--port', '0', '--dt', '0')
    assert len(lines) == 1 and 'dt' in lines[0]


def test_cli_port_in_use_exits_2():
    with socket.socket() as taken:
        taken.bind((HOST, 0))
        taken.listen()
        lines = _fails_with_2('--port', str(taken.getsockname()[1]))
    assert len(lines) == 1 and 'port in use' in lines[0]


# -- 9. no ROS ------------------------------------------------------------------------------
NO_ROS_SCRIPT = """
import importlib.util, json, socket, struct, sys, threading
from plant_server_ros import PlantServer
ready = threading.Event()
server = PlantServer(bind_addr=('127.0.0.1', 0), mode='lockstep', sensor_noise_std=0.0,
                     server_ready_event=ready)
thread = threading.Thread(target=server.start)
thread.start()
assert ready.wait(10)
frame = struct.Struct('!II7d')
with socket.create_connection(('127.0.0.1', server.port), timeout=10) as sock:
    replies = []
    for msg_type, u in ((3, 0.0), (1, 2.0)):
        sock.sendall(frame.pack(56, msg_type, u, 0, 0, 0, 0, 0, 0))
        data = b''
        while len(data) < 64:
            data += sock.recv(64 - len(data))
        replies.append(frame.unpack(data))
server.stop()
thread.join(10)
server.close()
print(json.dumps({
    'replies': replies, 'stopped': not thread.is_alive(),
    'rclpy_loaded': 'rclpy' in sys.modules,
    'ros_modules': sorted(m for m in sys.modules if m.split('.')[0] in
                          ('rclpy', 'rosidl_runtime_py', 'launch', 'launch_ros')),
    'rclpy_installed': importlib.util.find_spec('rclpy') is not None,
}))
"""


@pytest.mark.slow
def test_plant_server_needs_no_ros(tmp_path):
    venv = tmp_path / 'venv'
    subprocess.run([sys.executable, '-m', 'venv', '--without-pip', str(venv)], check=True,
                   timeout=120)
    python = venv / 'bin' / 'python'
    install = subprocess.run(
        [sys.executable, '-m', 'pip', '--python', str(python), 'install', '--no-input',
         '--disable-pip-version-check', 'numpy', 'scipy', 'pyyaml'],
        capture_output=True, text=True, timeout=600)
    if install.returncode != 0:
        pytest.skip('cannot install numpy scipy pyyaml into a fresh venv: '
                    + (install.stderr.strip().splitlines() or ['?'])[-1])
    env = {'PATH': os.environ.get('PATH', '/usr/bin:/bin'), 'PYTHONPATH': str(REPO),
           'HOME': str(tmp_path), 'LANG': 'C.UTF-8'}
    result = subprocess.run([str(python), '-c', NO_ROS_SCRIPT], env=env, capture_output=True,
                            text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert not out['rclpy_installed'], 'the fresh venv must not see ROS'
    assert not out['rclpy_loaded'] and out['ros_modules'] == []
    assert out['stopped']
    (size, msg_type, *reset), (_, control_type, *control) = out['replies']
    assert (size, msg_type, control_type) == (56, 2, 2)
    assert tuple(reset) == INITIAL + (0.0,)
    expected = DIPDynamics().step(INITIAL, 2.0, DT)
    np.testing.assert_allclose(control[:6], expected, rtol=0, atol=1e-12)
    assert control[6] == pytest.approx(DT)


def test_a_failed_construction_leaves_no_thread_behind(tmp_path):
    taken = socket.socket()
    taken.bind(('127.0.0.1', 0))
    taken.listen(1)
    before = {t.ident for t in threading.enumerate()}
    try:
        with pytest.raises(OSError):
            PlantServer(bind_addr=('127.0.0.1', taken.getsockname()[1]),
                        record=str(tmp_path))
    finally:
        taken.close()
    time.sleep(0.2)
    assert {t.ident for t in threading.enumerate() if t.is_alive()} <= before


def test_a_scenario_that_cannot_start_is_a_config_error(tmp_path):
    path = tmp_path / 'off.yaml'
    path.write_text('name: offtrack\ninitial_state: [3, 0, 0, 0, 0, 0]\n')
    with pytest.raises(ConfigError, match='scenario offtrack'):
        PlantServer(bind_addr=('127.0.0.1', 0), scenario=str(path))
