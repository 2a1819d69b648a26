"""
Where the wall time of ``dip_test`` goes: stepping, recording/metrics, figures.

For the shipped campaign in lock-step over TCP, with ``dip_client`` (LQR)
started afresh for each episode (``--per-episode``), interleaved runs of:

- *stepping*: a bare lock-step ``PlantServer`` playing the campaign once
  (no recording, no observers), the same ``dip_client`` command per episode,
  started by a plain loop: what any harness pays to step the campaign;
- *dip_test*: ``run_campaign`` as ``dip_test --no-figures`` runs it: the
  same, plus recording (MCAP), the collector and response times, metrics,
  criteria, summary.md, JUnit and JSON;
- *figures*: ``dip_report``'s four figures per episode, drawn from the
  recordings of the last dip_test run.

Prints the medians and the overhead of dip_test over stepping.  The
command's start-up (Python, numpy, scipy: about a second per episode) is
in both; so that the recording's own cost shows too, the same split is
printed for the LQR as an in-process Python controller (no processes, no
sockets): a bare host stepping loop against ``run_campaign(controller=...)``
with and without recording.

    python bench/bench_dip_test.py [--runs 3] [--campaign campaign.yaml]

Target (issue 15): dip_test without figures <= 1.2 x stepping.
"""

import argparse
from pathlib import Path
import statistics
import subprocess
import sys
import tempfile
import threading
import time

from _common import REPO  # also puts this checkout on sys.path

from plant_server_ros import PlantServer
from plant_server_ros.clients.controllers import lqr
from plant_server_ros.conditions.scenario import load, ScenarioPlayer
from plant_server_ros.runtime.host import PlantHost
from plant_server_ros.testing import outputs, run_campaign

COMMAND = [sys.executable, '-m', 'plant_server_ros.clients.cli', '--port', '{port}',
           '--seconds', '{duration}']


def stepping(campaign):
    """Wall time of the bare campaign: plant server + the command per episode."""
    scenarios = load(campaign)
    ready = threading.Event()
    server = PlantServer(bind_addr=('127.0.0.1', 0), mode='lockstep', seed=1,
                         scenario=ScenarioPlayer(scenarios, repeat=1), udp_addr=('127.0.0.1', 0),
                         server_ready_event=ready)
    thread = threading.Thread(target=server.start, daemon=True)
    thread.start()
    ready.wait(10)
    began = time.perf_counter()
    for scenario in scenarios:
        args = [a.format(port=server.port, duration=scenario.duration) for a in COMMAND]
        subprocess.run(args, check=True, stdout=subprocess.DEVNULL, cwd=REPO)
    elapsed = time.perf_counter() - began
    server.stop()
    thread.join(10)
    server.close()
    return elapsed


def stepping_in_process(campaign, controller):
    """Wall time of a bare host loop: reset, then control until the scenario ends."""
    host = PlantHost({'mode': 'lockstep', 'seed': 1},
                     scenario=ScenarioPlayer(load(campaign), repeat=1))
    host.start()
    began = time.perf_counter()
    for _ in range(len(host.plant.scenarios.scenarios)):
        sample = host.reset().result(1.0)
        while host.halted is None:
            sample = host.control(controller(sample.measured)).result(1.0)
    elapsed = time.perf_counter() - began
    host.stop()
    return elapsed


def in_process(campaign, controller, out):
    """Wall time of run_campaign with a Python controller (``out`` None: no recording)."""
    began = time.perf_counter()
    result = run_campaign(campaign, controller=lambda m, t: controller(m), out=out)
    elapsed = time.perf_counter() - began
    assert result.passed, result.explain()
    return elapsed, result.timings['metrics_s']


def dip_test(campaign, out):
    """Wall time of run_campaign without figures; the result (for the figures)."""
    began = time.perf_counter()
    # A generous timeout: on a shared machine the command's start-up varies a lot.
    result = run_campaign(campaign, COMMAND, per_episode=True, out=out, figures=False,
                          junit=f'{out}/junit.xml', json_file=f'{out}/results.json', cwd=REPO,
                          timeout=30.0)
    elapsed = time.perf_counter() - began
    assert result.passed, result.explain()
    return elapsed, result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--runs', type=int, default=3)
    parser.add_argument('--campaign', default='campaign.yaml')
    args = parser.parse_args()
    steps, tests, metrics, closing = [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        result = None
        for k in range(args.runs):
            steps.append(stepping(args.campaign))
            elapsed, result = dip_test(args.campaign, f'{tmp}/run{k}')
            tests.append(elapsed)
            metrics.append(result.timings['metrics_s'])
            closing.append(result.timings['close_s'])
            print(f'run {k + 1}: stepping {steps[-1]:.2f} s, dip_test {tests[-1]:.2f} s',
                  flush=True)
        began = time.perf_counter()
        outputs.draw_figures(result, Path(tmp) / 'figures')
        figures = time.perf_counter() - began
        control = lqr(0.01, 20.0)
        bare, plain, recorded, py_metrics = [], [], [], []
        for k in range(args.runs):
            bare.append(stepping_in_process(args.campaign, control))
            plain.append(in_process(args.campaign, control, None)[0])
            elapsed, spent = in_process(args.campaign, control, f'{tmp}/py{k}')
            recorded.append(elapsed)
            py_metrics.append(spent)
    step, test = statistics.median(steps), statistics.median(tests)
    episodes = len(result.episodes)
    print(f'\n{args.campaign}: {episodes} episodes, lock-step, TCP, dip_client per episode, '
          f'{args.runs} interleaved runs (medians)')
    print(f'stepping (bare server + command):  {step:7.2f} s')
    print(f'dip_test without figures:          {test:7.2f} s  '
          f'({(test / step - 1) * 100:+.1f} % over stepping; target <= +20 %)')
    print(f'  of which metrics + verdicts:     {statistics.median(metrics):7.3f} s')
    print(f'  of which closing (flush MCAP):   {statistics.median(closing):7.3f} s')
    print(f'  recording/metrics/outputs total: {test - step:7.2f} s (dip_test - stepping)')
    print(f'figures ({4 * episodes} PNG):              {figures:7.2f} s')
    b, p, r = (statistics.median(v) for v in (bare, plain, recorded))
    print(f'\nthe same LQR in process (no sockets, no processes), {args.runs} runs (medians)')
    print(f'stepping (bare host loop):         {b:7.2f} s')
    print(f'run_campaign, no recording:        {p:7.2f} s  ({(p / b - 1) * 100:+.1f} %)')
    print(f'run_campaign, recording (MCAP):    {r:7.2f} s  ({(r / b - 1) * 100:+.1f} %)')
    print(f'  of which metrics + verdicts:     {statistics.median(py_metrics):7.3f} s')


if __name__ == '__main__':
    main()
