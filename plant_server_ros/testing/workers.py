"""
``dip_test --workers N``: the run's episodes on N worker processes at once.

Each worker is a process of its own (``multiprocessing``'s spawn: nothing
of this process's threads or DDS is inherited) that plays chunks of
episodes, each chunk on a plant, ports, DDS domain and controller process
of its own (:func:`~.runner.play_chunk`), and sends each verdict back as it
is judged.  The chunks are cut from the run's episodes by their number
alone (:func:`chunks`), never by the number of workers, and every episode
has its own seed (:func:`~.runner.seeded`): in lock-step a controller that
keeps no state from one episode to the next gives the same metrics, episode
by episode, on 1 worker or 16.

A worker that dies (killed, crashed) fails the episode it was playing with
the reason (its exit status) and the rest of its chunk goes to a new
worker; one that sends nothing for longer than an episode can take (the
scenario's duration plus twice the timeout and a margin: its own runner
fails a hung controller well before) is ended and counted as dead, and so is
one whose heartbeat (a thread of its own, every half second) stops for
:data:`STILL` s: a stopped or frozen process.
Ctrl-C (or SIGTERM) ends every worker, and each ends its controller's
process tree; what escaped goes with the run's tag
(:func:`~.controller_process.end_run`).
"""

import math
import multiprocessing
import os
from pathlib import Path
import queue
import shutil
import signal
import threading
import time

from .judge import EpisodeResult, evaluate, SetupError

MAX_CHUNK = 25            # episodes a worker plays on one plant and controller process
CHUNKS = 16               # a run is cut into about this many chunks (at least)
MARGIN = 10.0             # s on top of an episode's longest, before a silent worker is hung
BEAT = 0.5                # s between a worker's heartbeats (a thread of its own)
STILL = 10.0              # s without a heartbeat: the worker process is stopped or stuck
_POLL = 0.2               # s between looks at the workers
# A worker is one core's plant and controller: their math libraries take one
# thread each unless the user said otherwise (Ray does the same for its
# workers).  A controller's numpy/scipy start-up otherwise spins a thread per
# core: 1.5 cores per episode on one worker, and --workers 2 on 2 cores gave
# 1.70x, not 2 (bench_montecarlo.py).
ONE_THREAD = ('OMP_NUM_THREADS', '1')


def chunks(slots):
    """Return ``slots`` cut into chunks whose size depends on their number only."""
    size = max(1, min(MAX_CHUNK, math.ceil(len(slots) / CHUNKS)))
    return [slots[i:i + size] for i in range(0, len(slots), size)]


def failed(slot, reason, door, mode):
    """Return the EpisodeResult of an episode a worker could not play."""
    result = EpisodeResult(slot.index, slot.scenario.name, slot.scenario.seed, slot.play,
                           slot.key, slot.name, set_name=slot.set_name)
    return evaluate(result, None, slot.scenario, 0.0, None, reason)


def _die_with_parent():
    """Ask the kernel for a SIGTERM when the dip_test process dies (Linux)."""
    try:
        import ctypes
        ctypes.CDLL(None).prctl(1, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _worker_main(play_chunk, job, inbox, outbox, number):
    """Play each chunk sent (the worker process); ``None`` ends it."""
    _die_with_parent()
    signal.signal(signal.SIGTERM, _interrupt)
    # Its own DDS domain: the one the caller named is the run's, not each plant's.
    os.environ.pop('DIP_TEST_DOMAIN_ID', None)
    os.environ.setdefault(*ONE_THREAD)

    def beat():
        while True:
            time.sleep(BEAT)
            outbox.put(('beat', number, None, None))
    threading.Thread(target=beat, daemon=True, name='dip_test-worker-beat').start()
    outbox.put(('ready', number, None, os.getpid()))
    try:
        while True:
            item = inbox.get()
            if item is None:
                return
            chunk_id, slots, record = item
            try:
                episodes = play_chunk(job, slots, lambda r: outbox.put(
                    ('episode', number, chunk_id, r)), record=record, tag_prefix=job.tag)
            except SetupError as exc:
                outbox.put(('error', number, chunk_id, str(exc)))
                continue
            outbox.put(('done', number, chunk_id, {e.index: e.files for e in episodes}))
    except KeyboardInterrupt:
        return


class _Worker:
    """One worker process as the dispatcher sees it."""

    def __init__(self, ctx, play, job, outbox, number):
        self.number = number
        self.inbox = ctx.Queue()
        self.process = ctx.Process(target=_worker_main,
                                   args=(play, job, self.inbox, outbox, number),
                                   name=f'dip_test-worker-{number}', daemon=True)
        self.process.start()
        self.ready = False
        self.chunk = None           # (chunk id, slots) it plays
        self.done = set()           # indices of that chunk judged so far
        self.heard = time.monotonic()       # its last progress (ready, a verdict, done)
        self.beat = time.monotonic()        # its last heartbeat, or any message

    def give(self, chunk_id, slots, record):
        self.chunk, self.done = (chunk_id, slots), set()
        self.heard = time.monotonic()
        self.inbox.put((chunk_id, slots, record))

    def end(self, grace):
        """End the process: SIGTERM (it ends its controller), SIGKILL after ``grace`` s."""
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(grace)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5.0)


def run_workers(campaign, play, job, slots, workers, heard, record=None):
    """
    Play ``slots`` on ``workers`` processes; their EpisodeResults go into ``campaign``.

    ``play``: :func:`~.runner.play_chunk` (what a worker calls with each chunk).
    ``heard(result)`` hears each verdict as it comes (any order); ``record``:
    the directory the recordings end in (each chunk records apart first).
    """
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        raise SetupError(f'workers must be an integer >= 1, got {workers!r}')
    todo = [(k, chunk) for k, chunk in enumerate(chunks(slots))]
    longest = max((s.scenario.duration or 0.0) for s in slots) if slots else 0.0
    hung_after = longest + 2 * job.timeout + MARGIN
    ctx = multiprocessing.get_context('spawn')
    outbox = ctx.Queue()
    pool = {}
    count = min(workers, len(todo))
    made = 0

    def spawn():
        nonlocal made
        made += 1
        pool[made] = _Worker(ctx, play, job, outbox, made)
    _watch.unready = 0
    for _ in range(count):
        spawn()
    scratch = None if record is None else Path(record) / '.chunks'
    judged = {}
    try:
        while len(judged) < len(slots):
            for w in pool.values():
                if w.ready and w.chunk is None and todo:
                    chunk_id, chunk = todo.pop(0)
                    where = None if scratch is None else str(scratch / f'{chunk_id:05d}')
                    w.give(chunk_id, chunk, where)
            try:
                kind, number, chunk_id, payload = outbox.get(timeout=_POLL)
            except queue.Empty:
                kind = None
            if kind is not None:
                w = pool.get(number)
                if w is not None:
                    w.beat = time.monotonic()
                    if kind != 'beat':
                        w.heard = w.beat
                if kind == 'ready' and w is not None:
                    w.ready = True
                elif kind == 'episode':
                    if payload.index not in judged:
                        judged[payload.index] = payload
                        campaign.episodes.append(payload)
                        heard(payload)
                    if w is not None:
                        w.done.add(payload.index)
                elif kind == 'done' and w is not None:
                    _move_files(payload, judged, record)
                    w.chunk = None
                elif kind == 'error' and w is not None:
                    for slot in w.chunk[1]:
                        if slot.index not in judged:
                            _fail(campaign, judged, heard, job, slot,
                                  f'worker {number}: {payload}')
                    w.chunk = None
            _watch(pool, campaign, judged, heard, job, hung_after, todo, spawn)
    finally:
        for w in pool.values():
            try:
                w.inbox.put(None)
            except (OSError, ValueError):
                pass
        ends = time.monotonic() + job.grace
        for w in pool.values():
            w.process.join(max(0.0, ends - time.monotonic()))
        for w in pool.values():
            w.end(job.grace + 2.0)
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    campaign.timings['workers'] = made


def _fail(campaign, judged, heard, job, slot, reason):
    result = failed(slot, reason, job.door, job.mode)
    judged[slot.index] = result
    campaign.episodes.append(result)
    heard(result)


def _watch(pool, campaign, judged, heard, job, hung_after, todo, spawn):
    """Fail the episode of a worker that died or hangs; its chunk's rest goes back."""
    now = time.monotonic()
    for number, w in list(pool.items()):
        alive = w.process.is_alive()
        silent = now - w.heard
        still = now - w.beat
        hung = alive and (silent > hung_after if w.chunk is not None
                          else not w.ready and silent > hung_after)
        stopped = alive and w.ready and still > STILL
        if alive and not (hung or stopped):
            continue
        if hung or stopped:
            why = (f'worker {number} hung: no heartbeat for {still:.0f} s' if stopped else
                   f'worker {number} hung: no verdict for {silent:.0f} s')
            w.end(job.grace)
        else:
            code = w.process.exitcode
            how = f'killed by {signal.Signals(-code).name}' if code is not None and code < 0 \
                else f'exit code {code}'
            why = f'worker {number} died ({how})'
        del pool[number]
        if w.chunk is not None:
            chunk_id, slots = w.chunk
            left = [s for s in slots if s.index not in judged]
            if left:
                _fail(campaign, judged, heard, job, left[0], why)   # the one it was playing
                if left[1:]:
                    todo.insert(0, (chunk_id, left[1:]))
        elif not w.ready:
            _watch.unready += 1
            if _watch.unready >= 3:          # it cannot even start: the rest cannot run
                while todo:
                    for slot in todo.pop(0)[1]:
                        _fail(campaign, judged, heard, job, slot, f'{why} before it was ready')
        if todo:
            spawn()


_watch.unready = 0


def _move_files(files, judged, record):
    """Move a chunk's recordings into the run's ``record`` directory; name them on the results."""
    for index, paths in files.items():
        moved = []
        for path in paths:
            old = Path(path)
            new = Path(record) / old.name if record is not None else old
            try:
                os.replace(old, new)
            except OSError:
                new = old
            moved.append(str(new))
        if index in judged:
            judged[index].files = moved
