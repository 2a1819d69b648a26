"""
``scripts/hil.sh``: a quiet, honest start, a demo that balances, Ctrl-C ends it.

Run with the commands of this checkout (``VENV`` a folder of wrappers,
``HIL_SETUP=0``: no pip), a short demo, on a free port, without the live view.
"""

import os
from pathlib import Path
import re
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time

from _node_processes import node_env

REPO = Path(__file__).resolve().parents[1]
COMMANDS = {'dip_hil': 'plant_server_ros.ros.hil',
            'dip_client': 'plant_server_ros.clients.cli',
            'dip_controller': 'plant_server_ros.ros.controller_node'}
SERVING = '== HIL plant serving'


def _commands(folder):
    """Make a venv-like folder whose bin/ runs this checkout's entry points."""
    bin_dir = folder / 'bin'
    bin_dir.mkdir()
    for name, module in COMMANDS.items():
        script = bin_dir / name
        script.write_text(textwrap.dedent(f"""\
            #!/bin/sh
            exec {sys.executable} -c 'import sys; from {module} import main; sys.exit(main())' "$@"
            """))
        script.chmod(0o755)
    return folder


def _free_port():
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        return probe.getsockname()[1]


def _run(tmp_path, *args):
    env = {**node_env(), 'VENV': str(_commands(tmp_path)), 'HIL_SETUP': '0'}
    proc = subprocess.Popen(['bash', str(REPO / 'scripts' / 'hil.sh'), *args],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 120
        while not any(SERVING in line for line in list(lines)):
            assert proc.poll() is None and time.monotonic() < deadline, ''.join(lines)
            time.sleep(0.1)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)           # Ctrl-C in its terminal
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        reader.join(5)
    return proc.returncode, ''.join(lines)


def _noise_before_serving(out):
    """Return the WARN and ERROR lines up to the end of the demo, but late-tick reports."""
    start = out[:out.index(SERVING)]
    return [line for line in start.splitlines()
            if re.search(r'\[(WARN|ERROR)\]', line) and 'late tick' not in line]


def test_the_client_demo_starts_quietly_and_balances(tmp_path):
    # Its start-up probe used to RESET and step the plant, which then waited for
    # the demo without control: a fail-safe WARN and a 'cart left the track' ERROR.
    port = _free_port()
    code, out = _run(tmp_path, '--demo-seconds', '2', '--', '-p', f'port:={port}',
                     '-p', 'web_port:=0')
    assert 'result: balanced' in out, out
    assert _noise_before_serving(out) == [], out
    assert 'Traceback' not in out, out
    assert code in (0, 130), out                       # the shell's own Ctrl-C status


def test_the_ros_demo_starts_quietly_and_balances(tmp_path):
    port = _free_port()
    code, out = _run(tmp_path, '--ros-demo', '--demo-seconds', '2', '--', '-p',
                     f'port:={port}', '-p', 'web_port:=0', '-r', '__ns:=/hil_script')
    said = re.search(r'answered (\d+) states; the last read x=(\S+) m, th1=(\S+) rad, '
                     r'th2=(\S+) rad', out)
    assert said and int(said.group(1)) > 100, out
    assert abs(float(said.group(3))) < 0.1 and abs(float(said.group(4))) < 0.1, out
    assert _noise_before_serving(out) == [], out
    assert 'Traceback' not in out, out
    assert code in (0, 130), out
