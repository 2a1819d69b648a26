"""
Every node process ends cleanly on Ctrl-C (once or more) and SIGTERM: exit 0, no traceback.

A terminal's Ctrl-C goes to the whole process group, and ``ros2 launch``
forwards a SIGINT of its own to each node it started: a node gets two, the
second often while it cleans up.  Each node here runs in a process group of
its own, as under a terminal or a launch, and the signal goes to the group.
``ros2 launch`` itself is checked by hand (docs/ros.md, "Stopping").
"""

import os
import signal
import time

from _node_processes import NodeProcess
import pytest

# module, its arguments, what it logs once it is up (signal handlers in place)
NODES = {
    'plant': ('plant_node', (), r'plant up'),
    'managed_plant': ('plant_node', ('--managed',), r'unconfigured: steps once'),
    'bridge': ('bridge_node', (), r'legacy TCP protocol on'),
    'controller': ('controller_node', (), r'controller up'),
    'dip_hil': ('hil', (), r'legacy TCP protocol on'),
}
# What a crash leaves in the output: a Python traceback, a C++ abort.
CRASH = ('Traceback', 'terminate called', 'KeyboardInterrupt', 'pointer is invalid',
         'Caught exception')


def _start_all(tag):
    """Start every node at once, each in its group and namespace; wait until each is up."""
    procs = {}
    for name, (module, args, _) in NODES.items():
        procs[name] = NodeProcess(module, '-r', f'__ns:=/stop_{tag}_{name}', '-p', 'port:=0',
                                  args=args, group=True)
    try:
        for name, (_, _, up) in NODES.items():
            procs[name].wait_for(up, timeout=60.0)
    except BaseException:
        for proc in procs.values():
            proc.stop()
        raise
    return procs


def _signal_group(proc, sig):
    try:
        os.killpg(proc.proc.pid, sig)
    except ProcessLookupError:          # it has ended (and its group with it)
        pass


def _ends(procs, sig, again=False, timeout=30.0):
    """
    Send ``sig`` to each group; ``again``: every 20 ms until the node has exited.

    Returns ``{name: (exit code, output)}``; a node that hangs is killed (-9).
    """
    deadline = time.monotonic() + timeout
    for proc in procs.values():
        _signal_group(proc, sig)
    results = {}
    for name, proc in procs.items():
        while proc.proc.poll() is None and time.monotonic() < deadline:
            if again:
                _signal_group(proc, sig)
            time.sleep(0.02)
        code = proc.stop(signal.SIGKILL)        # only if it still runs
        results[name] = (code, proc.output)
    return results


def _assert_clean(results):
    for name, (code, output) in results.items():
        crash = [line for line in output.splitlines() if any(w in line for w in CRASH)]
        assert code == 0 and not crash, f'{name} exited {code}:\n{output}'


def test_ctrl_c_once_to_the_process_group_ends_every_node_with_0():
    _assert_clean(_ends(_start_all('int1'), signal.SIGINT))


def test_ctrl_c_again_during_the_clean_up_is_ignored():
    # The second SIGINT (ros2 launch forwards one after the terminal's) and
    # more: one of them lands while the node cleans up.
    _assert_clean(_ends(_start_all('int2'), signal.SIGINT, again=True))


def test_sigterm_ends_every_node_with_0():
    _assert_clean(_ends(_start_all('term'), signal.SIGTERM))


@pytest.mark.parametrize('sig', [signal.SIGINT, signal.SIGTERM], ids=['SIGINT', 'SIGTERM'])
def test_a_signal_while_the_nodes_are_made_is_a_clean_stop_too(monkeypatch, sig):
    # Once the runner's handlers are in place (rclpy.init onwards): a node
    # that is still being made ends as soon as it is, with 0.
    from plant_server_ros.ros import node_runner
    pytest.importorskip('rclpy', reason='rclpy is needed', exc_type=ImportError)
    made = []

    class Node:
        def stop(self):
            made.append('stopped')

        def destroy_node(self):
            made.append('destroyed')

        def get_name(self):
            return 'fake'

    def factory():
        signal.raise_signal(sig)       # the handler sets the event; nothing is raised
        return Node()

    monkeypatch.setattr(node_runner, 'make_executor', _Executor)
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    assert node_runner.run_nodes([], [factory]) == node_runner.EXIT_OK
    assert made == ['stopped', 'destroyed']
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before


class _Executor:
    def add_node(self, node):
        pass

    def remove_node(self, node):
        pass

    def spin_once(self, timeout_sec=None):
        raise AssertionError('spun after the signal')

    def shutdown(self):
        pass


def test_a_node_started_with_sigint_ignored_still_ends_cleanly_on_it():
    # A background job of a script (hil.sh's dip_hil, a launch started from one)
    # inherits SIGINT ignored: the runner's handler takes it, not rclpy's, whose
    # context shutdown made the controller's last log line fail ("Failed to
    # publish log message to rosout: publisher's context is invalid").
    import subprocess
    import sys
    from _node_processes import node_env
    plant = NodeProcess('plant_node', '-r', '__ns:=/stop_ignored', group=True)
    controller = subprocess.Popen(
        [sys.executable, '-m', 'plant_server_ros.ros.controller_node', '--ros-args', '-r',
         '__ns:=/stop_ignored'], env=node_env(), stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    lines = []
    try:
        for line in controller.stdout:
            lines.append(line)
            if 'first state answered' in line:
                break
        os.killpg(controller.pid, signal.SIGINT)
        out, _ = controller.communicate(timeout=30)
    finally:
        if controller.poll() is None:
            controller.kill()
            controller.wait()
        plant.stop()
    out = ''.join(lines) + out
    assert controller.returncode == 0, out
    assert 'answered' in out and 'context is invalid' not in out, out
