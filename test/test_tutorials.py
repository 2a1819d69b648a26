"""
The tutorials of docs/tutorials/, run from their pages so they cannot rot.

Each page marks its runnable blocks with an info string ``LANG tutorial:NAME``
(a file to save, a command to type, or output the reader should see).  The
commands run in a temporary directory with this checkout's console scripts
first on PATH; the only change a test makes to a page's text is the port: the
pages show the one a run printed, the tests use the one the server picked.
"""

import os
from pathlib import Path
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time

import pytest

REPO = Path(__file__).resolve().parents[1]
TUTORIALS = REPO / 'docs' / 'tutorials'
BLOCK = re.compile(r'^```(\w+) tutorial:(\S+)\n(.*?)^```$', re.M | re.S)


def blocks(page):
    """Return ``{name: text}`` of the page's tutorial blocks."""
    found = {}
    for _, name, text in BLOCK.findall((TUTORIALS / page).read_text(encoding='utf-8')):
        assert name not in found, f'{page}: two blocks named {name}'
        found[name] = text
    return found


@pytest.fixture
def workdir(tmp_path):
    """Return a directory to work in and an environment with this checkout's commands on PATH."""
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    scripts = re.findall(r"f'(\w+) = \{PACKAGE\}\.([\w.]+):main'", (REPO / 'setup.py').read_text())
    commands = {name: f'-m plant_server_ros.{module}' for name, module in scripts}
    commands['python'] = ''
    for name, args in commands.items():
        path = bin_dir / name
        path.write_text(f'#!/bin/sh\nexec {sys.executable} {args} "$@"\n')
        path.chmod(0o755)
    work = tmp_path / 'work'
    work.mkdir()
    env = dict(os.environ, PATH=f'{bin_dir}{os.pathsep}{os.environ["PATH"]}',
               PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get('PYTHONPATH', '')]),
               PYTHONUNBUFFERED='1')
    return work, env


class Background:
    """A command of a page running in the background, as in a second terminal."""

    def __init__(self, command, work, env):
        # exec: the signal reaches the command itself, not a shell.
        self.proc = subprocess.Popen(['bash', '-c', f'exec {command.strip()}'], cwd=work,
                                     env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True)
        self.lines = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line.rstrip('\n'))

    def wait_for(self, pattern, timeout=30.0):
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                m = regex.search(line)
                if m:
                    return m
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f'{pattern!r} not in output:\n' + '\n'.join(self.lines))

    def interrupt(self, timeout=15.0):
        """Ctrl-C (SIGINT by PID); SIGKILL only if it hangs. Return the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(2.0)
        return self.proc.returncode


def run(command, work, env, timeout=120):
    """Run a page's command block with bash; return its output, or fail showing it."""
    result = subprocess.run(['bash', '-e', '-c', command], cwd=work, env=env, timeout=timeout,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert result.returncode == 0, f'{command!r} exited {result.returncode}:\n{result.stdout}'
    return result.stdout


def with_port(command, shown, actual):
    """Return ``command`` with the page's example port replaced by the one in use."""
    assert re.search(rf'\b{shown}\b', command), f'port {shown} not in {command!r}'
    return re.sub(rf'\b{shown}\b', str(actual), command)


# -- a. a legacy TCP controller through the shipped campaign ----------------------------
@pytest.mark.slow
def test_legacy_tcp_controller_plays_the_shipped_campaign_to_a_verdict(workdir):
    pytest.importorskip('mcap_ros2', reason='--record needs mcap-ros2-support')
    pytest.importorskip('matplotlib', reason='dip_report draws with matplotlib')
    work, env = workdir
    page = blocks('legacy_tcp_campaign.md')
    (work / 'campaign_client.py').write_text(page['campaign_client.py'])
    shown_port = re.search(r'protocol on 127\.0\.0\.1:(\d+)',
                           (TUTORIALS / 'legacy_tcp_campaign.md').read_text()).group(1)
    server = Background(page['server'], work, env)
    try:
        port = int(server.wait_for(r'legacy TCP protocol on 127\.0\.0\.1:(\d+)').group(1))
        output = run(with_port(page['client'], shown_port, port), work, env)
    finally:
        code = server.interrupt()
    assert output == page['client-output']
    assert code == 0, '\n'.join(server.lines)
    assert len(list((work / 'runs').glob('episode_*.mcap'))) == 8

    run(page['report'], work, env)
    summary = (work / 'runs_report' / 'summary.md').read_text(encoding='utf-8')
    assert page['verdict'] in summary


# -- c. coming from dip-smc-pso: config.yaml and the UDP client -------------------------
def test_original_config_and_udp_client_are_served_by_plant_server(workdir):
    work, env = workdir
    page = blocks('from_dip_smc_pso.md')
    # The page's port 9000 may be taken here: the copy asks for any free one.
    (work / 'config.yaml').write_text(with_port(page['config.yaml'], 9000, 0))
    (work / 'server.py').write_text(page['server.py'])
    (work / 'udp_client.py').write_text(page['udp_client.py'])
    udp = r'UDP datagrams on 127\.0\.0\.1:(\d+)'
    for client, expected in (('client', page['client-output']), ('dip-client', None)):
        server = Background(page['server'], work, env)     # a fresh plant for each client
        try:
            port = int(server.wait_for(udp).group(1))
            output = run(with_port(page[client], 9000, port), work, env)
        finally:
            code = server.interrupt()
        assert code == 0, '\n'.join(server.lines)
        if expected is not None:
            assert output == expected
            assert any('accepted 500, episodes 1' in line for line in server.lines), server.lines
        else:
            assert 'balanced' in output


# -- b. a ROS 2 controller node in real time, recorded ----------------------------------
@pytest.mark.slow
def test_ros_controller_node_balances_the_real_time_plant_and_the_recording_shows_it(
        workdir, monkeypatch):
    pytest.importorskip('rclpy', reason='rclpy (ROS 2 wheels or a sourced ROS) is needed')
    pytest.importorskip('mcap_ros2', reason='record:= needs mcap-ros2-support')
    from _node_processes import NodeProcess
    work, env = workdir
    page = blocks('ros_controller.md')
    for name in ('lqr_node.py', 'check.py'):
        (work / name).write_text(page[name])
    command = shlex.split(page['plant'])
    assert command[:2] == ['dip_hil', '--ros-args']
    monkeypatch.chdir(work)                       # record:=runs is relative
    # Real time on a shared machine: a node starved of CPU for a few periods
    # lets the pendulum fall.  One more try tells that from a broken page,
    # which fails both times.
    for attempt in range(2):
        shutil.rmtree(work / 'runs', ignore_errors=True)
        plant = NodeProcess('hil', *command[2:])
        try:
            plant.wait_for(r'legacy TCP protocol on')
            run(page['node'], work, env, timeout=60)
        finally:
            code = plant.stop()
        assert code == 0, plant.output
        run(page['export'], work, env)
        check = subprocess.run(['bash', '-c', page['check']], cwd=work, env=env, timeout=60,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if check.returncode == 0 or attempt == 1:
            break
        print(f'attempt {attempt + 1}: {check.stdout}')
    assert check.returncode == 0, check.stdout
    assert 'while the node ran' in check.stdout
