"""
A live view of the plant in a browser: one page and a WebSocket on one port.

    view = LiveView(server.plant, PlantServerActions(server), port=8080)
    view.start()            # binds; view.url tells where to look
    ...                     # attach it to the schedule as an observer
    view.close()

The page (``static/``: plain JavaScript and a canvas, nothing fetched from
elsewhere) draws the cart and both links to scale, strip charts of the
angles, the cart position and the force, the episode's scenario and the
plant's events, and has three buttons: reset, push, e-stop.

The plant never waits for a browser.  The schedule calls :meth:`LiveView.on_sample`
on its stepping thread: it only keeps the latest sample (and, decimated to
``chart_rate``, a bounded window of recent ones for the charts).  An asyncio
loop on a thread of its own serves the page over plain HTTP and the data
over a WebSocket (``websockets``); each client has a sender loop that sends
at most ``frame_rate`` frames a second, each the newest state, so a client
that cannot keep up just misses frames, and one that stops reading blocks
only its own sender.

Commands come back over the WebSocket as JSON text:
``{"cmd": "reset"}``, ``{"cmd": "push", "force": 10, "tau1": 0, "tau2": 0,
"duration": 0.1}`` (every field but ``cmd`` optional), ``{"cmd": "estop"}``,
``{"cmd": "fault", "spec": {...} or "motor gain 0.5 for 2s"}`` and
``{"cmd": "clear_faults"}`` (docs/faults.md; ``dip_fault`` sends these);
an ``"id"`` is echoed back.  Each gets ``{"type": "reply", "ok": true, ...}``
or ``{"type": "error", "error": "..."}``; nothing a client sends raises in
the server.  The buttons run on a worker thread, one command at a time.

Only this page's own origin may open the WebSocket, and only under a Host
name that is an IP address, ``localhost`` or the machine's or bound name
(a web page elsewhere, even through DNS rebinding, cannot press e-stop).
"""

import asyncio
import collections
import concurrent.futures
import hmac
import http
from importlib import resources
import ipaddress
import json
import logging
import math
import secrets
import socket
import threading
import traceback
import urllib.parse

from websockets.asyncio.server import serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Response
from websockets.protocol import State

from .actions import HostActions, PlantServerActions, Pulse  # noqa: F401 - here too
from ...conditions.faults import Fault, from_text
from ...inputs.allowlist import Allowlist, is_loopback
from ...physics import geometry
from ...runtime.schedule import PlantListener
from ...runtime.views import view_of

# package_data of plant_server_ros.doors.web
STATIC_DIR = resources.files(__package__) / 'static'
CONTENT_TYPES = {'.html': 'text/html; charset=utf-8',
                 '.js': 'text/javascript; charset=utf-8',
                 '.css': 'text/css; charset=utf-8'}
WS_PATH = '/ws'
FRAME_RATE = 50.0        # frames/s a client gets at most
CHART_RATE = 50.0        # chart points kept per second of plant time
HISTORY = 10.0           # s of chart points kept (the charts' window)
EVENTS_KEPT = 50
MAX_COMMAND = 4096       # bytes of one message from a browser
# What may wait for a slow client, in this process and in the kernel: a client
# that reads too slowly gets fewer frames, not older ones (the kernel's own
# tuning would let megabytes, minutes of frames, queue up).
WRITE_LIMIT = 4096       # bytes buffered for a client before its sender waits
SEND_BUFFER = 32768      # bytes: SO_SNDBUF of a client's socket
CLOSE_WITHIN = 0.5       # s close() leaves clients to say goodbye, then cuts them
PUSH_DEFAULTS = {'force': 10.0, 'tau1': 0.0, 'tau2': 0.0, 'duration': 0.1}
PUSH_LIMITS = {'force': 200.0, 'tau1': 20.0, 'tau2': 20.0}     # |value| [N, N m]
MAX_PUSH_DURATION = 5.0  # s
COMMANDS = ('reset', 'push', 'estop', 'fault', 'clear_faults')
_log = logging.getLogger('plant_server_ros.live_view')


class _Client:
    """One browser: what it was sent last, and the replies it is owed."""

    def __init__(self, connection):
        self.connection = connection
        self.peer = connection.remote_address
        self.sample = None
        self.chart_seen = 0
        self.events_seen = 0
        self.episode_version = -1
        self.status = None
        self.replies = collections.deque(maxlen=16)
        self.frames = 0
        self.sending_since = None


class LiveView(PlantListener):
    """
    Serve a live view of ``plant`` at ``http://host:port/`` (port 0: any free one).

    ``plant``: a :class:`~...runtime.views.PlantView` (or a plant, for its
    view): its episode, halt and live push are read, never changed.
    ``actions``: ``reset()``, ``push(force, tau1, tau2, duration)`` and
    ``estop()`` of the door (:class:`~.actions.HostActions` on a plant
    host).  Attach the view to the plant's schedule as an observer
    (:class:`~...runtime.schedule.Fanout`; ``actions.attach(view)`` does)
    and :meth:`start` it; :class:`~..assembly.Doors` does both.
    """

    def __init__(self, plant, actions, host='127.0.0.1', port=0, log=None, *,
                 frame_rate=FRAME_RATE, chart_rate=CHART_RATE, history=HISTORY,
                 allow=None, token=None, view_only=False):
        if not (frame_rate > 0.0 and chart_rate > 0.0 and history > 0.0):
            raise ValueError('frame_rate, chart_rate and history must be > 0')
        self.view = view_of(plant)
        # Client networks served (None: loopback when bound to it, else anyone).
        self.allow = Allowlist(allow, host)
        # Bound beyond loopback, the WebSocket needs a token (None: a fresh
        # one; '' none), given in the URL printed once at start.
        if token is None:
            token = '' if is_loopback(host) else secrets.token_urlsafe(18)
        self.token = str(token)
        self.view_only = bool(view_only)
        self.refused = collections.Counter()      # 'allow', 'token', 'origin', 'host'
        self.actions = actions
        self.host = host
        self.port = int(port)
        self.log = log if log is not None else _log     # info, warning, error (a ROS logger too)
        self.frame_rate = float(frame_rate)
        self.dt = float(self.view.dt)
        self.history = float(history)
        self._files = _load_static()
        # Written on the plant's thread, read on the loop's: single assignments
        # and deque appends (atomic under the GIL), never a lock the plant waits on.
        self._latest = None
        self._samples = 0
        self._chart_rate = float(chart_rate)
        self._stride = max(1, round(1.0 / (self.dt * chart_rate)))
        self._chart = collections.deque(maxlen=max(2, int(history * chart_rate) + 1))
        self._chart_count = 0
        self._events = collections.deque(maxlen=EVENTS_KEPT)
        self._event_count = 0
        self._halt = self.view.fault
        self._finished = False
        self._failsafe = False
        self._episode = self._describe()
        self._episode_version = 0
        # The server's side.
        self._lock = threading.Lock()
        self._started = self._closed = False
        self._loop = self._thread = self._server = None
        self._clients = set()
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix='live_view_command')
        self._names = set()

    # -- where ---------------------------------------------------------------
    @property
    def url(self):
        """Return the page's address (after :meth:`start`: with the real port)."""
        host = self.host if self.host not in ('', '0.0.0.0', '::') else 'localhost'
        if ':' in host:
            host = f'[{host}]'
        query = f'?token={self.token}' if self.token else ''
        return f'http://{host}:{self.port}/{query}'

    # -- the plant's side (its stepping thread: never block) -----------------
    def on_sample(self, sample):
        """Keep ``sample`` as the latest; every ``stride``-th also for the charts."""
        self._latest = sample
        self._samples += 1
        if sample.index % self._stride == 0 or sample.t == 0.0:
            state = sample.true
            push = self.view.live_disturbance[0]
            number = self._chart_count + 1      # counted once in the deque: see _frame
            self._chart.append((number, sample.index, sample.t,
                                state[0], state[1], state[2], sample.force, push))
            self._chart_count = number

    def on_episode(self, index):
        """Take the new episode's scenario, geometry and period."""
        dt = float(self.view.dt)
        if dt != self.dt:                   # the bridge learns the plant's dt late
            self.dt = dt
            self._stride = max(1, round(1.0 / (dt * self._chart_rate)))
            self._chart = collections.deque(maxlen=self._chart.maxlen)
        self._halt = None
        self._finished = False
        self._failsafe = False
        self._episode = self._describe()
        self._episode_version += 1

    def on_event(self, event):
        """Keep ``event`` for the page's list."""
        number = self._event_count + 1
        self._events.append((number, {'t': event.t, 'kind': event.kind,
                                      'detail': event.detail}))
        self._event_count = number

    def on_halt(self, reason):
        """Show the plant halted."""
        self._halt = reason

    def on_finish(self):
        """Show the plant finished."""
        self._finished = True

    def on_failsafe(self, active, controlled):
        """Show whether the fail-safe holds the force at 0."""
        self._failsafe = bool(active)

    def _describe(self):
        """Return the episode as the page needs it (never raises: the plant's thread)."""
        episode = self.view.episode
        try:
            params = episode.params
            track_limit = float(episode.track_limit)
            reach = params.link1_length + params.link2_length
            rail = track_limit if math.isfinite(track_limit) else 3.0 * reach
            description = episode.description
            scenario = description.get('scenario', {}) if isinstance(description, dict) else {}
            info = {'number': episode.number, 'dt': float(episode.dt),
                    'link1_length': params.link1_length, 'link2_length': params.link2_length,
                    'track_limit': track_limit if math.isfinite(track_limit) else None,
                    'dims': geometry.dimensions(params, rail),
                    'scenario': scenario.get('name') if isinstance(scenario, dict) else None,
                    'description': description}
            return _jsonable(info)
        except Exception:  # noqa: B902 - the plant's thread must go on
            self.log.error(f'live view: cannot describe the episode:\n{traceback.format_exc()}')
            return None

    # -- the server's side ---------------------------------------------------
    def start(self):
        """Bind and serve from a thread of its own; return self (OSError: port in use)."""
        with self._lock:
            if self._started or self._closed:
                raise RuntimeError('a LiveView starts once, and not after close()')
            self._started = True
        family = socket.getaddrinfo(self.host or None, self.port, type=socket.SOCK_STREAM,
                                    flags=socket.AI_PASSIVE)[0][0]
        sock = socket.create_server((self.host, self.port), family=family, backlog=16)
        try:
            self.port = sock.getsockname()[1]
            self._names = _allowed_names(self.host)
            self._loop = asyncio.new_event_loop()
            self._thread = threading.Thread(target=self._run, name='live_view', daemon=True)
            self._thread.start()
            future = asyncio.run_coroutine_threadsafe(self._serve(sock), self._loop)
            self._server = future.result(timeout=10.0)
        except BaseException:
            sock.close()
            self.close()
            raise
        warning = self.allow.exposure('live view', f'{self.host}:{self.port}')
        if warning:
            self.log.warning(warning)
        if self.token:          # once, as notebook servers do: the URL is the key
            self.log.info(f'live view: open {self.url}'
                          + (' (view-only)' if self.view_only else ''))
        return self

    def close(self):
        """Stop serving: the port is free at once, clients are cut (idempotent)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        loop, thread = self._loop, self._thread
        if loop is not None and thread is not None and thread.is_alive():
            try:
                asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(
                    CLOSE_WITHIN + 2.0)
            except Exception:  # noqa: B902 - closing goes on whatever happened
                self.log.error(f'live view: closing:\n{traceback.format_exc()}')
            loop.call_soon_threadsafe(loop.stop)
            thread.join(2.0)
        self._executor.shutdown(wait=False, cancel_futures=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def stats(self):
        """Return the clients served now: peer, frames sent, bytes waiting, stalled (a dict)."""
        loop = self._loop
        if loop is None or self._closed:
            return {'samples': self._samples, 'clients': []}
        return asyncio.run_coroutine_threadsafe(self._stats(), loop).result(2.0)

    async def _stats(self):
        now = asyncio.get_running_loop().time()
        clients = []
        for client in list(self._clients):
            transport = client.connection.transport
            since = client.sending_since
            clients.append({'peer': client.peer, 'frames': client.frames,
                            'backlog': transport.get_write_buffer_size(),
                            'stalled_for': 0.0 if since is None else now - since})
        return {'samples': self._samples, 'clients': clients}

    def _run(self):
        loop = self._loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_forever()
        finally:
            tasks = asyncio.all_tasks(loop)
            for task in tasks:
                task.cancel()
            if tasks:
                loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            loop.close()

    async def _serve(self, sock):
        # websockets logs every request and connection at INFO: a level of its own.
        logger = logging.getLogger('plant_server_ros.live_view.websockets')
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.WARNING)
        return await serve(self._handler, sock=sock, process_request=self._process_request,
                           logger=logger,
                           compression=None, max_size=MAX_COMMAND, max_queue=4,
                           write_limit=WRITE_LIMIT, close_timeout=CLOSE_WITHIN)

    async def _shutdown(self):
        server = self._server
        if server is None:
            return
        server.close()          # the listening socket closes now; goodbyes go out
        for client in list(self._clients):
            transport = client.connection.transport
            if client.sending_since is not None and transport.get_write_buffer_size():
                transport.abort()   # it reads nothing: no goodbye would get through
        try:
            await asyncio.wait_for(server.wait_closed(), CLOSE_WITHIN)
        except (asyncio.TimeoutError, asyncio.CancelledError):
            for client in list(self._clients):     # a client that reads nothing
                client.connection.transport.abort()
            try:
                await asyncio.wait_for(server.wait_closed(), CLOSE_WITHIN)
            except (asyncio.TimeoutError, asyncio.CancelledError):
                pass

    # -- HTTP: the page ------------------------------------------------------
    def _process_request(self, connection, request):
        if getattr(request, 'method', 'GET') != 'GET':     # websockets >= 17 hands them on
            response = _response(http.HTTPStatus.METHOD_NOT_ALLOWED, b'GET only\n')
            response.headers['Allow'] = 'GET'
            return response
        path, _, query = request.path.partition('?')
        peer = connection.remote_address
        if not self.allow.permits(peer[0] if peer else ''):
            self.refused['allow'] += 1
            self.allow.refuse(self.log, 'live view', _peer(peer))
            return _response(http.HTTPStatus.FORBIDDEN, b'not on the allowlist\n')
        host = request.headers.get('Host', '')
        if not self._host_allowed(host):
            self.refused['host'] += 1
            return _response(http.HTTPStatus.FORBIDDEN, b'unknown host\n')
        upgrade = 'websocket' in request.headers.get('Upgrade', '').lower()
        if path == WS_PATH:
            if not upgrade:
                return _response(http.HTTPStatus.UPGRADE_REQUIRED, b'WebSocket only\n')
            origin = request.headers.get('Origin')
            if origin is not None and origin.lower() != f'http://{host}'.lower():
                self.refused['origin'] += 1
                self.log.warning(f'live view: refused a WebSocket from origin {origin}')
                return _response(http.HTTPStatus.FORBIDDEN, b'foreign origin\n')
            if self.token and not _token_matches(query, self.token):
                self.refused['token'] += 1
                return _response(http.HTTPStatus.FORBIDDEN, b'token required\n')
            return None         # go on with the WebSocket handshake
        name = 'index.html' if path == '/' else path[1:]
        if upgrade or name not in self._files:
            return _response(http.HTTPStatus.NOT_FOUND, b'not found\n')
        body, content_type = self._files[name]
        return _response(http.HTTPStatus.OK, body, content_type)

    def _host_allowed(self, host):
        if host.startswith('['):
            name = host[1:].split(']', 1)[0]
        else:
            name = host.rsplit(':', 1)[0] if host.count(':') == 1 else host
        name = name.lower().rstrip('.')
        if not name:
            return False
        try:
            ipaddress.ip_address(name)
            return True
        except ValueError:
            return name in self._names or name.endswith('.localhost')

    # -- WebSocket: the data -------------------------------------------------
    async def _handler(self, connection):
        sock = connection.transport.get_extra_info('socket')
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
        client = _Client(connection)
        self._clients.add(client)
        receiver = asyncio.create_task(self._receive(client))
        try:
            await self._send_loop(client)
        except ConnectionClosed:
            pass
        finally:
            receiver.cancel()
            self._clients.discard(client)

    async def _send_loop(self, client):
        loop = asyncio.get_running_loop()
        period = 1.0 / self.frame_rate
        connection = client.connection
        message = self._frame(client, hello=True)
        while True:
            due = loop.time() + period
            while client.replies:
                await self._send(client, client.replies.popleft())
            if message is not None:
                await self._send(client, message)
                client.frames += 1
            await asyncio.sleep(max(0.0, due - loop.time()))
            if connection.state is not State.OPEN:
                return
            message = self._frame(client)

    async def _send(self, client, message):
        client.sending_since = asyncio.get_running_loop().time()
        try:
            await client.connection.send(message)
        finally:
            client.sending_since = None

    def _status(self):
        if self._finished:
            return 'finished'
        return 'halted' if self._halt is not None else 'running'

    def _frame(self, client, hello=False):
        """Return the JSON text of what ``client`` has not seen yet, or None."""
        sample = self._latest
        status = (self._status(), self._halt, self._failsafe)
        frame = {'type': 'hello' if hello else 'frame'}
        if hello:
            frame.update({'dt': self.dt, 'history': self.history,
                          'frame_rate': self.frame_rate, 'colors': geometry.COLORS,
                          'commands': [] if self.view_only else list(COMMANDS),
                          'push': PUSH_DEFAULTS})
        changed = hello
        if sample is not client.sample and sample is not None:
            client.sample = sample
            frame.update({'index': sample.index, 't': sample.t, 'state': list(sample.true),
                          'measured': list(sample.measured), 'force': sample.force})
            changed = True
        if status != client.status:
            client.status = status
            changed = True
        version = self._episode_version
        if version != client.episode_version:
            client.episode_version = version
            frame['episode'] = self._episode
            changed = True
        # The counts tell whether there is anything new; what was sent is told
        # by the copies (the plant's thread may append between the two reads).
        seen = client.chart_seen
        if self._chart_count != seen:
            chart = self._chart.copy()
            points = []
            for point in reversed(chart):
                if point[0] <= seen:
                    break
                points.append([point[1], point[2]] + [round(v, 5) for v in point[3:]])
            points.reverse()
            client.chart_seen = chart[-1][0] if chart else seen
            frame['chart'] = points
            changed = changed or bool(points)
        seen = client.events_seen
        if self._event_count != seen:
            events = self._events.copy()
            frame['events'] = [e for n, e in events if n > seen]
            client.events_seen = events[-1][0] if events else seen
            changed = changed or bool(frame['events'])
        if not changed:
            return None
        frame.update({'status': status[0], 'halt': status[1], 'failsafe': status[2],
                      'samples': self._samples})
        try:
            return json.dumps(frame, allow_nan=False, separators=(',', ':'))
        except ValueError:      # a non-finite number: JSON has none
            return json.dumps(_jsonable(frame), separators=(',', ':'))

    async def _receive(self, client):
        try:
            async for message in client.connection:
                try:
                    reply = await self._command(message, client)
                except Exception as exc:  # noqa: B902 - one bad message ends nothing
                    reply = _error(None, f'cannot handle that message: {type(exc).__name__}')
                client.replies.append(json.dumps(reply, separators=(',', ':')))
        except ConnectionClosed:
            pass

    async def _command(self, message, client):
        """Run one command from a browser; the reply (a dict), never an exception."""
        if not isinstance(message, str):
            return _error(None, 'commands are JSON text, not binary')
        try:
            command = json.loads(message)
        except (ValueError, RecursionError) as exc:
            return _error(None, f'not JSON: {exc}')
        if not isinstance(command, dict):
            return _error(None, 'a command is a JSON object such as {"cmd": "reset"}')
        name = command.get('cmd')
        tag = command.get('id')
        if not isinstance(tag, (str, int, type(None))) or isinstance(tag, bool):
            return _error(name, 'id must be a string or an integer')
        if name not in COMMANDS:
            return _error(name, f'unknown command {name!r}: one of {list(COMMANDS)}', tag)
        if self.view_only:
            return _error(name, 'this live view is view-only', tag)
        fields = set(command) - {'cmd', 'id'}
        if name == 'push':
            try:
                args = _push_arguments(command)
            except ValueError as exc:
                return _error(name, str(exc), tag)
            call = (self.actions.push, *args)
            what = 'push [F, tau1, tau2] = [%g, %g, %g] for %g s' % args
        elif name == 'fault':
            try:
                fault = _fault_argument(command)
            except ValueError as exc:
                return _error(name, str(exc), tag)
            call = (self.actions.fault, fault)
            what = f'fault {fault.describe()}'
        elif fields:
            return _error(name, f'{name} takes no arguments, got {sorted(fields)}', tag)
        else:
            call = (getattr(self.actions, name),)
            what = name
        self.log.info(f'live view: {what} from {_peer(client.peer)}')
        loop = asyncio.get_running_loop()
        try:
            result = await loop.run_in_executor(self._executor, *call)
        except Exception as exc:  # noqa: B902 - the door's refusal goes back to the page
            return _error(name, f'{type(exc).__name__}: {exc}', tag)
        reply = {'type': 'reply', 'cmd': name, 'ok': True, 'result': _jsonable(result)}
        if tag is not None:
            reply['id'] = tag
        return reply


def _push_arguments(command):
    """Return ``(force, tau1, tau2, duration)`` of a push command (ValueError if bad)."""
    unknown = set(command) - {'cmd', 'id'} - set(PUSH_DEFAULTS)
    if unknown:
        raise ValueError(f'push takes {sorted(PUSH_DEFAULTS)}, not {sorted(unknown)}')
    values = {}
    for key, default in PUSH_DEFAULTS.items():
        value = command.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or \
                not math.isfinite(value):
            raise ValueError(f'{key} must be a finite number, got {value!r}')
        values[key] = float(value)
        if key in PUSH_LIMITS and abs(value) > PUSH_LIMITS[key]:
            raise ValueError(f'|{key}| must be at most {PUSH_LIMITS[key]:g}, got {value!r}')
    if not 0.0 < values['duration'] <= MAX_PUSH_DURATION:
        raise ValueError(f'duration must be in (0, {MAX_PUSH_DURATION:g}] s, '
                         f'got {values["duration"]!r}')
    return tuple(values.values())


def _token_matches(query, token):
    given = urllib.parse.parse_qs(query).get('token', [''])[0]
    return hmac.compare_digest(given.encode(), token.encode())


def _fault_argument(command):
    """Return the checked Fault of a fault command (ValueError naming the key)."""
    unknown = set(command) - {'cmd', 'id', 'spec'}
    if unknown or 'spec' not in command:
        raise ValueError(f'fault takes spec (a mapping or a line), got {sorted(unknown)}')
    spec = command['spec']
    return Fault.from_dict(from_text(spec) if isinstance(spec, str) else spec)


def _error(name, text, tag=None):
    reply = {'type': 'error', 'cmd': name if isinstance(name, str) else None, 'error': text}
    if tag is not None:
        reply['id'] = tag
    return reply


def _peer(address):
    return 'unknown' if not address else f'{address[0]}:{address[1]}'


def _response(status, body, content_type='text/plain; charset=utf-8'):
    headers = Headers([('Content-Type', content_type), ('Content-Length', str(len(body))),
                       ('Cache-Control', 'no-cache'), ('X-Content-Type-Options', 'nosniff'),
                       ('Connection', 'close')])
    return Response(status.value, status.phrase, headers, body)


def _load_static():
    """Return ``{name: (bytes, content type)}`` of the page's files."""
    files = {}
    if STATIC_DIR.is_dir():
        for item in STATIC_DIR.iterdir():
            suffix = '.' + item.name.rsplit('.', 1)[-1]
            if item.is_file() and suffix in CONTENT_TYPES:
                files[item.name] = (item.read_bytes(), CONTENT_TYPES[suffix])
    if 'index.html' not in files:
        raise FileNotFoundError(f'the live view page is not installed: no {STATIC_DIR}/'
                                'index.html (package_data of plant_server_ros.doors.web)')
    return files


def _allowed_names(host):
    names = {'localhost', host.lower().rstrip('.')}
    try:
        names.add(socket.gethostname().lower())
    except OSError:
        pass
    return names - {''}


def _jsonable(value):
    """Return ``value`` with what JSON cannot hold made so (inf: 'inf', tuples: lists)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return number if math.isfinite(number) else str(number)
