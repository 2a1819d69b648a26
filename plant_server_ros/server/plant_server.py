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

import logging
import threading

from . import config
from .doors import door_options
from ..doors.assembly import door_settings, Doors
from ..doors.web.actions import HostActions
from ..legacy.host_backend import HostBackend
from ..observers.recording import Recorder
from ..runtime.host import PlantHost
from ..runtime.plant_log import PlantLog
from ..runtime.settings import MODES, SETTINGS
from ..runtime.status import CpuMeter

__all__ = ['MODES', 'PlantServer', 'start_server']
_log = logging.getLogger('plant_server_ros.plant_server')


class _ServerLog(PlantLog):
    """The plant's log lines; the end of :meth:`PlantServer.start` at max_steps."""

    def __init__(self, server, plant, max_steps):
        super().__init__(server.log, plant, max_steps)
        self.server = server

    def on_finish(self):
        super().on_finish()
        self.server._done.set()


class PlantServer:
    """
    A plant served over TCP (and UDP) from this process.

    Arguments left as None take the value of ``cfg`` (a dict or a YAML file
    in the original ``config.yaml`` layout), else the defaults of the
    settings table (``docs/parameters.md``): ``dt`` 0.01 s,
    ``extra_latency_ms`` 0, ``sensor_noise_std`` 0.01, no ``max_steps``.
    Explicit arguments win over ``cfg``.  Bad values raise
    :class:`~.config.ConfigError` naming the key, before anything listens; a
    port in use raises OSError.  ``bind_addr`` port 0 takes a free port:
    :attr:`port` tells which.  Any other plant setting of the table with a
    ``PlantServer`` keyword (``integrator``, ``substeps``, ...) may be
    given by name.

    ``scenario`` (a YAML file, a mapping, or a campaign file) sets the test
    conditions of each episode (:mod:`plant_server_ros.conditions.scenario`); each
    RESET plays the next scenario of a campaign.

    ``record`` (a directory) writes every episode to an MCAP file there
    (ROS 2 messages: ``ros2 bag info``, Foxglove and PlotJuggler open it;
    ``dip_export`` turns it into CSV or the original ``.npz``).

    ``web`` (a port, or ``(host, port)``; port 0 picks one) serves the live
    view in the browser (:attr:`web_url`; needs ``websockets``).

    ``udp_addr`` ``(host, port)`` also serves the original project's UDP
    datagrams (:attr:`udp_port`); ``'config'`` takes ``hil.plant_ip`` and
    ``hil.plant_port`` of ``cfg`` (no UDP when it names none).  TCP and UDP
    clients share the one controlling-client seat.

    ``serial_device`` (a device, or ``'pty'``: :attr:`serial_path` names the
    pseudo-terminal made) also serves a serial line (``serial_framing``,
    ``serial_baud``...: docs/serial.md), on the same seat.
    """

    def __init__(self, cfg=None, bind_addr=(SETTINGS['bind_address'].default,
                                            SETTINGS['port'].default), dt=None,
                 extra_latency_ms=None, sensor_noise_std=None, max_steps=None,
                 server_ready_event=None, mode=SETTINGS['mode'].default, *, udp_addr=None,
                 seed=None, max_force=None, track_limit=None, control_timeout=None,
                 idle_timeout=None, busy_poll_us=None, scenario=None, record=None, web=None,
                 log=None, dynamics=None, **settings):
        values, labels = _settings(cfg, dict(
            settings, dt=dt, extra_latency_ms=extra_latency_ms,
            sensor_noise_std=sensor_noise_std, max_steps=max_steps, mode=mode, seed=seed,
            max_force=max_force, track_limit=track_limit, control_timeout=control_timeout,
            idle_timeout=idle_timeout, busy_poll_us=busy_poll_us, record=record))
        mode = values.get('mode', 'realtime')
        self.settings = values
        self.mode = mode
        self.max_steps = values.get('max_steps', 0)
        self.log = log if log is not None else _log
        self._ready = server_ready_event
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._started = self._closed = False
        self._cpu = CpuMeter()
        self.doors = None
        # Every door's client networks (docs/lab_network.md), checked before anything listens.
        self._door_options = door_options(values.get('allow'), values.get('web_token') or None,
                                          values.get('web_view_only', False))
        self.host = PlantHost(
            values, scenario=scenario, labels=labels, log=self.log,
            listener=lambda host: _ServerLog(self, host.plant, self.max_steps),
            network=config.network(values), on_network=self._set_network, recorder=Recorder)
        self.plant = self.host.plant
        self.events = self.host.events
        self.backend = HostBackend(self.host)
        try:
            if dynamics is not None:
                self.host.use_dynamics(dynamics)
        except BaseException:
            self.host.stop()                   # a recorder's thread must not outlive it
            raise
        # The seed's examples set these before start(): honoured there.
        self._dynamics = self.plant.nominal_dynamics
        self._own_dynamics = self._dynamics
        if 'use_full_dynamics' in values:
            self.log.info(f'{labels.get("use_full_dynamics", "use_full_dynamics")}: '
                          f'{values["use_full_dynamics"]}; this plant has one model, the full '
                          'nonlinear one, and steps it either way')
        # Whatever this constructor starts, a failure further on stops again
        # (a port in use must leave no thread behind).
        try:
            self._open(web, bind_addr, udp_addr, values)
        except BaseException:
            self._release()
            raise
        self.address = self.doors.tcp.address[:2]
        self.port = self.address[1]
        self.web_url = None if self.web is None else self.web.url
        self.udp_port = None if self._udp is None else self._udp.address[1]
        # The serial door's line (``serial_device='pty'``: the pseudo-terminal a client opens).
        self.serial_path = None if self.doors.serial is None else self.doors.serial.path

    # The doors' parts, by the names they had.
    sessions = property(lambda self: None if self.doors is None else self.doors.sessions,
                        doc='The legacy sessions every door shares (one controlling client).')
    web = property(lambda self: None if self.doors is None else self.doors.web,
                   doc='The live view (``web=``), or None.')
    _tcp = property(lambda self: self.doors.tcp)
    _udp = property(lambda self: self.doors.udp)

    @property
    def recorder(self):
        """Return what writes the episodes to files (with ``record=``), or None."""
        return self.host.recorder

    def _set_network(self, network):
        """Give the legacy links the network of the episode's scenario (or the server's own)."""
        if self.doors is not None:
            self.doors.network = network

    def _open(self, web, bind_addr, udp_addr, values):
        idle_timeout = values.get('idle_timeout', SETTINGS['idle_timeout'].default)
        # Lock-step clients send their next request at once: poll for it.
        busy_poll = 1e-6 * values.get('busy_poll_us', SETTINGS['busy_poll_us'].default_for(
            'PlantServer lock-step' if self.mode == 'lockstep' else 'PlantServer'))
        if web is not None:
            web = web if isinstance(web, tuple) else (bind_addr[0], web)
        if udp_addr == 'config':
            udp_addr = ((values.get('udp_bind_address', '127.0.0.1'), values['udp_port'])
                        if 'udp_port' in values else None)
        self.doors = Doors(
            self.backend, **door_settings(
                values, tcp=bind_addr, udp=udp_addr, web=web, idle_timeout=idle_timeout,
                busy_poll=busy_poll, **self._door_options),
            live=lambda: HostActions(self.host, self.backend), network=self.host.network,
            log=self.log)

    def _release(self):
        """Stop what the constructor started (a failure halfway)."""
        if self.doors is not None:
            self.doors.close()
        self.host.stop()

    # -- the seed's API ------------------------------------------------------
    def start(self):
        """Serve until ``max_steps`` is reached or :meth:`stop` is called; then stop serving."""
        with self._lock:
            if self._started or self._closed:
                raise RuntimeError('a PlantServer starts once, and not after close()')
            self._started = True
        try:
            self._take_user_hooks()
            self.host.start()
            self.doors.start()
            self.log.info(self.describe())
            if self._ready is not None:
                self._ready.set()
            self._done.wait()
        finally:
            self._shutdown()

    def _take_user_hooks(self):
        """Honour what the seed's examples set before start(): ``_dynamics``, ``_step``."""
        if self._dynamics is not self._own_dynamics:
            self.log.info(self.host.use_dynamics(self._dynamics))
        if '_step' in vars(self):        # an instance attribute: the user's replacement
            self.host.route_steps(self._step)

    def _step(self, control):
        """
        Do one step of the plant (holding ``control``); return the new state.

        Every step of a started server goes through ``server._step``, so a
        replacement set before :meth:`start` (the seed's Example 5: a
        profiler calling the original) sees each of them.
        """
        return self.host.step_plant(control)

    def observe_steps(self, observer):
        """Call ``observer(control, state, cost)`` after every step (see PlantHost)."""
        self.host.observe_steps(observer)

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
        return self.host.set_disturbance(force, tau1, tau2)

    def estop(self, reason='PlantServer.estop()'):
        """Emergency stop: force 0 at once, the plant halts until a RESET; the halt reason."""
        return self.host.estop(reason)

    def inject(self, spec):
        """Inject a fault now (a mapping or a line, docs/faults.md); the fault as it runs."""
        return self.host.inject(spec)

    def clear_faults(self):
        """Remove every fault of this episode from now on."""
        self.host.clear_faults()

    # -- what it is doing ----------------------------------------------------
    def describe(self):
        """One line: what is served where, and how."""
        s = self.host.values
        udp, web = self.doors.describe()
        scenarios = self.host.describe_scenarios()
        return (f'{self.mode} plant serving the legacy TCP protocol on '
                f'{self.address[0]}:{self.port}{udp}: dt={s["dt"]:g} s, '
                f'noise std={s["sensor_noise_std"]:g}, latency={s["extra_latency_ms"]:g} ms, '
                f'max_steps={self.max_steps or "unlimited"}'
                + (f', scenarios: {", ".join(scenarios)}' if scenarios else '') + web)

    def status(self):
        """Return what the plant, its episode and its clients are doing now, as a dict."""
        status = self.host.status()
        status.update(
            tcp_port=self.port, udp_port=self.udp_port,
            cpu_percent=self._cpu.percent(), legacy=self.sessions.summary(),
            udp_counters=None if self._udp is None else dict(self._udp.counters),
            serial_counters=None if self.doors.serial is None else
            dict(self.doors.serial.counters))
        holder = self.sessions.holder
        status['client'] = None if holder is None else _client_name(holder)
        return status

    def non_finite_commands(self):
        """Return how many controls were refused as NaN or infinite, over TCP and UDP."""
        count = self.sessions.errors.get('NOT_FINITE', 0)
        if self._udp is not None:
            count += self._udp.counters.get('not_finite', 0)
        return count

    def _shutdown(self):
        self.doors.close()
        self.host.stop()                   # flushes the episode being recorded


def _settings(cfg, given):
    """Return ``(values, labels)``: ``cfg``'s settings, overridden by the keywords given."""
    values, labels = config.load_with_labels(cfg)
    for name, value in given.items():
        setting = SETTINGS.get(name)
        if setting is None or setting.keyword != name:
            raise TypeError(f'PlantServer() got an unexpected keyword argument {name!r}')
        if value is not None:
            values[name] = setting.check(value, name)
            labels.pop(name, None)
    return values, labels


def start_server(cfg_path, max_steps=None, *, block=True, **kwargs):
    """
    Serve the original project's ``config.yaml``; return the server (the seed's function).

    TCP on ``hil.plant_ip`` (port 5555), the UDP datagrams on
    ``hil.plant_ip``:``hil.plant_port`` when the file names them, and the
    file's ``dt``, latency and noise, until ``max_steps`` or :meth:`stop`.
    ``block=False`` serves from a thread and returns at once (call
    ``stop()``, then ``close()``); other keywords go to :class:`PlantServer`.
    """
    values, _ = config.load_with_labels(config.load_config(cfg_path))
    host = values.get('udp_bind_address', '127.0.0.1')
    server = PlantServer(cfg=cfg_path, bind_addr=(host, kwargs.pop('port', 5555)),
                         max_steps=max_steps, udp_addr='config', **kwargs)
    if block:
        with server:
            server.start()
        return server
    ready = threading.Event()
    server._ready = ready
    threading.Thread(target=server.start, name='plant_server', daemon=True).start()
    ready.wait(10.0)
    return server


def _client_name(holder):
    address = getattr(holder, 'peer', None) or getattr(holder, 'address', None)
    return '%s:%d' % tuple(address[:2])
