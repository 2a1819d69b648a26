"""
The ROS door of ``dip_test``: the plant node in this process, the controller a ROS node.

The plant node (:class:`~..ros.plant_node.PlantNode`, topics ``state`` ->
``control`` under the namespace ``dip_test``) runs on an rclpy context of
the run's own, on a DDS domain of its own (``ROS_DOMAIN_ID``: the caller's
``DIP_TEST_DOMAIN_ID``, else one no DDS participant on this machine is on)
kept on loopback.
The controller command gets the same domain and ``DIP_NAMESPACE``.  A ROS
controller knows nothing of episodes, so the runner starts each one itself,
as the plant's ``reset`` service does (``host.reset()``: the same call,
without a service round trip), once the controller listens on ``state`` and
publishes on ``control``.  DDS is started only for this door.
"""

import os
import threading
import time

from .controller_process import (check_command, CommandError, ControllerProcess,
                                 episode_stderr, expand, stderr_mark)
from .episodes import EpisodeCollector
from .judge import EpisodeResult, evaluate, last_t, POLL, SetupError
from .timing import ResponseTimer
from ..conditions.scenario import find

NAMESPACE = 'dip_test'


class RosCampaign:
    """Play the campaign on an in-process plant node; the command is a ROS controller."""

    def __init__(self, scenarios, slots, values, command, repeat, timeout, per_episode, grace,
                 cwd, source=None, tag=None):
        os.environ.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
        try:
            import rclpy
            from rclpy.executors import SingleThreadedExecutor
            from rclpy.parameter import Parameter
            from ..ros.plant_node import PlantNode
        except ImportError as exc:
            raise SetupError(f'the ros door needs rclpy (source a ROS 2 setup): {exc}') \
                from None
        self.slots, self.command, self.timeout = slots, command, timeout
        self.per_episode, self.grace, self.cwd = per_episode, grace, cwd
        self.tag = tag
        self.proc = None
        from ..ros.dds_domain import domain_from_env
        self.domain, self._domain_hold = domain_from_env('DIP_TEST_DOMAIN_ID')
        self.timer = ResponseTimer(values.get('dt', 0.01))
        self.context = rclpy.Context()
        # args=[]: not sys.argv, which holds the controller command's own --ros-args
        # (dip_test ... -- dip_controller --ros-args -r __ns:={namespace} -p ...).
        rclpy.init(args=[], context=self.context, domain_id=self.domain)
        params = [Parameter('mode', value=values['mode']),
                  Parameter('scenario', value=str(find(source))),
                  Parameter('seed', value=int(values['seed']))]
        if values.get('record'):
            params.append(Parameter('record', value=str(values['record'])))
        try:
            self.node = PlantNode(namespace=NAMESPACE, context=self.context,
                                  parameter_overrides=params)
        except Exception as exc:  # noqa: B902 - a parameter the node refuses: one line
            rclpy.try_shutdown(context=self.context)
            self._release_domain()
            raise SetupError(f'the plant node did not start: {exc}') from None
        self.host = self.node.host
        self.host.plant.scenarios.repeat = repeat      # nothing played yet: FINISHED at the end
        self.collector = EpisodeCollector(self.host.plant, self.timer)
        self.host.add_observer(self.collector)
        control = self.host.control
        timer = self.timer

        def timed(u):
            timer.received()
            return control(u)
        self.host.control = timed
        # The node drops a non-finite control (and holds the force): count them.
        self.non_finite = 0
        finite = self.node._finite

        def counted(msg):
            ok = finite(msg)
            if not ok:
                self.non_finite += 1
            return ok
        self.node._finite = counted
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._spin = threading.Thread(target=self._spin_loop, daemon=True, name='dip_test-ros')
        self._stop = threading.Event()
        self._spin.start()
        self.address = {'host': None, 'port': None, 'udp_port': None, 'namespace':
                        f'/{NAMESPACE}', 'dt': self.host.dt, 'ros_domain_id': self.domain}
        try:
            check_command(expand(command, dict(self.address, duration='')))
        except CommandError as exc:
            self.close()
            raise SetupError(str(exc)) from None

    def _spin_loop(self):
        while not self._stop.is_set():
            try:
                self.executor.spin_once(timeout_sec=0.05)
            except Exception:  # noqa: B902 - shutting down
                return

    def _listening(self):
        node = self.node
        return node.count_subscribers('state') > 0 and node.count_publishers('control') > 0

    def _start(self, scenario):
        address = dict(self.address, duration=scenario.duration or '')
        env = dict(os.environ, ROS_DOMAIN_ID=str(self.domain),
                   ROS_AUTOMATIC_DISCOVERY_RANGE='LOCALHOST')
        self.proc = ControllerProcess(self.command, address, env=env, cwd=self.cwd,
                                      run=self.tag)

    def run(self, campaign, baseline, on_episode):
        max_force = self.host.values['max_force']
        for index, (scenario, play, key, name) in enumerate(self.slots, 1):
            result = EpisodeResult(index, scenario.name, scenario.seed, play, key, name)
            began = time.perf_counter()
            mark = stderr_mark(self.proc)
            data, reason = self._episode(scenario)
            result.wall_time = time.perf_counter() - began
            result.stderr = episode_stderr(self.proc, mark)
            result.controller_exit = self.proc.describe_exit()
            evaluate(result, data, scenario, max_force, self.timer.summary(), reason, baseline)
            campaign.episodes.append(result)
            if on_episode is not None:
                on_episode(result)

    def _episode(self, scenario):
        fresh = self.per_episode or self.proc is None or not self.proc.alive
        if fresh:
            if self.proc is not None:
                self.proc.end(self.grace)
            self._start(scenario)
        proc = self.proc
        deadline = time.monotonic() + self.timeout
        while not self._listening():
            if not proc.alive and not fresh:
                # The last episode's process was on its way out: a new one.
                proc.end(self.grace)
                self._start(scenario)
                proc, fresh = self.proc, True
                deadline = time.monotonic() + self.timeout
                continue
            if not proc.alive:
                self._skip()
                return None, f'controller exited before it listened ({proc.describe_exit()})'
            if time.monotonic() > deadline:
                proc.end(self.grace)
                self._skip()
                return None, (f'controller never connected within {self.timeout:g} s (no '
                              f'subscriber on state, or no publisher on control)')
            time.sleep(POLL)
        self._drain()
        seen = len(self.collector.episodes)
        nan_before = self.non_finite           # before the reset lets the controller run
        self.host.reset().result(1.0)          # what the plant's reset service does
        data = self.collector.episodes[seen]
        start = time.monotonic()
        end_by = None if scenario.duration is None else \
            start + scenario.duration + self.timeout
        while data.ended is None:
            now = time.monotonic()
            if self.non_finite > nan_before:
                reason = f'controller sent a non-finite command at t={last_t(data):.3f} s'
                self.host.estop(f'dip_test: {reason}')
                return data, reason
            if not proc.alive:
                reason = (f'controller {"crashed" if (proc.returncode or 0) < 0 else "exited"}'
                          f' during the episode at t={last_t(data):.3f} s '
                          f'({proc.describe_exit()})')
                self.host.estop(f'dip_test: {reason}')
                return data, reason
            last = self.timer.last_control
            if now - max(start, last if last is not None else start) > self.timeout:
                reason = (f'controller stopped answering: no control for {self.timeout:g} s '
                          f'at t={last_t(data):.3f} s')
                proc.end(self.grace)
                self.host.estop(f'dip_test: {reason}')
                return data, reason
            if end_by is not None and now > end_by:
                reason = (f'controller hung: the episode still ran {self.timeout:g} s past '
                          f'its {scenario.duration:g} s')
                proc.end(self.grace)
                self.host.estop(f'dip_test: {reason}')
                return data, reason
            self.collector.wait(POLL)
        return data, None

    def _drain(self, quiet=0.03, longest=1.0):
        """
        Wait until no control is in flight (none for ``quiet`` s, at most ``longest`` s).

        The controller answers the last sample of an episode too; in lock-step
        that late control, landing after the reset, would step the new episode
        and leave the controller one sample behind for the whole episode.
        """
        end = time.monotonic() + longest
        count = self.timer.controls
        while time.monotonic() < end:
            time.sleep(quiet)
            if self.timer.controls == count:
                return
            count = self.timer.controls

    def _skip(self):
        with self.host.lock:
            player = self.host.plant.scenarios
            if not player.exhausted:
                player.advance()

    def recorded_files(self):
        recorder = self.host.recorder
        return [] if recorder is None else list(recorder.files)

    def close(self):
        import rclpy
        if self.proc is not None:
            self.proc.end(self.grace)
        self._stop.set()
        self._spin.join(2.0)
        self.node.stop()
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)
        self._release_domain()

    def _release_domain(self):
        if self._domain_hold is not None:
            self._domain_hold.close()
            self._domain_hold = None
