"""
Run one or more nodes in one process: executor, clean exit, exit codes.

Executor: rclpy's EventsExecutor where this rclpy has it.  It costs several
times less CPU per callback than the SingleThreadedExecutor
(``bench/bench_timing.py`` measures both); ``PLANT_SERVER_EXECUTOR=single``
selects the classic one.
"""

import os
import sys

import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor

from .params import StartError

EXIT_OK = 0
EXIT_BAD_PARAMETER = 2


def make_executor():
    """Return the executor chosen by ``PLANT_SERVER_EXECUTOR`` (events|single)."""
    choice = os.environ.get('PLANT_SERVER_EXECUTOR', 'events')
    if choice == 'events':
        try:
            from rclpy.experimental import EventsExecutor
        except ImportError:
            return SingleThreadedExecutor()
        return EventsExecutor()
    if choice == 'single':
        return SingleThreadedExecutor()
    raise ValueError(f'PLANT_SERVER_EXECUTOR must be events or single, got {choice!r}')


def run_nodes(args, factories, poll_period=0.1):
    """
    Create the nodes, spin them until one finishes or a signal, clean up.

    ``factories`` are called in order with no arguments; a node with a
    ``finished`` event ends the run when it is set (``max_steps``).  Returns
    the process exit code: 0 on a finished run, Ctrl-C or SIGTERM; 2 when a
    parameter is invalid.
    """
    rclpy.init(args=args)
    nodes = []
    executor = None
    try:
        try:
            for factory in factories:
                nodes.append(factory())
        except StartError as exc:
            print(f'[ERROR] {exc}', file=sys.stderr)
            return EXIT_BAD_PARAMETER
        executor = make_executor()
        for node in nodes:
            executor.add_node(node)
        finished = [n.finished for n in nodes if hasattr(n, 'finished')]
        while rclpy.ok() and not any(f.is_set() for f in finished):
            executor.spin_once(timeout_sec=poll_period)
        return EXIT_OK
    except (KeyboardInterrupt, ExternalShutdownException):
        return EXIT_OK
    finally:
        # Stop in reverse order: the bridge says FINISHED to its clients
        # while the plant's topics still exist.
        for node in reversed(nodes):
            try:
                node.stop()
            except Exception as exc:  # noqa: B902 - every node gets its stop
                print(f'[ERROR] stopping {node.get_name()}: {exc}', file=sys.stderr)
        for node in reversed(nodes):
            node.destroy_node()
        if executor is not None:
            executor.shutdown()
        rclpy.try_shutdown()
