"""
The reference LQR on a campaign (default ``faults.yaml``), in lock-step: its table.

Each episode plays the campaign's next scenario on a lock-step plant host,
the LQR (``clients.controllers.lqr``, saturated at the actuator limit) acting
on the measured state, until the scenario's time is over or the plant halts.
The metrics are taken on the true state and judged against the scenario's
criteria (``analysis.metrics``), one line per episode; the faults' events
are listed under it.

    python bench/lqr_on_faults.py [--campaign faults.yaml] [--noise 0.0]
"""

import argparse

from _common import REPO  # noqa: F401 - puts this checkout on sys.path
from plant_server_ros.analysis.metrics import check_criteria, episode_metrics
from plant_server_ros.clients.controllers import lqr
from plant_server_ros.conditions.scenario import find, load
from plant_server_ros.runtime.host import PlantHost
from plant_server_ros.runtime.schedule import PlantHalted


def play(host, controller):
    """Run one episode from its reset; return ``(t, x, u, why it ended)``."""
    sample = host.reset().result(1.0)
    t, x, u = [sample.t], [sample.true], []
    while True:
        force = controller(sample.measured)
        try:
            sample = host.control(force).result(1.0)
        except PlantHalted:
            break
        t.append(sample.t)
        x.append(sample.true)
        u.append(sample.force)
        if host.halted:
            break
    return t, x, u, host.halted or 'end'


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--campaign', default='faults.yaml')
    parser.add_argument('--noise', type=float, default=0.0, help='sensor noise std')
    args = parser.parse_args()
    path = str(find(args.campaign))
    scenarios = load(path)
    host = PlantHost({'mode': 'lockstep', 'sensor_noise_std': args.noise}, scenario=path)
    host.start()
    controller = lqr(host.dt, max_force=host.plant.max_force)
    print(f'reference LQR on {args.campaign} (lock-step, dt = {host.dt} s, sensor noise '
          f'{args.noise:g}); metrics on the true state')
    try:
        for number, scenario in enumerate(scenarios, start=1):
            t, x, u, ended = play(host, controller)
            events = [e for e in host.events if e.kind.startswith(('fault', 'overload'))]
            host.events.clear()
            metrics = episode_metrics(t, x, u, host.plant.max_force, ended)
            verdict = check_criteria(metrics, scenario.criteria)
            failed = [c['criterion'] for c in verdict['checks'] if not c['passed']]
            print(f'{number}. {scenario.name} (seed {scenario.seed}): '
                  f'{"PASS" if verdict["passed"] else "FAIL " + ", ".join(failed)}; '
                  f'{metrics["duration"]:.2f} s, max|theta| '
                  f'{max(metrics["max_abs_th1"], metrics["max_abs_th2"]):.4f} rad, '
                  f'max|x| {metrics["max_abs_x"]:.4f} m, rms F {metrics["rms_force"]:.2f} N, '
                  f'peak F {metrics["peak_force"]:.2f} N; ended: {ended}')
            on = sum(e.kind == 'fault_on' for e in events)
            print(f'   fault events: {len(events)} ('
                  + ', '.join(sorted({e.kind for e in events})) + ')'
                  + (f'; {on} returns of an intermittent fault' if on else ''))
    finally:
        host.stop()


if __name__ == '__main__':
    main()
