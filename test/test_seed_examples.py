"""
The seed document's five examples, as close to its code as the import path allows.

Each runs the example's lines (``from plant_server_ros import ...`` for
``from src.interfaces.hil import ...``; a free port for 5555; a few hundred
steps for 5000, so the suite stays fast) and asserts what the example
implies: the server serves, a custom model is the one stepped, the profiler
saw every step.  The test's own additions (a client, a thread to run the
blocking ``start()``) are marked.
"""

import logging
import math
import threading
import time

from plant_server_ros import load_config, PlantServer, start_server
from plant_server_ros.clients.tcp_client import LegacyClient
from plant_server_ros.legacy.protocol import ErrorCode, ProtocolError
from plant_server_ros.server.config import ConfigError
import pytest

CONFIG_YAML = """\
physics:
  cart_mass: 1.5
simulation:
  dt: 0.01
  use_full_dynamics: true
hil:
  plant_ip: 127.0.0.1
  plant_port: 0
  extra_latency_ms: 0.0
  sensor_noise_std: 0.0
global_seed: 7
"""


@pytest.fixture
def config_path(tmp_path):
    path = tmp_path / 'config.yaml'
    path.write_text(CONFIG_YAML)
    return path


def serve_in_thread(server):
    """Run the blocking ``start()`` beside the client (the test's addition)."""
    ready = threading.Event()
    server._ready = ready
    thread = threading.Thread(target=server.start, daemon=True)
    thread.start()
    assert ready.wait(10)
    return thread


def drive(port, steps, u=0.0):
    """Reset and send ``steps`` controls as a client (the test's addition)."""
    with LegacyClient(port=port) as client:
        replies = [client.reset()]
        for _ in range(steps):
            replies.append(client.control(u))
    return replies


# -- Example 1: Basic HIL Server Setup ---------------------------------------------
def test_example_1_basic_server_serves_until_max_steps(config_path):
    config = load_config(config_path)
    server = PlantServer(
        cfg=config,
        bind_addr=('127.0.0.1', 0),
        dt=0.01,  # 10 ms control period
        extra_latency_ms=5,  # 5 ms network latency
        sensor_noise_std=0.01,  # 1% sensor noise
        max_steps=60,  # the example's 5000 would be 50 s
    )
    thread = serve_in_thread(server)             # server.start() in the example
    replies = drive(server.port, 40)
    times = [t for _, t in replies]              # real time, 5 ms late: each a new sample
    assert times[0] == 0.0 and all(b > a for a, b in zip(times, times[1:]))
    thread.join(10)                              # returns at max_steps by itself
    assert not thread.is_alive() and server.plant.total_steps == 60
    server.close()


def test_load_config_returns_the_mapping_and_refuses_bad_keys(config_path, tmp_path):
    assert load_config(config_path)['simulation']['dt'] == 0.01
    bad = tmp_path / 'bad.yaml'
    bad.write_text('simulation:\n  dt: 5\n')
    with pytest.raises(ConfigError, match='simulation.dt'):
        load_config(bad)


def test_start_server_serves_the_config_and_returns_the_server(config_path):
    server = start_server(config_path, max_steps=30, block=False, port=0)
    try:
        assert server.udp_port and server.settings['dt'] == 0.01   # UDP from hil.*
        replies = drive(server.port, 5)
        assert [t for _, t in replies][:1] == [0.0] and replies[-1][1] >= 0.05
    finally:
        server.stop()
        server.close()
    # Blocking, as the seed's: real time reaches max_steps by itself, then it returns.
    blocking = start_server(config_path, max_steps=3, port=0)
    assert blocking.plant.total_steps == 3 and blocking.status()['state'] == 'finished'


# -- Example 2: Custom Dynamics Configuration --------------------------------------
class CartOnly:
    """The test's own model: a frictionless cart of 1 kg, the links frozen."""

    def __init__(self):
        self.calls = 0

    def step(self, state, u, dt):
        self.calls += 1
        x, th1, th2, v, w1, w2 = state
        return (x + v * dt + 0.5 * u * dt * dt, th1, th2, v + u * dt, 0.0, 0.0)


def test_example_2_custom_dynamics_is_the_model_stepped(config_path):
    config = load_config(config_path)
    dynamics = CartOnly()
    server = PlantServer(
        cfg=config,
        bind_addr=('127.0.0.1', 0),  # the example listens on all interfaces
        dt=0.01,
    )
    server._dynamics = dynamics
    thread = serve_in_thread(server)             # server.start()
    replies = drive(server.port, 30, u=1.0)
    server.stop()
    thread.join(10)
    server.close()
    assert dynamics.calls >= 30
    # The links stay where the model keeps them: the built-in physics would tip them.
    assert all(state[1] == 0.05 and state[2] == -0.03 for state, _ in replies)
    assert replies[-1][0][3] > 0.2               # the cart sped up under u = 1 N


class OriginalStyle:
    """The original project's signature: step(x, u) over its own dt."""

    dt = 0.01

    def step(self, x, u):
        return (x[0] + self.dt * x[3], x[1], x[2], x[3] + self.dt * u, 0.0, 0.0)


def test_a_model_with_its_own_dt_steps_whole_periods_in_lockstep_exactly():
    with PlantServer(bind_addr=('127.0.0.1', 0), mode='lockstep', sensor_noise_std=0.0,
                     dynamics=OriginalStyle()) as server:
        thread = serve_in_thread(server)
        replies = drive(server.port, 3, u=2.0)
        server.stop()
        thread.join(10)
    velocities = [state[3] for state, _ in replies]
    assert velocities == pytest.approx([0.0, 0.02, 0.04, 0.06], abs=1e-15)


def test_a_model_whose_dt_differs_from_the_plant_is_refused():
    model = OriginalStyle()
    model.dt = 0.02
    with pytest.raises(ConfigError, match='dt=0.02'):
        PlantServer(bind_addr=('127.0.0.1', 0), dynamics=model)


def test_conditions_that_need_the_built_in_model_are_refused_by_name():
    scenario = {'name': 'drawn', 'uncertainty': {'masses': 0.1}}
    with pytest.raises(ConfigError, match='uncertainty'):
        PlantServer(bind_addr=('127.0.0.1', 0), scenario=scenario, dynamics=CartOnly())
    torque = {'name': 'twist', 'disturbances': [
        {'kind': 'step', 'channel': 'tau1', 'amplitude': 1.0, 'start': 0.5}]}
    with pytest.raises(ConfigError, match='tau1'):
        PlantServer(bind_addr=('127.0.0.1', 0), scenario=torque, dynamics=CartOnly())


class Broken:
    def step(self, state, u, dt):
        return state[:4]


def test_a_model_returning_no_state_halts_the_plant_naming_it():
    with PlantServer(bind_addr=('127.0.0.1', 0), mode='lockstep', dynamics=Broken()) as server:
        thread = serve_in_thread(server)
        with LegacyClient(port=server.port) as client:
            client.reset()
            with pytest.raises(ProtocolError) as err:
                client.control(0.0)
        assert err.value.code is ErrorCode.HALTED
        assert 'Broken.step returned 4 values' in server.status()['halt_reason']
        server.stop()
        thread.join(10)


# -- Example 3: Multi-Client Testing -------------------------------------------------
def test_example_3_three_servers_in_threads_are_independent_plants(config_path):
    config = load_config(config_path)
    servers = []

    def run_server(port, max_steps):
        server = PlantServer(
            cfg=config,
            bind_addr=('127.0.0.1', port),
            dt=0.01,
            max_steps=max_steps,
        )
        servers.append(server)
        server.start()
        server.close()

    threads = []
    for port in [0, 0, 0]:                       # [5555, 5556, 5557]
        t = threading.Thread(target=run_server, args=(port, 200))
        t.start()
        threads.append(t)
    deadline = time.monotonic() + 10
    while len(servers) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.1)                              # the test's: each listens at once
    finals = [drive(server.port, 20, u=u)[-1][0] for server, u in zip(servers, (-2, 0, 2))]
    for t in threads:
        t.join()
    assert finals[0][0] < finals[1][0] < finals[2][0]     # each plant its own
    assert all(server.plant.total_steps == 200 for server in servers)


# -- Example 4: Server with Logging and Monitoring -----------------------------------
def test_example_4_logging_to_a_file(config_path, tmp_path):
    config = load_config(config_path)
    log_file = tmp_path / 'hil_server.log'
    handler = logging.FileHandler(log_file)     # logging.basicConfig(filename=...) in the
    handler.setFormatter(logging.Formatter(     # example: a test may not reconfigure root
        '%(asctime)s - %(name)s - %(levelname)s - %(message)s'))
    root = logging.getLogger()
    root.addHandler(handler)
    level = root.level
    root.setLevel(logging.DEBUG)
    try:
        server = PlantServer(
            cfg=config,
            bind_addr=('127.0.0.1', 0),
            dt=0.01,
            extra_latency_ms=5,
            sensor_noise_std=0.01,
        )
        logger = logging.getLogger('HIL.PlantServer')
        logger.info('Starting HIL plant server...')
        try:
            thread = serve_in_thread(server)     # server.start()
            drive(server.port, 5)
            server.stop()
            thread.join(10)
        except Exception as e:
            logger.error(f'Server error: {e}')
        finally:
            server.close()
            logger.info('Server shutdown complete')
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        handler.close()
    text = log_file.read_text()
    assert 'Starting HIL plant server' in text and 'Server shutdown complete' in text
    assert 'plant serving the legacy TCP protocol' in text and 'client 127.0.0.1' in text
    assert 'use_full_dynamics: True' in text


# -- Example 5: Performance Profiling ------------------------------------------------
def test_example_5_profiled_step_sees_every_step(config_path):
    psutil = pytest.importorskip('psutil', reason='psutil is not installed (the example '
                                 'samples memory and CPU with it)')
    config = load_config(config_path)
    metrics = {
        'step_times': [],
        'memory_usage': [],
        'cpu_usage': []
    }
    server = PlantServer(cfg=config, bind_addr=('127.0.0.1', 0), dt=0.01)
    original_step = server._step

    def profiled_step(control):
        start = time.time()
        result = original_step(control)
        metrics['step_times'].append(time.time() - start)
        metrics['memory_usage'].append(psutil.Process().memory_info().rss / 1024**2)
        metrics['cpu_usage'].append(psutil.cpu_percent())
        return result

    server._step = profiled_step
    thread = serve_in_thread(server)             # server.start()
    drive(server.port, 20)
    server.stop()
    thread.join(10)
    server.close()
    steps = server.plant.total_steps
    assert steps >= 20 and len(metrics['step_times']) == steps
    assert len(metrics['memory_usage']) == len(metrics['cpu_usage']) == steps
    assert math.isfinite(sum(metrics['step_times']) / steps)   # the example's mean, not nan


def test_a_step_observer_hears_control_state_and_cost():
    heard = []
    with PlantServer(bind_addr=('127.0.0.1', 0), mode='lockstep',
                     sensor_noise_std=0.0) as server:
        server.observe_steps(lambda control, state, cost: heard.append((control, state, cost)))
        thread = serve_in_thread(server)
        replies = drive(server.port, 3, u=1.5)
        server.stop()
        thread.join(10)
    assert [c for c, _, _ in heard] == [1.5, 1.5, 1.5]
    assert [s for _, s, _ in heard] == [state for state, _ in replies[1:]]
    assert all(cost > 0.0 for _, _, cost in heard)
