"""
The controller command under test: started with the plant's address, ended gracefully.

The address reaches the command twice, so any controller can take it:
placeholders in its arguments (``{host}``, ``{port}``, ``{udp_port}``,
``{namespace}``, ``{duration}``, ``{dt}``) and environment variables
(``DIP_HOST``, ``DIP_PORT``, ``DIP_UDP_PORT``, ``DIP_NAMESPACE``,
``DIP_DURATION``, ``DIP_DT``, plus ``ROS_DOMAIN_ID`` for the ROS door).  The
process runs in a session of its own, so that ending it (SIGINT, then
SIGTERM, SIGKILL only if it hangs) also ends what it started; its last
stderr lines are kept for the report.
"""

import collections
import os
import shutil
import signal
import subprocess
import threading
import time

STDERR_LINES = 20       # last stderr lines kept for the report


class CommandError(Exception):
    """The command cannot be started (not found, not executable, a bad placeholder)."""


def expand(command, address):
    """Return ``command`` with its placeholders filled from ``address`` (a dict)."""
    values = {k: '' if v is None else v for k, v in address.items()}
    try:
        return [str(arg).format(**values) for arg in command]
    except (KeyError, IndexError, ValueError) as exc:
        raise CommandError(f'bad placeholder in the controller command: {exc} (known: '
                           f'{", ".join("{" + k + "}" for k in sorted(values))})') from None


def environment(address, base=None):
    """Return the command's environment: ``base`` plus the ``DIP_*`` variables."""
    env = dict(os.environ if base is None else base)
    for key, value in address.items():
        if value is not None:
            env[f'DIP_{key.upper()}'] = str(value)
    env.setdefault('PYTHONUNBUFFERED', '1')
    return env


def check_command(command):
    """Raise CommandError unless ``command[0]`` can be run."""
    if not command:
        raise CommandError('no controller command (give it after --)')
    program = command[0]
    if os.sep in program:
        if not (os.path.isfile(program) and os.access(program, os.X_OK)):
            raise CommandError(f'controller command not found or not executable: {program}')
    elif shutil.which(program) is None:
        raise CommandError(f'controller command not found: {program}')


class ControllerProcess:
    """One run of the controller command; :meth:`end` it (idempotent)."""

    def __init__(self, command, address, env=None, cwd=None):
        self.command = expand(command, address)
        check_command(self.command)
        self.stderr = collections.deque(maxlen=STDERR_LINES)
        self.started = time.monotonic()
        self.ended_by = None            # the signal that ended it, if dip_test did
        try:
            self.proc = subprocess.Popen(
                self.command, env=environment(address, env), cwd=cwd,
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                text=True, errors='replace', start_new_session=True)
        except OSError as exc:
            raise CommandError(f'cannot start {self.command[0]}: {exc.strerror}') from None
        self._reader = threading.Thread(target=self._read, daemon=True, name='controller-stderr')
        self._reader.start()

    def _read(self):
        for line in self.proc.stderr:
            self.stderr.append(line.rstrip('\n'))

    @property
    def alive(self):
        """Return True while the process runs."""
        return self.proc.poll() is None

    @property
    def returncode(self):
        """Return the exit code (negative: killed by that signal), None while it runs."""
        return self.proc.poll()

    def describe_exit(self):
        """Return how it ended, in words: 'exit code 3', 'killed by SIGSEGV'."""
        code = self.returncode
        if code is None:
            return 'still running'
        if code < 0:
            try:
                return f'killed by {signal.Signals(-code).name}'
            except ValueError:
                return f'killed by signal {-code}'
        return f'exit code {code}'

    def wait(self, timeout):
        """Wait up to ``timeout`` s for it to exit by itself; True if it did."""
        try:
            self.proc.wait(timeout)
            return True
        except subprocess.TimeoutExpired:
            return False

    def end(self, grace=2.0):
        """End it: SIGINT, then SIGTERM, SIGKILL only if it still hangs; wait for its stderr."""
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
            if not self.alive:
                break
            self.ended_by = self.ended_by or sig.name
            try:
                # Its own session: the group id is its pid, so this ends what it started.
                os.killpg(self.proc.pid, sig)
            except (ProcessLookupError, PermissionError):
                pass
            if self.wait(grace):
                break
        if self.alive:
            self.proc.wait()
        self._reader.join(1.0)
        return self.returncode

    def tail(self):
        """Return the last stderr lines (a list)."""
        return list(self.stderr)
