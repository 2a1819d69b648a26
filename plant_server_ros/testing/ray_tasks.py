"""
``dip_test --ray [ADDRESS]``: the run's episodes as Ray tasks, on one machine or a cluster.

Ray is an optional extra (``pip install 'plant_server_ros[ray]'``); without
it ``--ray`` is refused by name and everything else works.  Each task plays
one chunk of episodes (:func:`~.workers.chunks`: the same chunks as
``--workers``) on a plant, ports, DDS domain and controller process of its
own, on whichever node Ray puts it (:func:`~.runner.play_chunk`); the
verdicts come back to this process, which writes the report as for a run
on one machine: the same episodes, seeds, metrics and verdict.

A task that fails (its worker process died, its node was lost, it hung
past what its episodes can take and was cancelled) fails no episode at
once: its chunk is played again one episode per task, and an episode whose
own task fails is failed with the reason; the others go on.  Ctrl-C
cancels every task (their worker processes are killed, and with them their
controllers: each controller dies with the process that started it).

Without an address a local Ray instance is started for the run (and shut
down after it); with one (``auto``, ``ray://head:10001``) the run joins that
cluster (docs/montecarlo.md: how to start one, what each node needs).
Recordings stay where the tasks ran: a Ray run records nothing (``--out``
holds the summary and the histograms).
"""

from dataclasses import replace
import os
import time

from .judge import SetupError
from .workers import chunks, failed, MARGIN

_WAIT = 0.5               # s between looks at the tasks


def _import_ray():
    try:
        import ray
    except ImportError:
        raise SetupError("--ray needs Ray: pip install 'plant_server_ros[ray]' (or "
                         "pip install 'ray>=2.9')") from None
    return ray


def _play(play_chunk, job, slots):
    """Play a chunk in a Ray worker (a task): its EpisodeResults."""
    os.environ.pop('DIP_TEST_DOMAIN_ID', None)      # a DDS domain of its own
    return play_chunk(job, slots, record=None, tag_prefix=job.tag)


def run_ray(campaign, play, job, slots, address, heard, record=None, num_cpus=None):
    """
    Play ``slots`` as Ray tasks; their EpisodeResults go into ``campaign``.

    ``play``: :func:`~.runner.play_chunk`, what each task calls with its chunk.
    ``address``: ``'local'`` (or None) starts a Ray instance here
    (``num_cpus``: its CPUs, default all), else the cluster to join.
    """
    ray = _import_ray()
    local = address in (None, 'local')
    if ray.is_initialized():
        started = False
    else:
        try:
            if local:
                ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False,
                         configure_logging=False)
            else:
                ray.init(address=address, log_to_driver=False, configure_logging=False)
        except Exception as exc:  # noqa: B902 - Ray's own errors: one line
            raise SetupError(f'--ray {address or "local"}: cannot start or join Ray: '
                             f'{type(exc).__name__}: {exc}') from None
        started = True
    longest = max((s.scenario.duration or 0.0) for s in slots) if slots else 0.0
    per_episode = longest + 2 * job.timeout
    task = ray.remote(num_cpus=1, max_retries=0)(_play)
    remote_job = replace(job, values={k: v for k, v in job.values.items() if k != 'record'})
    pending = {}

    def submit(chunk):
        pending[task.remote(play, remote_job, chunk)] = (chunk, time.monotonic())
    try:
        for chunk in chunks(slots):
            submit(chunk)
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1, timeout=_WAIT)
            now = time.monotonic()
            for ref in done:
                chunk, _ = pending.pop(ref)
                try:
                    results = ray.get(ref)
                except Exception as exc:  # noqa: B902 - a task's failure: split, then a verdict
                    _failed_task(campaign, job, chunk, exc, heard, submit)
                    continue
                for result in results:
                    campaign.episodes.append(result)
                    heard(result)
            for ref, (chunk, since) in list(pending.items()):
                # Queued tasks wait for a CPU: only a task's own time counts, roughly.
                limit = len(chunk) * per_episode + MARGIN + len(pending) * per_episode
                if now - since > limit:
                    ray.cancel(ref, force=True)
    except KeyboardInterrupt:
        for ref in pending:
            try:
                ray.cancel(ref, force=True)
            except Exception:  # noqa: B902 - cancelling on the way out
                pass
        raise
    finally:
        if started:
            ray.shutdown()


def _failed_task(campaign, job, chunk, exc, heard, submit):
    """Play a failed task's chunk again one episode per task; fail a single episode."""
    if len(chunk) > 1:
        for slot in chunk:
            submit([slot])
        return
    why = str(exc).strip().splitlines()[0] if str(exc).strip() else ''
    result = failed(chunk[0], f'ray task failed: {type(exc).__name__}: {why}'[:500],
                    job.door, job.mode)
    campaign.episodes.append(result)
    heard(result)
