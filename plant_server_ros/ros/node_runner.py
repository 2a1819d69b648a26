"""
Run one or more nodes in one process: executor, clean exit, exit codes.

Executor: rclpy's EventsExecutor where this rclpy has it.  It costs several
times less CPU per callback than the SingleThreadedExecutor
(``bench/bench_timing.py`` measures both); ``PLANT_SERVER_EXECUTOR=single``
selects the classic one.
"""

import os
import signal
import sys
import threading

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
    problem = _params_file_problem(sys.argv if args is None else args)
    if problem:
        print(f'[ERROR] cannot start: {problem}', file=sys.stderr)
        return EXIT_BAD_PARAMETER
    interrupted = threading.Event()
    previous = _note_sigint(interrupted)      # before rclpy.init: rclpy chains to it
    try:
        return _run(args, factories, poll_period, interrupted)
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


def _run(args, factories, poll_period, interrupted):
    try:
        rclpy.init(args=args)
    except Exception as exc:  # noqa: B902 - rcl's own errors: a params file it cannot read
        print(f'[ERROR] cannot start: {" ".join(str(exc).split())[:300]}', file=sys.stderr)
        return EXIT_BAD_PARAMETER
    nodes = []
    executor = None
    try:
        try:
            for factory in factories:
                nodes.append(factory())
            # A node that waits for the others (dip_hil's plant) starts once all
            # could be made: a port in use then ends the run before it steps.
            for node in nodes:
                if hasattr(node, 'begin'):
                    node.begin()
        except StartError as exc:
            print(f'[ERROR] {exc}', file=sys.stderr)
            return EXIT_BAD_PARAMETER
        executor = make_executor()
        for node in nodes:
            executor.add_node(node)
        finished = [n.finished for n in nodes if hasattr(n, 'finished')]
        while rclpy.ok() and not any(f.is_set() for f in finished):
            try:
                executor.spin_once(timeout_sec=poll_period)
            except RuntimeError:
                # A Ctrl-C while the EventsExecutor's C++ hands a callback its
                # argument: the KeyboardInterrupt raised there comes out as
                # pybind11's "Unable to convert call argument" (about once in 40
                # stops, as the test suite stops nodes). The shutdown asked for.
                if rclpy.ok() and not interrupted.is_set():
                    raise
                return EXIT_OK
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
            try:
                node.destroy_node()
            except Exception as exc:  # noqa: B902 - every node gets destroyed
                print(f'[ERROR] destroying {node.get_name()}: {exc}', file=sys.stderr)
        if executor is not None:
            executor.shutdown()
        rclpy.try_shutdown()


def _note_sigint(event):
    """
    Have Ctrl-C set ``event`` as well as raise KeyboardInterrupt; return the handler it replaced.

    Only where Python's own handler is in place, in the main thread (the
    only one that may set handlers); None where nothing was changed.
    """
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler):
        return None

    def handler(signum, frame):
        event.set()
        raise KeyboardInterrupt
    return signal.signal(signal.SIGINT, handler)


def _params_file_problem(argv):
    """Return why a ``--params-file`` of ``argv`` cannot be read (rcl says it in a traceback)."""
    from ..inputs import yaml_file
    for flag, path in zip(argv, argv[1:]):
        if flag != '--params-file':
            continue
        try:
            tree = yaml_file.load(path)
        except OSError as exc:
            return f'params file {path}: {exc.strerror}'
        except yaml_file.YamlFileError as exc:
            return f'params file {exc}'
        if not isinstance(tree, dict):
            return f'params file {path}: not a mapping of node names to ros__parameters'
    return None
