"""
The controller command under test: started with the plant's address, ended with its tree.

The address reaches the command twice, so any controller can take it:
placeholders in its arguments (``{host}``, ``{port}``, ``{udp_port}``,
``{namespace}``, ``{duration}``, ``{dt}``, ``{device}``: the serial door's
line) and environment variables (``DIP_HOST``, ``DIP_PORT``,
``DIP_UDP_PORT``, ``DIP_NAMESPACE``, ``DIP_DURATION``, ``DIP_DT``,
``DIP_DEVICE``, plus ``ROS_DOMAIN_ID`` for the ROS door).

What it starts ends with it.  The process runs in a session of its own, so
that ending it (SIGINT, then SIGTERM, SIGKILL only if it hangs) reaches its
process group; on Linux it also carries a tag in its environment
(``DIP_TEST_RUN``), which every process it starts inherits, and it is
started through a small wrapper that sets ``PR_SET_PDEATHSIG`` (SIGKILL
should ``dip_test`` die without ending it).  When it ends, every process of
its tree still there (found under ``/proc``: its descendants, and the
processes that carry its tag, those that left its session with ``setsid``
or were re-parented away too) gets SIGTERM, then SIGKILL after the grace.
``dip_test`` itself is a child subreaper (:func:`become_subreaper`), so
what escapes the tag (a process started with an empty environment) is
re-parented to it and ended with the run (:func:`end_descendants`).

Its stderr is read in chunks and only its end is kept: the last
:data:`STDERR_LINES` lines, each cut to its last :data:`LINE_BYTES` bytes
(a line without end holds no more), so a flood, with newlines or without,
costs nothing.
"""

import collections
import itertools
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time

STDERR_LINES = 20       # last stderr lines kept for the report
LINE_BYTES = 500        # a longer line is kept as its last LINE_BYTES bytes
RUN_VARIABLE = 'DIP_TEST_RUN'
_CHUNK = 16 * 1024
_REAP_WAIT = 5.0        # s to wait for a SIGKILLed process to be gone

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36

# Sets PR_SET_PDEATHSIG (SIGKILL when dip_test dies), then becomes the command.
_WRAPPER = (
    'import os, sys\n'
    'try:\n'
    '    import ctypes\n'
    '    ctypes.CDLL(None).prctl(1, 9, 0, 0, 0)\n'
    'except Exception:\n'
    '    pass\n'
    'if os.getppid() != int(sys.argv[1]):\n'
    '    os._exit(1)\n'
    'try:\n'
    '    os.execvp(sys.argv[2], sys.argv[2:])\n'
    'except OSError as exc:\n'
    '    sys.stderr.write(f"cannot start {sys.argv[2]}: {exc.strerror}\\n")\n'
    '    os._exit(127)\n')


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


# -- the process tree (Linux: /proc) ---------------------------------------------------

def _linux():
    return sys.platform.startswith('linux') and os.path.isdir('/proc/self')


def become_subreaper():
    """Make this process a child subreaper (Linux): orphans below it re-parent to it."""
    if not _linux():
        return False
    try:
        import ctypes
        return ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError, ImportError):
        return False


def new_run_tag():
    """Return a tag for one run; each process of it gets ``RUN/n`` (:class:`ControllerProcess`)."""
    return f'{os.getpid()}-{secrets.token_hex(6)}'


def _processes():
    """Return ``{pid: (ppid, state, start time, group)}`` of every process (none off Linux)."""
    table = {}
    try:
        names = os.listdir('/proc')
    except OSError:
        return table
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f'/proc/{name}/stat', 'rb') as f:
                data = f.read()
            fields = data[data.rindex(b')') + 2:].split()
            table[int(name)] = (int(fields[1]), fields[0].decode(), int(fields[19]),
                                int(fields[2]))
        except (OSError, ValueError, IndexError):
            continue
    return table


def _descendants(roots, table):
    children = {}
    for pid, (ppid, *_) in table.items():
        children.setdefault(ppid, []).append(pid)
    found, todo = set(), list(roots)
    while todo:
        for child in children.get(todo.pop(), ()):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _tagged(table, exact=None, prefix=None):
    """Return the pids whose environment holds ``DIP_TEST_RUN`` = ``exact`` (or ``prefix``...)."""
    key = f'{RUN_VARIABLE}='.encode()
    me = os.getpid()
    found = set()
    for pid in table:
        if pid == me:
            continue
        try:
            with open(f'/proc/{pid}/environ', 'rb') as f:
                entries = f.read().split(b'\0')
        except OSError:
            continue
        for entry in entries:
            if entry.startswith(key):
                value = entry[len(key):].decode('utf-8', 'replace')
                if value == exact or (prefix is not None and value.startswith(prefix)):
                    found.add(pid)
                break
    return found


def _alive(pid, start, table):
    """Return True if ``pid`` is still the process seen (same start time), not a zombie."""
    entry = table.get(pid)
    return entry is not None and entry[2] == start and entry[1] not in ('Z', 'X')


def terminate(members, grace):
    """
    End ``members`` (``{pid: start time}``): SIGTERM, SIGKILL after ``grace`` s; reap ours.

    A pid is signalled only while it is the process seen (its start time),
    so a pid reused meanwhile is left alone.
    """
    me = os.getpid()
    members = {pid: start for pid, start in members.items() if pid != me}
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, _REAP_WAIT)):
        table = _processes()
        left = [pid for pid, start in members.items() if _alive(pid, start, table)]
        if not left:
            break
        for pid in left:
            try:
                os.kill(pid, sig)
            except (ProcessLookupError, PermissionError):
                pass
        deadline = time.monotonic() + wait
        while True:
            _reap(members)
            table = _processes()
            if not any(_alive(pid, start, table) for pid, start in members.items()) or \
                    time.monotonic() > deadline:
                break
            time.sleep(0.02)
    _reap(members)


def _reap(pids):
    """Collect the exit of those of ``pids`` that are (re-parented) children of this process."""
    for pid in pids:
        try:
            os.waitpid(pid, os.WNOHANG)
        except (ChildProcessError, OSError):
            pass


def end_run(tag, grace=2.0):
    """End every process still carrying a tag of the run ``tag`` (what escaped its process)."""
    if not _linux() or tag is None:
        return
    table = _processes()
    terminate({pid: table[pid][2] for pid in _tagged(table, prefix=f'{tag}/')
               if pid in table}, grace)


def end_descendants(grace=2.0, keep=()):
    """End every descendant of this process but ``keep`` (pids): for ``dip_test`` itself."""
    if not _linux():
        return
    table = _processes()
    found = _descendants([os.getpid()], table) - set(keep)
    terminate({pid: table[pid][2] for pid in found}, grace)


class ControllerProcess:
    """One run of the controller command; :meth:`end` it (idempotent)."""

    _numbers = itertools.count(1)

    def __init__(self, command, address, env=None, cwd=None, run=None):
        self.command = expand(command, address)
        check_command(self.command)
        self.started = time.monotonic()
        self.ended_by = None            # the signal that ended it, if dip_test did
        self._lines = collections.deque(maxlen=STDERR_LINES)   # (number, bytes cut, kept)
        self._ended = 0                 # lines ended so far (each episode's start marks one)
        self._partial = (0, b'')        # the line being written, not ended yet
        self._lock = threading.Lock()
        env = environment(address, env)
        self.tag = f'{run or new_run_tag()}/{next(self._numbers)}'
        env[RUN_VARIABLE] = self.tag
        argv = self.command
        if _linux() and sys.executable:
            argv = [sys.executable, '-I', '-S', '-c', _WRAPPER, str(os.getpid())] + argv
        try:
            self.proc = subprocess.Popen(
                argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE, start_new_session=True)
        except OSError as exc:
            raise CommandError(f'cannot start {self.command[0]}: {exc.strerror}') from None
        self._reader = threading.Thread(target=self._read, daemon=True, name='controller-stderr')
        self._reader.start()

    def _read(self):
        """Keep the end of its stderr: the last lines, each its last LINE_BYTES."""
        fd = self.proc.stderr.fileno()
        cut, line = 0, bytearray()
        while True:
            try:
                chunk = os.read(fd, _CHUNK)
            except OSError:
                break
            if not chunk:
                break
            parts = chunk.split(b'\n')
            ended = self._ended + len(parts) - 1
            if len(parts) > STDERR_LINES + 1:
                # Only the last lines are kept: those before them are not even looked at.
                cut, line = 0, bytearray()
                parts = parts[-(STDERR_LINES + 1):]
            done = []
            for i, part in enumerate(parts):
                line += part
                if len(line) > LINE_BYTES:
                    cut += len(line) - LINE_BYTES
                    del line[:len(line) - LINE_BYTES]
                if i < len(parts) - 1:
                    done.append((cut, bytes(line)))
                    cut, line = 0, bytearray()
            done = done[-STDERR_LINES:]
            with self._lock:
                self._lines.extend((ended - len(done) + k, c, d) for k, (c, d) in enumerate(done))
                self._ended = ended
                self._partial = (cut, bytes(line))
        try:
            self.proc.stderr.close()
        except OSError:
            pass

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

    def _tree(self):
        """Return ``{pid: start time}`` of what it started that is still there (Linux)."""
        if not _linux():
            return {}
        table = _processes()
        found = _descendants([self.proc.pid], table) | _tagged(table, exact=self.tag)
        found.discard(self.proc.pid)
        return {pid: table[pid][2] for pid in found if pid in table}

    def end(self, grace=2.0):
        """
        End it and everything it started; return its exit code.

        SIGINT, then SIGTERM, SIGKILL only if it still hangs, to its process
        group; then SIGTERM and SIGKILL to every process of its tree left.
        """
        tree = self._tree()             # before it dies: then its children re-parent
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
        tree.update(self._tree())
        # Its group, when it went first (a member still holds the group id, so
        # the id is still this group's).
        group = self.proc.pid
        tree.update({pid: entry[2] for pid, entry in _processes().items()
                     if entry[3] == group and pid != group})
        terminate(tree, grace)
        self._reader.join(1.0)
        return self.returncode

    def mark(self):
        """Return where its stderr stands now: :meth:`tail` of it gives only what came after."""
        with self._lock:
            return self._ended

    def tail(self, since=0):
        """
        Return the last stderr lines (a list), each at most LINE_BYTES of the line's end.

        ``since``: a :meth:`mark`; the lines ended before it are left out (an
        episode's own lines, when one process serves several).
        """
        with self._lock:
            lines = [(c, d) for n, c, d in self._lines if n >= since]
            if self._partial[1] or self._partial[0]:
                lines.append(self._partial)
        out = []
        for cut, data in lines[-STDERR_LINES:]:
            text = data.decode('utf-8', 'replace').rstrip('\r')
            out.append(f'[{cut} bytes cut] {text}' if cut else text)
        return out


def stderr_mark(proc):
    """Return where an episode's stderr begins: ``(process, its mark)``, None without one."""
    return None if proc is None else (proc, proc.mark())


def episode_stderr(proc, mark):
    """Return ``proc``'s stderr lines since ``mark`` (all of them: a process new since)."""
    return proc.tail(mark[1] if mark is not None and mark[0] is proc else 0)


# -- how a run ends on a signal ----------------------------------------------------------

class RunGuard:
    """
    A signal ends the run as Ctrl-C does; the ones after it wait for the wrap-up.

    Entered in the main thread, it takes SIGINT (where it raises
    KeyboardInterrupt, as Python's own handler does), SIGTERM and SIGHUP
    (where they would end the process) for the run: the first raises
    KeyboardInterrupt in the run, so the controller is ended and what was
    judged is written; any later one (a second Ctrl-C, a CI job's SIGTERM
    after its SIGINT) is noted on stderr and waits for that, as do signals
    once the run is wrapping up (:meth:`wrap_up`).  On leaving, the handlers
    are restored (``restore`` False: ``dip_test`` ignores them from there to its
    exit, a moment later),
    and with ``redeliver`` a SIGTERM or SIGHUP received is sent again, so the
    process ends as it would have (``dip_test`` itself exits 1 instead).
    Nested guards are one: the outer one holds.
    """

    current = None
    _SIGNALS = ('SIGINT', 'SIGTERM', 'SIGHUP')

    def __init__(self, redeliver=True, restore=True):
        self.redeliver, self.restore = redeliver, restore
        self.stopping = False
        self.received = []
        self._saved = {}
        self._told = False
        self._outer = None

    def __enter__(self):
        if threading.current_thread() is not threading.main_thread():
            return self                     # signals reach the main thread only
        self._outer = RunGuard.current
        if self._outer is not None:
            return self._outer
        RunGuard.current = self
        for name in self._SIGNALS:
            sig = getattr(signal, name, None)
            if sig is None:
                continue
            handler = signal.getsignal(sig)
            if handler is (signal.default_int_handler if sig == signal.SIGINT
                           else signal.SIG_DFL):
                self._saved[sig] = handler
                signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        self.received.append(signum)
        if not self.stopping:
            self.stopping = True
            raise KeyboardInterrupt
        if not self._told:
            self._told = True
            try:
                # Not print(): the main thread may be inside a write to sys.stderr.
                os.write(2, b'dip_test: stopping: ending the controller and writing what was '
                            b'judged first\n')
            except OSError:
                pass

    def wrap_up(self):
        """From now on a signal waits: the run is ending and writing what it judged."""
        self.stopping = True

    def __exit__(self, *exc):
        if RunGuard.current is not self:
            return False
        RunGuard.current = None
        self.stopping = True
        if not self.restore:
            # dip_test is done and exits now: a signal in its interpreter's shutdown
            # (where Python's handlers are gone) would end it with a signal, not 1.
            for sig in self._saved:
                signal.signal(sig, signal.SIG_IGN)
            return False
        for sig, handler in self._saved.items():
            signal.signal(sig, handler)
        self._saved = {}
        again = [s for s in self.received if s != signal.SIGINT]
        if self.redeliver and again:
            os.kill(os.getpid(), again[0])
        return False
