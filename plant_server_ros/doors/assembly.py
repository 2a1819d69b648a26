"""
The legacy TCP/UDP/serial doors and the live view of one plant, opened in one place.

``PlantServer`` (a plant host in this process) and the ROS bridge node (a
plant on topics) open the same doors the same way::

    doors = Doors(backend, ('127.0.0.1', 5555), udp=('127.0.0.1', 5556),
                  web=('127.0.0.1', 8080), live=lambda: HostActions(host, backend),
                  network=network, idle_timeout=10.0, allow=['10.0.0.0/24'])
    doors = Doors(backend, **door_settings(values), live=..., network=network)
    doors.start()           # TCP and UDP serve (the live view does from the start)
    ...
    doors.close()

``backend``: the plant's :class:`~..legacy.backend.PlantBackend`; every
legacy door shares one :class:`~..legacy.sessions.Sessions` on it (one
controlling client); :func:`door_settings` reads the doors' keywords from
the settings table's values.  ``live()`` makes what the live view reads and what its
buttons do (:class:`~.web.actions.HostActions` on a host; the bridge's
:class:`~..ros.live_view_door.BridgeLiveView`): ``plant`` (a
:class:`~..runtime.views.PlantView`), ``attach(view)`` (feed the view),
the buttons, ``close()``.  A door that cannot bind raises :class:`DoorError`
(an OSError whose ``filename`` names it: ``'TCP 127.0.0.1:5555'``), with
every door opened so far closed again; ``web`` without ``websockets``
raises ImportError before anything binds.

A new door is a module of its own, its settings in the table
(:mod:`..runtime.settings`) and a few lines here: :func:`door_settings`
reads them, it opens in :meth:`Doors.__init__`, starts in
:meth:`Doors.start`, closes in :meth:`Doors.close`, and its run-time
settings go in :meth:`Doors.runtime_setters`; ``PlantServer`` and the
bridge node pass their values and need no change.
"""

import contextlib

from ..legacy.sessions import Sessions
from ..legacy.tcp_server import TcpServer
from ..legacy.udp_server import UdpServer
from ..runtime.settings import SETTINGS


class DoorError(OSError):
    """A door cannot bind; ``door`` ('TCP', 'UDP', 'live view') and ``address`` tell which."""

    door = None
    address = None


def door_settings(values, **given):
    """
    Return the keywords of :class:`Doors` from setting values (the table's names).

    What ``values`` lacks takes the table's default (the bridge's); ``given``
    keywords win (``PlantServer``'s own ``bind_addr``, ``udp_addr``, ``web``).
    """
    def get(name):
        return values.get(name, SETTINGS[name].default_for('bridge'))
    host = get('bind_address')
    options = {
        'tcp': (host, get('port')),
        'udp': (get('udp_bind_address'), get('udp_port')) if get('udp_port') else None,
        'web': (host, get('web_port')) if get('web_port') else None,
        'idle_timeout': get('idle_timeout'), 'allow': get('allow'),
        'token': get('web_token') or None, 'view_only': get('web_view_only'),
        'serial': {'device': get('serial_device'), 'baud': get('serial_baud'),
                   'parity': get('serial_parity'), 'stop_bits': get('serial_stop_bits'),
                   'framing': get('serial_framing'),
                   'period': values.get('dt', SETTINGS['dt'].default)}
        if get('serial_device') else None}
    options.update(given)
    return options


class Doors:
    """The legacy doors and the live view of one plant: opened, started and closed together."""

    def __init__(self, backend, tcp, *, udp=None, serial=None, web=None, live=None, network=None,
                 idle_timeout=SETTINGS['idle_timeout'].default, busy_poll=0.0, allow=None,
                 token=None, view_only=False, log=None):
        self.tcp = self.udp = self.serial = self.web = self.live = None
        self.sessions = Sessions(backend, network=network)
        try:
            if web is not None:
                # Imported only when asked for: the live view needs ``websockets``.
                from .web.live_view import LiveView
                self.live = live = live()
                self.web = LiveView(live.plant, live, web[0], web[1], log=log, allow=allow,
                                    token=token, view_only=view_only)
                live.attach(self.web)
            with _door('TCP', tcp):
                self.tcp = TcpServer(self.sessions, tcp[0], tcp[1], idle_timeout, log=log,
                                     busy_poll=busy_poll, allow=allow)
            if udp is not None:
                with _door('UDP', udp):
                    self.udp = UdpServer(self.sessions, udp[0], udp[1], idle_timeout, log=log,
                                         busy_poll=busy_poll, allow=allow)
            if serial is not None:
                self.serial = _serial_door(self.sessions, serial, idle_timeout, log, busy_poll)
            if self.web is not None:
                with _door('live view', (self.web.host, self.web.port)):
                    self.web.start()
        except BaseException:
            self.close()
            raise

    def start(self):
        """Serve the legacy doors (each from a thread of its own); return self."""
        self.tcp.start()
        for door in (self.udp, self.serial):
            if door is not None:
                door.start()
        return self

    def close(self):
        """Stop serving every door; clear a push the live view still holds (idempotent)."""
        for part in (self.tcp, self.udp, self.serial, self.web, self.live):
            if part is not None:
                part.close()

    # -- run-time settings ------------------------------------------------------
    def runtime_setters(self):
        """Return ``{setting name: setter}`` of what the doors take while they serve."""
        return {'idle_timeout': self._set_idle_timeout}

    def _set_idle_timeout(self, seconds):
        for door in (self.tcp, self.udp, self.serial):
            if door is not None:
                door.idle_timeout = float(seconds)

    # -- what they are -------------------------------------------------------
    @property
    def network(self):
        """Return the network the legacy links emulate now (the episode's)."""
        return self.sessions.network

    @network.setter
    def network(self, network):
        self.sessions.network = network

    def describe(self):
        """Return what serves where past TCP: ``' and UDP datagrams on h:p'``, the live view."""
        udp = '' if self.udp is None else \
            ' and UDP datagrams on %s:%d' % tuple(self.udp.address[:2])
        if self.serial is not None:
            udp += f' and {self.serial.describe()}'
        return udp, '' if self.web is None else f'; live view at {self.web.url}'


def _serial_door(sessions, options, idle_timeout, log, busy_poll):
    """Open the serial door (pyserial and cobs imported only when asked for)."""
    try:
        from ..legacy.serial_server import SerialServer
    except ImportError as exc:
        raise ImportError(f'the serial door needs cobs and pyserial '
                          f'(requirements/serial.txt): {exc}') from None
    with _door('serial', (options['device'], options['baud'])):
        door = SerialServer(sessions, idle_timeout=idle_timeout, log=log, busy_poll=busy_poll,
                            **options)
    say = log or door.log
    # One call site per severity (rclpy refuses a site that changes it).
    if door.fits:
        say.info(f'{door.describe()}: {door.budget}')
    else:
        say.warning(f'{door.describe()}: {door.budget}')
    return door


@contextlib.contextmanager
def _door(what, address):
    """Name the door in a bind failure (``filename``: 'TCP 127.0.0.1:5555')."""
    try:
        yield
    except OSError as exc:
        error = DoorError(exc.errno, exc.strerror, f'{what} {address[0]}:{address[1]}')
        error.door, error.address = what, tuple(address[:2])
        raise error from None
