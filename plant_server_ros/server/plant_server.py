"""
``PlantServer``: the original project's in-process plant server, made real.

One plant, stepped in this process, served over the legacy protocols of
docs/PROTOCOL.md byte for byte as the ROS bridge serves them.  No ROS: it
needs numpy and scipy (and PyYAML for a config file).  Several servers in
threads of one process are independent plants.

    with PlantServer(cfg='config.yaml', bind_addr=('127.0.0.1', 0),
                     mode='lockstep', max_steps=5000) as server:
        print(server.port)
        server.start()          # returns at max_steps or on stop()
"""

import collections
import contextlib
import logging
import threading

from . import config
from .direct_backend import DirectBackend
from .doors import door_options
from ..conditions.network import NetworkModel
from ..conditions.scenario import load as load_scenarios, ScenarioPlayer
from ..legacy.sessions import Sessions
from ..legacy.tcp_server import TcpServer
from ..legacy.udp_server import UdpServer
from ..observers.recording import Recorder
from ..physics.dynamics import DIPDynamics
from ..physics.state import check_state, DEFAULT_INITIAL_STATE, InvalidStateError
from ..runtime.plant import Plant
from ..runtime.plant_log import PlantLog
from ..runtime.status import CpuMeter, plant_status

MODES = ('realtime', 'lockstep')
EVENTS_KEPT = 1000       # events a server remembers (status() shows the last few)
STATUS_EVENTS = 20
LOCKSTEP_BUSY_POLL_US = 200     # bench/bench_plant_server.py --poll-us compares
DEFAULTS = {'dt': 0.01, 'extra_latency_ms': 0.0, 'sensor_noise_std': 0.01,
            'initial_state': DEFAULT_INITIAL_STATE, 'seed': None}
_log = logging.getLogger('plant_server_ros.plant_server')


class _ServerLog(PlantLog):
    """The plant's log lines and events; the end of :meth:`PlantServer.start` at max_steps."""

    def __init__(self, server, max_steps):
        super().__init__(server.log, server.plant, max_steps)
        self.server = server

    def on_episode(self, index):
        super().on_episode(index)
        self.server._episode_started()

    def on_event(self, event):
        super().on_event(event)
        self.server.events.append(event)

    def on_finish(self):
        super().on_finish()
        self.server._done.set()


class PlantServer:
    """
    A plant served over TCP (and UDP) from this process.

    Arguments left as None take the value of ``cfg`` (a dict or a YAML file
    in the original ``config.yaml`` layout), else the defaults: ``dt`` 0.01 s,
    ``extra_latency_ms`` 0, ``sensor_noise_std`` 0.01, no ``max_steps``.
    Explicit arguments win over ``cfg``.  Bad values raise
    :class:`~.config.ConfigError` naming the key, before anything listens; a
    port in use raises OSError.  ``bind_addr`` port 0 takes a free port:
    :attr:`port` tells which.

    ``scenario`` (a YAML file, a mapping, or a campaign file) sets the test
    conditions of each episode (:mod:`plant_server_ros.conditions.scenario`); each
    RESET plays the next scenario of a campaign.

    ``record`` (a directory) writes every episode to an MCAP file there
    (ROS 2 messages: ``ros2 bag info``, Foxglove and PlotJuggler open it;
    ``dip_export`` turns it into CSV or the original ``.npz``).

    ``web`` (a port, or ``(host, port)``; port 0 picks one) serves the live
    view in the browser (:attr:`web_url`; needs ``websockets``).

    ``allow`` (CIDR list) restricts every door to those client networks
    (None: loopback only when bound to it); ``web_token`` and
    ``web_view_only`` guard the live view (docs/lab_network.md).

    ``udp_addr`` ``(host, port)`` also serves the original project's UDP
    datagrams (:attr:`udp_port`); ``'config'`` takes ``hil.plant_ip`` and
    ``hil.plant_port`` of ``cfg`` (no UDP when it names none).  TCP and UDP
    clients share the one controlling-client seat.
    """

    def __init__(self, cfg=None, bind_addr=('127.0.0.1', 5555), dt=None,
                 extra_latency_ms=None, sensor_noise_std=None, max_steps=None,
                 server_ready_event=None, mode='realtime', *, udp_addr=None, seed=None,
                 max_force=20.0, track_limit=2.0, control_timeout=0.5, idle_timeout=10.0,
                 busy_poll_us=None, scenario=None, record=None, web=None, log=None,
                 allow=None, web_token=None, web_view_only=False):
        settings = {**DEFAULTS, **config.load(cfg)}
        # Every door's client networks (docs/lab_network.md), checked before anything listens.
        self._doors = door_options(allow, web_token, web_view_only)
        given = {'dt': ('simulation.dt', dt),
                 'extra_latency_ms': ('hil.extra_latency_ms', extra_latency_ms),
                 'sensor_noise_std': ('hil.sensor_noise_std', sensor_noise_std),
                 'seed': ('global_seed', seed)}
        for name, (key, value) in given.items():
            if value is not None:
                settings[name] = config.KEYS[key][1](name, value)
        if mode not in MODES:
            raise config.ConfigError(f'mode: must be one of {list(MODES)}, got {mode!r}')
        max_steps = 0 if max_steps is None else config._number(0, 2 ** 62, integer=True)(
            'max_steps', max_steps)
        # Lock-step clients send their next request at once: poll for it.
        busy_poll = (LOCKSTEP_BUSY_POLL_US if mode == 'lockstep' else 0) \
            if busy_poll_us is None else busy_poll_us
        busy_poll = config._number(0, 1e5)('busy_poll_us', busy_poll) * 1e-6
        self.settings = settings
        self.mode = mode
        self.max_steps = max_steps
        self.log = log if log is not None else _log
        self._ready = server_ready_event
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._started = self._closed = False
        self._cpu = CpuMeter()

        try:    # the cart starts on the track: config.load cannot know track_limit
            check_state(settings['initial_state'], track_limit)
        except InvalidStateError as exc:
            raise config.ConfigError(f'simulation.initial_state: {exc}') from None
        scenarios = None
        if scenario is not None:
            scenarios = ScenarioPlayer(load_scenarios(scenario, settings['dt']))
        self.events = collections.deque(maxlen=EVENTS_KEPT)
        seed = settings['seed']
        self._base_network = NetworkModel(
            latency_ms=settings['extra_latency_ms'],
            seed=None if seed is None else f'{seed}:network')
        self.sessions = None
        try:
            self.plant = Plant(DIPDynamics(config.physics(settings)), dt=settings['dt'],
                               initial_state=settings['initial_state'], max_force=max_force,
                               track_limit=track_limit, control_timeout=control_timeout,
                               sensor_noise_std=settings['sensor_noise_std'], seed=seed,
                               scenarios=scenarios)
        except InvalidStateError as exc:          # a scenario that cannot start
            raise config.ConfigError(str(exc)) from None
        # Observers of every sample and event (a recording, the live view),
        # off the hot path.  Whatever this constructor starts, a failure
        # further on stops again (a port in use must leave no thread behind).
        self.recorder = self.web = self._web_actions = self._tcp = self._udp = None
        try:
            self._open(record, web, bind_addr, udp_addr, idle_timeout, busy_poll, mode,
                       max_steps, settings)
        except BaseException:
            self._release()
            raise
        self.address = self._tcp.address[:2]
        self.port = self.address[1]
        self.web_url = None if self.web is None else self.web.url
        self.udp_port = None if self._udp is None else self._udp.address[1]

    def _open(self, record, web, bind_addr, udp_addr, idle_timeout, busy_poll, mode,
              max_steps, settings):
        if record is not None:
            self.recorder = Recorder(record, self.plant, self.plant.dt)
        if web is not None:
            # Imported only when asked for: the live view needs ``websockets``.
            from ..observers.web.live_view import LiveView, PlantServerActions
            host, port = web if isinstance(web, tuple) else (bind_addr[0], web)
            self._web_actions = PlantServerActions(self)
            self.web = LiveView(self.plant, self._web_actions, host, port, log=self.log,
                                **self._doors['web'])
        observers = [o for o in (self.recorder, self.web) if o is not None]
        self.backend = DirectBackend(self.plant, mode, max_steps,
                                     listener=_ServerLog(self, max_steps), log=self.log,
                                     observers=observers)
        self.sessions = Sessions(self.backend, network=self._base_network)
        self._episode_started()
        if udp_addr == 'config':
            udp_addr = ((settings.get('udp_host', '127.0.0.1'), settings['udp_port'])
                        if 'udp_port' in settings else None)
        with _door('TCP', bind_addr):
            self._tcp = TcpServer(self.sessions, bind_addr[0], bind_addr[1], idle_timeout,
                                  log=self.log, busy_poll=busy_poll, **self._doors['legacy'])
        if udp_addr is not None:
            with _door('UDP', udp_addr):
                self._udp = UdpServer(self.sessions, udp_addr[0], udp_addr[1], idle_timeout,
                                      log=self.log, busy_poll=busy_poll,
                                      **self._doors['legacy'])
        if self.web is not None:
            with _door('live view', (self.web.host, self.web.port)):
                self.web.start()

    def _release(self):
        """Stop what the constructor started (a failure halfway)."""
        for part in (self._tcp, self._udp, self.web, self._web_actions, self.recorder):
            if part is not None:
                part.close()

    # -- the seed's API ------------------------------------------------------
    def start(self):
        """Serve until ``max_steps`` is reached or :meth:`stop` is called; then stop serving."""
        with self._lock:
            if self._started or self._closed:
                raise RuntimeError('a PlantServer starts once, and not after close()')
            self._started = True
        try:
            self.backend.start()
            self._tcp.start()
            if self._udp is not None:
                self._udp.start()
            self.log.info(self.describe())
            if self._ready is not None:
                self._ready.set()
            self._done.wait()
        finally:
            self._shutdown()

    def stop(self):
        """Make :meth:`start` return soon (from any thread, or a signal handler)."""
        self._done.set()

    def close(self):
        """Release the sockets and the plant's thread (idempotent)."""
        self._done.set()
        with self._lock:
            self._closed = True
        self._shutdown()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- test conditions --------------------------------------------------------
    def set_disturbance(self, force, tau1=0.0, tau2=0.0):
        """
        Push the plant: hold ``F`` [N] on the cart and torques ``tau1``, ``tau2`` [N m].

        Held from now on (lock-step: from the next step) until the next call;
        ``set_disturbance(0.0)`` clears it, and so does a reset.
        """
        return self.backend.schedule.set_disturbance(force, tau1, tau2)

    def estop(self, reason='PlantServer.estop()'):
        """Emergency stop: force 0 at once, the plant halts until a RESET; the halt reason."""
        return self.backend.schedule.estop(reason)

    def _episode_started(self):
        """Give the legacy links the network of the episode's scenario (or the server's own)."""
        if self.sessions is None:
            return
        scenario = self.plant.scenario
        if scenario is not None and scenario.network is not None:
            seed = scenario.seed if scenario.seed is not None else self.settings['seed']
            self.sessions.network = NetworkModel.from_dict(
                scenario.network, seed=None if seed is None else f'{seed}:network')
        else:
            self.sessions.network = self._base_network

    # -- what it is doing ----------------------------------------------------
    def describe(self):
        """One line: what is served where, and how."""
        s = self.settings
        udp = '' if self._udp is None else \
            f' and UDP datagrams on {self._udp.address[0]}:{self.udp_port}'
        web = '' if self.web is None else f'; live view at {self.web_url}'
        return (f'{self.mode} plant serving the legacy TCP protocol on '
                f'{self.address[0]}:{self.port}{udp}: dt={s["dt"]:g} s, '
                f'noise std={s["sensor_noise_std"]:g}, latency={s["extra_latency_ms"]:g} ms, '
                f'max_steps={self.max_steps or "unlimited"}'
                + ('' if self.plant.scenarios is None else
                   f', scenarios: {", ".join(s.name for s in self.plant.scenarios.scenarios)}')
                + web)

    def status(self):
        """Return what the plant, its episode and its clients are doing now, as a dict."""
        with self.backend.schedule.lock:
            status = plant_status(self.backend.schedule)
        status.update(
            dt=self.plant.dt, tcp_port=self.port, udp_port=self.udp_port,
            cpu_percent=self._cpu.percent(), legacy=self.sessions.summary(),
            udp_counters=None if self._udp is None else dict(self._udp.counters),
            episode=self.plant.describe_episode(),
            events=[event._asdict() for event in list(self.events)[-STATUS_EVENTS:]])
        status['episode_number'] = status['episode']['episode']
        holder = self.sessions.holder
        status['client'] = None if holder is None else _client_name(holder)
        return status

    def _shutdown(self):
        self._tcp.close()
        if self._udp is not None:
            self._udp.close()
        if self.web is not None:
            self.web.close()
            self._web_actions.close()
        self.backend.stop()
        if self.recorder is not None:
            self.recorder.close()          # flushes the episode being written


def _client_name(holder):
    address = getattr(holder, 'peer', None) or getattr(holder, 'address', None)
    return '%s:%d' % tuple(address[:2])


@contextlib.contextmanager
def _door(what, address):
    """Name the door in a bind failure (``OSError.filename``: 'TCP 127.0.0.1:5555')."""
    try:
        yield
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, f'{what} {address[0]}:{address[1]}') from None
