"""``dip_hil``: one process serving clients, clean exits, several plants at once."""

import signal
import socket
import time

from _ros_harness import bridge_port, Harness, NodeProcess, wait_until_served
from plant_server_ros.clients import cli as client_cli
from plant_server_ros.clients.tcp_client import LegacyClient
from plant_server_ros.legacy.protocol import ErrorCode, ProtocolError
import pytest
from rclpy.node import Node
from sensor_msgs.msg import JointState


def start_hil(namespace, *params):
    """Start dip_hil on a free port; return the process and its port."""
    proc = NodeProcess('hil', '-r', f'__ns:={namespace}', '-p', 'port:=0', *params)
    try:
        port = bridge_port(proc)
        wait_until_served(port)
    except BaseException:
        proc.stop()
        raise
    return proc, port


@pytest.mark.parametrize('sig', [signal.SIGINT, signal.SIGTERM], ids=['SIGINT', 'SIGTERM'])
def test_serves_a_client_and_exits_cleanly(sig):
    hil, port = start_hil('/hil_exit')
    try:
        code, summary = client_cli.run(client_cli.build_parser().parse_args(
            ['--port', str(port), '--seconds', '1']))
        assert code == 0 and summary['final_t'] >= 1.0
        start = time.monotonic()
        assert hil.stop(sig) == 0, hil.output
        assert time.monotonic() - start < 1.0
    finally:
        hil.stop()
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(('127.0.0.1', port))            # the port is free again at once
    listener.close()


def test_max_steps_ends_the_run_and_clients_get_finished():
    hil, port = start_hil('/hil_fin', '-p', 'mode:=lockstep', '-p', 'max_steps:=100')
    try:
        with LegacyClient(port=port) as c:
            with pytest.raises(ProtocolError) as err:
                for _ in range(200):
                    c.control(0.0)
            assert err.value.code is ErrorCode.FINISHED
        hil.proc.wait(10)
        assert hil.proc.returncode == 0
        assert 'max_steps=100 reached' in hil.output
    finally:
        hil.stop()


class StateWatcher(Node):
    """Keep the last /dipN/state of each plant."""

    def __init__(self, namespaces):
        super().__init__('state_watcher')
        self.last = {}
        for ns in namespaces:
            self.create_subscription(JointState, f'{ns}/state',
                                     lambda m, ns=ns: self.last.__setitem__(ns, m), 10)


def test_three_namespaced_runners_are_independent_plants():
    namespaces = ['/dip1', '/dip2', '/dip3']
    started = [start_hil(ns, '-p', 'mode:=lockstep', '-p', 'sensor_noise_std:=0.0')
               for ns in namespaces]
    runners = [proc for proc, _ in started]
    ports = [port for _, port in started]
    h = Harness()
    try:
        watcher = h.add(StateWatcher(namespaces))
        assert h.spin_until(lambda: all(
            watcher.count_publishers(f'{ns}/state') == 1 for ns in namespaces))
        targets = {ns: 0.1 * (i + 1) for i, ns in enumerate(namespaces)}
        for ns, port in zip(namespaces, ports):
            with LegacyClient(port=port) as c:
                state, t = c.reset([targets[ns], 0, 0, 0, 0, 0])
                assert state[0] == pytest.approx(targets[ns]) and t == 0.0
                # Step until the watcher has this plant's sample (its reader may
                # match the plant's writer a moment after discovery).
                for k in range(1, 101):
                    watcher.last.pop(ns, None)
                    state, t = c.control(0.0)
                    assert t == pytest.approx(0.01 * k)
                    if h.spin_until(lambda: ns in watcher.last, timeout=0.2):
                        break
                assert watcher.last[ns].position[0] == pytest.approx(targets[ns], abs=1e-3)
        # Each plant kept its own state: three independent plants.
        assert {ns: round(m.position[0], 3) for ns, m in watcher.last.items()} == \
            {ns: round(x, 3) for ns, x in targets.items()}
    finally:
        h.close()
        codes = [r.stop() for r in runners]
    assert codes == [0, 0, 0]


def test_a_users_busy_poll_wins_over_dip_hils_default():
    from rcl_interfaces.srv import GetParameters
    hil, _ = start_hil('/hil_poll', '-p', 'busy_poll_us:=77')
    h = Harness()
    try:
        node = h.add(Node('poll_reader'))
        values = {}
        for name in ('plant', 'bridge'):
            client = node.create_client(GetParameters, f'/hil_poll/{name}/get_parameters')
            assert h.spin_until(client.service_is_ready)
            future = client.call_async(GetParameters.Request(names=['busy_poll_us']))
            assert h.spin_until(future.done)
            values[name] = future.result().values[0].integer_value
    finally:
        h.close()
        hil.stop()
    assert values == {'plant': 77, 'bridge': 77}


def test_ctrl_c_while_halted_ends_without_a_traceback():
    hil, port = start_hil('/hil_halted')
    try:
        with LegacyClient(port=port) as c:
            c.reset()
            with pytest.raises(ProtocolError) as err:
                for _ in range(600):                    # off the track
                    c.control(20.0)
            assert err.value.code is ErrorCode.HALTED
        time.sleep(0.3)                                 # the frozen state is published
    finally:
        code = hil.stop()
    assert code == 0 and 'Traceback' not in hil.output, hil.output


def _fails_at_start(*args):
    proc = NodeProcess('hil', '-p', 'port:=0', *args)
    code = proc.proc.wait(30)
    proc.stop()
    return code, [line for line in proc.lines if line.strip()]


def test_record_onto_a_file_exits_2_in_one_line(tmp_path):
    afile = tmp_path / 'afile'
    afile.write_text('not a directory')
    code, lines = _fails_at_start('-p', f'record:={afile}')
    assert code == 2 and 'Traceback' not in '\n'.join(lines)
    assert any("parameter 'record'" in line and str(afile) in line for line in lines), lines


def test_a_params_file_that_is_missing_or_not_yaml_exits_2_in_one_line(tmp_path):
    bad = tmp_path / 'bad.yaml'
    bad.write_text('/**/plant: [unclosed\n')
    for path in (tmp_path / 'missing.yaml', bad):
        code, lines = _fails_at_start('--params-file', str(path))
        assert code == 2 and 'Traceback' not in '\n'.join(lines), lines
        assert len(lines) == 1 and 'cannot start' in lines[0], lines


def test_a_second_runner_on_a_port_in_use_publishes_nothing():
    import socket
    with socket.socket() as taken:
        taken.bind(('127.0.0.1', 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = NodeProcess('hil', '-r', '__ns:=/second', '-p', f'port:={port}')
        code = proc.proc.wait(30)
        proc.stop()
    assert code == 2, proc.output
    assert 'episode 1' not in proc.output and 'plant up' not in proc.output, proc.output
