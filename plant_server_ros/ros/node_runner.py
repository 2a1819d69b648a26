"""
Run one or more nodes in one process: executor, clean exit, exit codes.

Signals: the runner handles SIGINT and SIGTERM itself (rclpy installs no
handler of its own): the first asks the main loop to end, and every later one,
such as the SIGINT ``ros2 launch`` forwards after the terminal's own, is
ignored.  Nothing is raised from a signal, so no callback, C++ frame or
clean-up step is ever cut short by a KeyboardInterrupt.  Clean-up order: the
nodes stop (their threads end), the executor lets go of every node, then the
nodes are destroyed, then the context is shut down; an executor still holding
a destroyed node's service aborts the process ("service pointer is invalid").

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
from rclpy.signals import SignalHandlerOptions

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


def run_nodes(args, factories, poll_period=0.1, restore_signals=True):
    """
    Create the nodes, spin them until one finishes or a signal, clean up.

    ``factories`` are called in order with no arguments; a node with a
    ``finished`` event ends the run when it is set (``max_steps``).  Returns
    the process exit code: 0 on a finished run, Ctrl-C (once or more) or
    SIGTERM; 2 when a parameter is invalid.  ``restore_signals=False`` (an
    entry point, about to exit) leaves the runner's handlers in place, so a
    signal that comes after the clean-up is ignored too.
    """
    argv = list(sys.argv if args is None else args)
    own = argv[1:argv.index('--ros-args')] if '--ros-args' in argv else argv[1:]
    if '-h' in own or '--help' in own:
        print(usage(argv[0] if argv else 'node'))
        return EXIT_OK
    problem = _params_file_problem(argv)
    if problem:
        print(f'[ERROR] cannot start: {problem}', file=sys.stderr)
        return EXIT_BAD_PARAMETER
    interrupted = threading.Event()
    previous = _catch_signals(interrupted)
    try:
        return _run(args, factories, poll_period, interrupted, previous is not None)
    finally:
        if previous is not None and restore_signals:
            for signum, handler in previous.items():
                signal.signal(signum, handler)


def usage(program):
    """Return the help of a node's entry point (``--help`` starts nothing)."""
    name = os.path.basename(program)
    return (f'usage: {name} [--ros-args [-p NAME:=VALUE ...] [--params-file FILE] '
            f'[-r __ns:=/NAMESPACE] [--log-level LEVEL]]\n\n'
            f'Runs the ROS 2 node(s) of plant_server_ros until Ctrl-C or SIGTERM (exit 0; '
            f'2 for a bad parameter).\nEvery parameter, its default, range and unit: '
            f'docs/parameters.md, config/plant_server.yaml, or, while it runs,\n'
            f'`ros2 param describe <node> <name>`.')


def run_process(args, factories):
    """
    Run the nodes as a process does (the entry points): the exit code.

    Once they are cleaned up, SIGINT and SIGTERM are ignored for the rest of
    the process: the interpreter's own finalization puts back the default
    handler of every signal that has a Python one, and a second Ctrl-C that
    came then would kill the process (exit -2) after a clean stop.
    """
    code = run_nodes(args, factories, restore_signals=False)
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, signal.SIG_IGN)
    return code


def _run(args, factories, poll_period, interrupted, own_signals):
    try:
        # Our handlers, not rclpy's: rclpy's raises KeyboardInterrupt (in a callback,
        # in clean-up) and shuts the context down under the executor's feet.
        options = SignalHandlerOptions.NO if own_signals else None
        rclpy.init(args=args, signal_handler_options=options)
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
        while (rclpy.ok() and not interrupted.is_set()
               and not any(f.is_set() for f in finished)):
            try:
                executor.spin_once(timeout_sec=poll_period)
            except RuntimeError:
                # A KeyboardInterrupt (a handler other than ours) while the
                # EventsExecutor's C++ hands a callback its argument comes out
                # as pybind11's "Unable to convert call argument": the shutdown
                # asked for, not a fault.
                if rclpy.ok() and not interrupted.is_set():
                    raise
                return EXIT_OK
        return EXIT_OK
    except (KeyboardInterrupt, ExternalShutdownException):
        return EXIT_OK
    finally:
        _clean_up(nodes, executor)


def _clean_up(nodes, executor):
    """Stop the nodes, detach them from the executor, destroy them, shut rclpy down."""
    # Stop in reverse order: the bridge says FINISHED to its clients
    # while the plant's topics still exist.
    for node in reversed(nodes):
        try:
            node.stop()
        except Exception as exc:  # noqa: B902 - every node gets its stop
            print(f'[ERROR] stopping {node.get_name()}: {exc}', file=sys.stderr)
    # The executor lets go of the nodes' services, subscriptions and timers
    # while they exist (the EventsExecutor clears their callbacks then).
    if executor is not None:
        for node in nodes:
            try:
                executor.remove_node(node)
            except Exception as exc:  # noqa: B902 - a node it never had
                print(f'[ERROR] detaching {node.get_name()}: {exc}', file=sys.stderr)
        executor.shutdown()
    for node in reversed(nodes):
        try:
            node.destroy_node()
        except Exception as exc:  # noqa: B902 - every node gets destroyed
            print(f'[ERROR] destroying {node.get_name()}: {exc}', file=sys.stderr)
    rclpy.try_shutdown()


def _catch_signals(event):
    """
    Have SIGINT and SIGTERM set ``event`` and nothing else; return ``{signum: handler replaced}``.

    Only in the main thread (the only one that may set handlers) and where
    no Python code took SIGINT: Python's own handler, or the default or
    ignored disposition a process inherits (a background job of a script,
    as ``hil.sh`` starts ``dip_hil``, starts with SIGINT ignored; rclpy would
    take it over all the same); None where nothing was changed.  Every
    signal after the first is ignored: it only sets the event again.
    """
    untaken = (signal.default_int_handler, signal.SIG_DFL, signal.SIG_IGN)
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) not in untaken):
        return None

    def handler(signum, frame):
        event.set()
    return {signum: signal.signal(signum, handler) for signum in (signal.SIGINT, signal.SIGTERM)}


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
