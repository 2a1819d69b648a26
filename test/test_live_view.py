"""
The live view (``plant_server_ros.doors.web``): its page in a real browser, its WebSocket.

Every plant is a real-time ``PlantServer`` in a thread of this process, the
view on port 0 of loopback, attached to the plant's schedule as an observer.
The page runs in headless Chromium driven by Selenium (Debian's
``chromium`` and ``chromium-driver``); those tests skip where no browser
is installed.  The WebSocket's own tests (commands, a client that never
reads, closing) need only ``websockets``.
"""

import base64
import contextlib
import http.client
import json
import os
import shutil
import socket
import threading
import time
import urllib.error
import urllib.request

from plant_server_ros import PlantServer
from plant_server_ros.physics import geometry
from plant_server_ros.runtime.plant import Plant
from plant_server_ros.runtime.schedule import Fanout, PlantListener, Sample
import pytest

# Without websockets the tests skip, not the module: a module-level skip ends the
# collection of the whole folder under launch_testing's plugin (colcon test).
try:
    import websockets.exceptions as ws_exceptions
    import websockets.sync.client as ws_client
except ImportError:
    ws_client = ws_exceptions = live_view = None
else:
    from plant_server_ros.doors.web import live_view
pytestmark = pytest.mark.skipif(ws_client is None,
                                reason='websockets is not installed (requirements/web.txt)')

HOST = '127.0.0.1'
DT = 0.01
WAIT = 10.0             # s for anything to happen on a busy shared machine
CHROMIUM_ARGS = ('--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
                 '--no-first-run', '--disable-background-networking',
                 '--disable-component-update', '--disable-sync', '--window-size=1300,1000')


# -- a plant, its view, and what it published ------------------------------------
class Recorder(PlantListener):
    """Every published sample, with the wall time it was heard."""

    def __init__(self):
        self.samples = []

    def on_sample(self, sample):
        self.samples.append((time.monotonic(), sample))

    def by_index(self, index):
        for _, sample in reversed(self.samples):
            if sample.index == index:
                return sample
        raise AssertionError(f'no sample {index} was published')


class Served:
    """A running PlantServer with a LiveView and a Recorder attached."""

    def __init__(self, server, view, recorder, actions):
        self.server, self.view, self.recorder, self.actions = server, view, recorder, actions

    @property
    def ws_url(self):
        return f'ws://{HOST}:{self.view.port}/ws'


def attach(server, observers):
    """Attach ``observers`` to the server's schedule (before ``start()``)."""
    schedule = server.host.schedule
    if isinstance(schedule.listener, Fanout):
        schedule.listener.observers.extend(observers)
    else:
        schedule.listener = Fanout(schedule.listener, observers)


def wait_for(predicate, what, timeout=WAIT):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f'timed out after {timeout:g} s waiting for {what}')
        time.sleep(0.02)


@contextlib.contextmanager
def served_plant(**view_kwargs):
    server = PlantServer(mode='realtime', bind_addr=(HOST, 0), seed=7)
    actions = live_view.PlantServerActions(server)
    view = live_view.LiveView(server.plant, actions, **view_kwargs)
    recorder = Recorder()
    attach(server, [view, recorder])
    thread = threading.Thread(target=server.start, name='plant_server', daemon=True)
    try:
        view.start()
        thread.start()
        wait_for(lambda: len(recorder.samples) > 5, 'the plant to tick')
        yield Served(server, view, recorder, actions)
    finally:
        view.close()
        actions.close()
        server.close()
        thread.join(5.0)


@pytest.fixture
def served():
    with served_plant() as s:
        yield s


# -- the browser ---------------------------------------------------------------
@pytest.fixture(scope='module')
def browser(tmp_path_factory):
    webdriver = pytest.importorskip('selenium.webdriver',
                                    reason='selenium is not installed (requirements/web.txt)')
    chromium = shutil.which('chromium') or shutil.which('chromium-browser')
    driver_path = shutil.which('chromedriver')
    if chromium is None or driver_path is None:
        pytest.skip('no headless browser: apt-get install chromium chromium-driver')
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in CHROMIUM_ARGS:
        options.add_argument(arg)
    options.add_argument(f'--user-data-dir={tmp_path_factory.mktemp("chromium_profile")}')
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=driver_path),
                              options=options)
    driver.set_page_load_timeout(30)
    driver.set_script_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def dip_view(driver):
    return driver.execute_script('return window.dipView')


def open_page(driver, served):
    driver.get(served.view.url)
    wait_for(lambda: (dip_view(driver) or {}).get('frames', 0) > 3 and
             dip_view(driver)['status'] == 'running', 'the page to get frames')
    return dip_view(driver)


def click(driver, element_id):
    from selenium.webdriver.common.by import By
    button = driver.find_element(By.ID, element_id)
    wait_for(button.is_enabled, f'#{element_id} to be enabled')
    button.click()


# -- the page in a browser -------------------------------------------------------
def test_page_loads(browser, served):
    from selenium.webdriver.common.by import By
    view = open_page(browser, served)
    assert browser.title == 'DIP live view'
    canvas = browser.find_element(By.ID, 'plant')
    assert canvas.tag_name == 'canvas' and canvas.size['width'] > 300
    assert canvas.size['height'] >= 200
    for chart in ('chart-angles', 'chart-x', 'chart-force'):
        assert browser.find_element(By.ID, chart).size['height'] > 50
    assert view['connected'] and view['episode'] == served.server.plant.episode
    assert browser.find_element(By.ID, 'scenario-name').text == 'default'
    assert browser.find_element(By.ID, 'status').text == 'running'
    # The plant's first events are listed (the episode's start at least).
    events = browser.find_element(By.ID, 'events').text
    assert 'episode 1: scenario default' in events
    for button in ('reset', 'push', 'estop'):
        assert browser.find_element(By.ID, button).is_enabled()


def test_drawing_follows_the_plant(browser, served, tmp_path):
    from selenium.webdriver.common.by import By
    open_page(browser, served)
    params = served.server.plant.dynamics.params
    seen = []
    for _ in range(6):
        time.sleep(0.25)
        view = dip_view(browser)
        latest = served.recorder.samples[-1][1].index
        seen.append(view)
        # What is drawn is a sample the plant published, a few periods ago at most.
        sample = served.recorder.by_index(view['index'])
        points = geometry.forward_kinematics(sample.true, params)
        assert view['x'] == pytest.approx(sample.true[0], abs=1e-9)
        assert view['tip1'] == pytest.approx(list(points['joint2']), abs=1e-9)
        assert view['tip2'] == pytest.approx(list(points['tip']), abs=1e-9)
        assert view['t'] == pytest.approx(sample.t)
        assert latest - view['index'] <= 20, \
            f'the page draws sample {view["index"]} while the plant is at {latest}'
    # It moves: the pendulum falls from near upright and the drawing follows.
    assert seen[-1]['frames'] - seen[0]['frames'] >= 20
    assert seen[-1]['index'] > seen[0]['index']
    assert seen[-1]['tip2'] != seen[0]['tip2']
    # The pixels drawn: the canvas's screenshot, decoded by the browser itself.
    canvas = browser.find_element(By.ID, 'plant')
    png = canvas.screenshot_as_png
    shot = tmp_path / 'live_view_canvas.png'
    shot.write_bytes(png)
    browser.save_screenshot(str(tmp_path / 'live_view_page.png'))
    counts = browser.execute_async_script(PIXEL_COUNT, base64.b64encode(png).decode(), {
        name: [round(255 * c) for c in geometry.COLORS[name][:3]]
        for name in ('cart', 'link1', 'link2', 'tip', 'rail')})
    assert counts['width'] >= 300 and counts['height'] >= 200, counts
    assert counts['distinct'] > 20, f'a blank canvas ({shot}): {counts}'
    for name in ('cart', 'link1', 'link2', 'tip', 'rail'):
        assert counts[name] > 30, f'no {name} drawn in {shot}: {counts}'


# Decode a PNG in the page, count its colours and the pixels near each named colour.
PIXEL_COUNT = """
const [data, named, done] = arguments;
const img = new Image();
img.onload = () => {
  const c = document.createElement('canvas');
  c.width = img.width; c.height = img.height;
  const ctx = c.getContext('2d');
  ctx.drawImage(img, 0, 0);
  const px = ctx.getImageData(0, 0, c.width, c.height).data;
  const out = {width: c.width, height: c.height};
  const colours = new Set();
  for (const k in named) out[k] = 0;
  for (let i = 0; i < px.length; i += 4) {
    colours.add((px[i] << 16) | (px[i + 1] << 8) | px[i + 2]);
    for (const k in named) {
      const q = named[k];
      if (Math.abs(px[i] - q[0]) + Math.abs(px[i + 1] - q[1]) + Math.abs(px[i + 2] - q[2]) < 12)
        out[k] += 1;
    }
  }
  out.distinct = colours.size;
  done(out);
};
img.onerror = () => done({error: 'not a PNG'});
img.src = 'data:image/png;base64,' + data;
"""


def live_events(server):
    return [e for e in server.status()['events'] if e['kind'] == 'disturbance']


def test_push_button_pushes_the_plant(browser, served):
    open_page(browser, served)
    server, plant = served.server, served.server.plant
    assert not live_events(server)
    click(browser, 'push')          # the page's default: 10 N for 0.1 s
    events = wait_for(lambda: len(live_events(server)) >= 2 and live_events(server),
                      'the push and its end')
    on, off = events[:2]
    assert on['detail'] == 'live [F, tau1, tau2] = [10, 0, 0]'
    assert off['detail'] == 'live [F, tau1, tau2] = [0, 0, 0]'
    assert 0.08 <= off['t'] - on['t'] <= 0.3, (on, off)
    reply = wait_for(lambda: dip_view(browser)['lastReply'], 'the reply to the push')
    assert reply['ok'] and reply['cmd'] == 'push'
    # With and without: the published trajectory against the same plant unpushed.
    horizon = 15
    start = wait_for(lambda: next((s for _, s in served.recorder.samples
                                   if abs(s.t - on['t']) < DT / 2), None), 'the pushed sample')
    end = wait_for(lambda: next((s for _, s in served.recorder.samples
                                 if s.index == start.index + horizon), None), 'later samples')
    assert all(s.force == 0.0 for _, s in served.recorder.samples)     # no motor force
    unpushed = start.true
    for _ in range(horizon):
        unpushed = plant.dynamics.step(unpushed, 0.0, DT)
    jump = end.true[3] - unpushed[3]
    assert 0.25 < jump < 1.0, f'cart velocity changed by {jump:+.3f} m/s by the push'
    # The push is on the force chart.
    wait_for(lambda: browser.execute_script(
        'return document.getElementById("events").textContent')
        .count('live [F, tau1, tau2]') >= 2, 'the page to list both')


def test_estop_button_halts_the_plant_and_reset_resumes(browser, served):
    from selenium.webdriver.common.by import By
    open_page(browser, served)
    server = served.server
    click(browser, 'estop')
    wait_for(lambda: server.status()['state'] == 'halted', 'the plant to halt')
    assert 'live view e-stop' in server.status()['halt_reason']
    view = wait_for(lambda: (lambda v: v if v['status'] == 'halted' else None)(
        dip_view(browser)), 'the page to show the halt')
    assert 'emergency stop' in view['halt']
    assert browser.find_element(By.ID, 'halt').is_displayed()
    halted_at = server.plant.time
    time.sleep(0.3)
    assert server.plant.time == halted_at           # it does not move any more
    click(browser, 'reset')
    wait_for(lambda: server.status()['state'] == 'running', 'the plant to run again')
    wait_for(lambda: dip_view(browser)['status'] == 'running', 'the page to show it')
    assert not browser.find_element(By.ID, 'halt').is_displayed()


def test_reset_button_starts_a_new_episode(browser, served):
    open_page(browser, served)
    plant = served.server.plant
    episode = plant.episode
    wait_for(lambda: plant.time > 1.0, 'a second of the episode')
    click(browser, 'reset')
    wait_for(lambda: plant.episode == episode + 1, 'a new episode')
    view = wait_for(lambda: (lambda v: v if v['episode'] == episode + 1 else None)(
        dip_view(browser)), 'the page to show the new episode')
    assert view['t'] < 1.0
    assert served.server.status()['state'] == 'running'
    # The sample drawn at t = 0 is the initial state again.
    first = next(s for _, s in reversed(served.recorder.samples) if s.t == 0.0)
    assert first.true == plant.initial_state


# -- the WebSocket, without a browser ----------------------------------------------
def raw_websocket(port, rcvbuf=2048):
    """Open a WebSocket by hand, and then read nothing: a stalled client."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(WAIT)
    sock.connect((HOST, port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f'GET /ws HTTP/1.1\r\nHost: {HOST}:{port}\r\nUpgrade: websocket\r\n'
                  f'Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n'
                  'Sec-WebSocket-Version: 13\r\n\r\n').encode())
    head = b''
    while b'\r\n\r\n' not in head:
        head += sock.recv(1)
    assert head.startswith(b'HTTP/1.1 101'), head
    return sock


def test_a_stalled_client_does_not_slow_the_plant():
    with served_plant() as served:
        ticker = served.server.host.schedule.ticker
        stalled = raw_websocket(served.view.port)
        try:
            wait_for(lambda: any(c['backlog'] and c['stalled_for'] > 0.2
                                 for c in served.view.stats()['clients']),
                     'the view to hold frames back from the stalled client', timeout=30.0)
            overruns = ticker.overruns
            frames = []
            with ws_client.connect(served.ws_url) as good:
                t0 = time.monotonic()
                first = len(served.recorder.samples)
                while time.monotonic() - t0 < 2.0:
                    frames.append(json.loads(good.recv(timeout=WAIT)))
                elapsed = time.monotonic() - t0
                times = [t for t, _ in served.recorder.samples[first:]]
            stats = served.view.stats()
        finally:
            stalled.close()
        rate = len(times) / elapsed
        gaps = max(b - a for a, b in zip(times, times[1:]))
        assert rate > 0.9 / DT, f'{rate:.1f} samples/s while a client stalled'
        assert gaps < 0.1, f'the plant paused {gaps * 1e3:.0f} ms while a client stalled'
        assert ticker.overruns - overruns <= 2, 'the ticker fell behind'
        # The stalled client is still held, and another still gets ~50 frames/s.
        assert any(c['stalled_for'] > 1.0 for c in stats['clients']), stats
        assert frames[0]['type'] == 'hello'
        assert 50 <= len(frames) <= 2.0 * served.view.frame_rate + 5
        # The view closes at once all the same.
        t0 = time.monotonic()
        served.view.close()
        assert time.monotonic() - t0 < 1.0


class FakeActions:
    """The buttons, recorded; reset refuses."""

    def __init__(self):
        self.calls = []

    def reset(self):
        self.calls.append(('reset',))
        raise RuntimeError('the plant is finished')

    def push(self, force, tau1, tau2, duration):
        self.calls.append(('push', force, tau1, tau2, duration))
        return [force, tau1, tau2]

    def estop(self):
        self.calls.append(('estop',))
        return 'emergency stop'


@pytest.fixture
def bare_view():
    """Serve a view of a plant nobody steps: the test publishes the samples itself."""
    plant = Plant(dt=DT, seed=1)
    actions = FakeActions()
    view = live_view.LiveView(plant, actions)
    view.start()
    try:
        yield view, plant, actions
    finally:
        view.close()


def sample(index, plant):
    return Sample(index, index * DT, plant.state, plant.state, 0.5)


def replies(connection, count):
    """Return the next ``count`` replies and errors (frames skipped)."""
    out = []
    while len(out) < count:
        message = json.loads(connection.recv(timeout=WAIT))
        if message['type'] in ('reply', 'error'):
            out.append(message)
    return out


def test_commands_are_checked(bare_view):
    view, plant, actions = bare_view
    url = f'ws://{HOST}:{view.port}/ws'
    with ws_client.connect(url) as connection:
        hello = json.loads(connection.recv(timeout=WAIT))
        assert hello['type'] == 'hello' and hello['dt'] == DT
        assert hello['episode']['link1_length'] == plant.dynamics.params.link1_length
        bad = [
            ('not json', None, 'not JSON'),
            ('[1, 2]', None, 'JSON object'),
            ('{"cmd": "launch"}', 'launch', 'unknown command'),
            ('{"nocmd": 1}', None, 'unknown command'),
            ('{"cmd": "push", "force": "x"}', 'push', 'finite number'),
            ('{"cmd": "push", "force": true}', 'push', 'finite number'),
            ('{"cmd": "push", "force": 1e400}', 'push', 'finite number'),
            ('{"cmd": "push", "force": 1000}', 'push', 'at most'),
            ('{"cmd": "push", "duration": 0}', 'push', 'duration'),
            ('{"cmd": "push", "duration": 60}', 'push', 'duration'),
            ('{"cmd": "push", "speed": 1}', 'push', 'not'),
            ('{"cmd": "estop", "now": true}', 'estop', 'no arguments'),
            ('{"cmd": "estop", "id": [1]}', 'estop', 'id'),
            # Found in review: these once ended the connection's command handling.
            ('{"cmd": "push", "force": 1' + '0' * 400 + '}', None, ''),
            ('[' * 2000, None, ''),
        ]
        for text, cmd, words in bad:
            connection.send(text)
            (reply,) = replies(connection, 1)
            assert reply['type'] == 'error', (text, reply)
            assert cmd is None or reply['cmd'] == cmd, (text, reply)
            assert words in reply['error'], (text, reply)
        connection.send(b'\x00binary')
        assert 'binary' in replies(connection, 1)[0]['error']
        assert actions.calls == []
        # Good ones reach the door; its refusal comes back as an error.
        connection.send(json.dumps({'cmd': 'push', 'force': -5, 'tau1': 0.1, 'id': 'a'}))
        connection.send(json.dumps({'cmd': 'estop', 'id': 2}))
        connection.send(json.dumps({'cmd': 'reset'}))
        push, estop, reset = replies(connection, 3)
        assert push == {'type': 'reply', 'cmd': 'push', 'ok': True, 'id': 'a',
                        'result': [-5.0, 0.1, 0.0]}
        assert estop['ok'] and estop['id'] == 2 and estop['result'] == 'emergency stop'
        assert reset['type'] == 'error' and 'the plant is finished' in reset['error']
        assert actions.calls == [('push', -5.0, 0.1, 0.0, 0.1), ('estop',), ('reset',)]
        # A message too long closes that connection, and only that one.
        connection.send(json.dumps({'cmd': 'push', 'pad': 'x' * 10000}))
        with pytest.raises(ws_exceptions.ConnectionClosed):
            for _ in range(100):
                connection.recv(timeout=WAIT)
    with ws_client.connect(url) as connection:
        assert json.loads(connection.recv(timeout=WAIT))['type'] == 'hello'


def test_frames_are_rate_limited_and_charts_decimated(bare_view):
    view, plant, actions = bare_view
    for index in range(100):
        view.on_sample(sample(index, plant))
    url = f'ws://{HOST}:{view.port}/ws'
    with ws_client.connect(url) as connection:
        hello = json.loads(connection.recv(timeout=WAIT))
        assert hello['index'] == 99 and hello['force'] == 0.5
        assert [p[0] for p in hello['chart']] == list(range(0, 100, 2))   # 50 Hz of 100
        stop = threading.Event()

        def publish():      # as fast as possible: far more than frame_rate
            index = 100
            while not stop.is_set():
                view.on_sample(sample(index, plant))
                index += 1
                time.sleep(0.0005)

        thread = threading.Thread(target=publish, daemon=True)
        thread.start()
        try:
            frames = []
            t0 = time.monotonic()
            while time.monotonic() - t0 < 1.0:
                frames.append(json.loads(connection.recv(timeout=WAIT)))
        finally:
            stop.set()
            thread.join()
    assert len(frames) <= view.frame_rate * 1.2 + 2, len(frames)
    assert len(frames) >= view.frame_rate * 0.5, len(frames)
    indexes = [f['index'] for f in frames]
    assert indexes == sorted(indexes) and indexes[-1] - indexes[0] > len(frames)   # dropped
    chart = [p[0] for f in frames for p in f.get('chart', [])]
    assert chart == list(range(chart[0], chart[-1] + 1, 2))     # every other, none lost


def test_events_halt_and_episodes_reach_the_page(bare_view):
    view, plant, actions = bare_view
    url = f'ws://{HOST}:{view.port}/ws'
    with ws_client.connect(url) as connection:
        json.loads(connection.recv(timeout=WAIT))
        for event in plant.take_events():
            view.on_event(event)
        view.on_halt('cart left the track')
        events = []
        while True:
            frame = json.loads(connection.recv(timeout=WAIT))
            events += frame.get('events', [])
            if frame['status'] == 'halted':
                break
        assert frame['halt'] == 'cart left the track'
        assert [e['kind'] for e in events] == ['episode']
        plant.reset()
        view.on_episode(0)
        frame = json.loads(connection.recv(timeout=WAIT))
        assert frame['status'] == 'running' and frame['halt'] is None
        assert frame['episode']['number'] == 2
        assert frame['episode']['scenario'] == 'default'


def http_get(url, host=None):
    request = urllib.request.Request(url)
    if host is not None:
        request.add_header('Host', host)
    try:
        with urllib.request.urlopen(request, timeout=WAIT) as response:
            return response.status, response.headers['Content-Type'], response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers['Content-Type'], exc.read()


@pytest.mark.parametrize('method', ['POST', 'PUT', 'DELETE', 'HEAD', 'OPTIONS'])
def test_http_methods_other_than_get_are_answered_405(bare_view, method):
    view = bare_view[0]
    connection = http.client.HTTPConnection(HOST, view.port, timeout=WAIT)
    try:
        connection.request(method, '/', headers={'Host': f'{HOST}:{view.port}'})
        response = connection.getresponse()
        assert response.status == 405 and response.getheader('Allow') == 'GET'
    finally:
        connection.close()
    assert http_get(f'http://{HOST}:{view.port}/')[0] == 200      # the view serves on


def test_http_serves_the_page_and_nothing_else(bare_view):
    view = bare_view[0]
    base = f'http://{HOST}:{view.port}'
    status, kind, body = http_get(base + '/')
    assert status == 200 and kind.startswith('text/html') and b'<canvas' in body
    for name, kind_wanted in (('live_view.js', 'text/javascript'),
                              ('live_view.css', 'text/css')):
        status, kind, body = http_get(f'{base}/{name}')
        assert status == 200 and kind.startswith(kind_wanted) and body
    assert http_get(base + '/?x=1')[0] == 200
    for path in ('/nope', '/../live_view.py', '/static/index.html', '/%2e%2e/live_view.py'):
        assert http_get(base + path)[0] == 404, path
    assert http_get(base + '/ws')[0] == 426
    # Another name for loopback (DNS rebinding) or another origin: refused.
    assert http_get(base + '/', host=f'evil.example:{view.port}')[0] == 403
    assert http_get(base + '/', host=f'localhost:{view.port}')[0] == 200
    with pytest.raises(Exception, match='403'):
        ws_client.connect(f'ws://{HOST}:{view.port}/ws', origin='http://evil.example',
                          open_timeout=WAIT)
    with ws_client.connect(f'ws://{HOST}:{view.port}/ws',
                           origin=f'http://{HOST}:{view.port}') as connection:
        assert json.loads(connection.recv(timeout=WAIT))['type'] == 'hello'


def test_close_frees_the_port_at_once():
    plant = Plant(dt=DT)
    view = live_view.LiveView(plant, FakeActions())
    assert view.start() is view
    port = view.port
    assert port > 0 and view.url == f'http://{HOST}:{port}/'
    with contextlib.ExitStack() as stack:
        stack.enter_context(ws_client.connect(f'ws://{HOST}:{port}/ws'))
        stack.enter_context(raw_websocket(port))
        t0 = time.monotonic()
        view.close()
        assert time.monotonic() - t0 < 1.0
        view.close()                                    # idempotent
        again = live_view.LiveView(plant, FakeActions(), port=port).start()
        again.close()
        with pytest.raises(RuntimeError):
            view.start()
    # A port in use: OSError at start, nothing left behind.
    with socket.socket() as busy:
        busy.bind((HOST, 0))
        busy.listen()
        blocked = live_view.LiveView(plant, FakeActions(), port=busy.getsockname()[1])
        with pytest.raises(OSError):
            blocked.start()
        blocked.close()


def test_pulse_clears_itself():
    calls = []
    pulse = live_view.Pulse(lambda *values: calls.append(values) or values)
    assert pulse(3.0, 0.0, 0.0, 0.05) == (3.0, 0.0, 0.0)
    wait_for(lambda: len(calls) == 2, 'the pulse to end', timeout=2.0)
    assert calls == [(3.0, 0.0, 0.0), (0.0, 0.0, 0.0)]
    # A second push before the first ends: only its own end clears it.
    calls.clear()
    pulse(1.0, 0.0, 0.0, 0.2)
    pulse(2.0, 0.0, 0.0, 0.05)
    time.sleep(0.4)
    assert calls == [(1.0, 0.0, 0.0), (2.0, 0.0, 0.0), (0.0, 0.0, 0.0)]
    pulse(4.0, 0.0, 0.0, 5.0)
    pulse.cancel()
    pulse.cancel()
    assert calls[-2:] == [(4.0, 0.0, 0.0), (0.0, 0.0, 0.0)]


# -- the ROS door: the bridge feeds the view from the plant's topics ---------------------
def test_bridge_web_port_serves_the_plant_and_its_buttons_act():
    pytest.importorskip('rclpy', reason='rclpy (ROS 2 wheels or a sourced ROS) is needed',
                        exc_type=ImportError)
    from _ros_harness import bridge_port, NodeProcess, wait_until_served
    from websockets.sync.client import connect
    probe = socket.socket()
    probe.bind(('127.0.0.1', 0))
    web = probe.getsockname()[1]
    probe.close()
    plant = NodeProcess('plant_node', '-r', '__ns:=/web_br', '-p', 'sensor_noise_std:=0.0')
    bridge = NodeProcess('bridge_node', '-r', '__ns:=/web_br', '-p', 'port:=0',
                         '-p', f'web_port:={web}')
    try:
        wait_until_served(bridge_port(bridge))
        with connect(f'ws://127.0.0.1:{web}/ws') as ws:
            frames = []
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and len([f for f in frames if 'state' in f]) < 5:
                frames.append(json.loads(ws.recv(timeout=5)))
            moving = [f for f in frames if 'state' in f]
            assert len(moving) >= 5 and moving[-1]['index'] > moving[0]['index']
            assert any('episode' in f and f['episode'] for f in frames)
            ws.send(json.dumps({'cmd': 'estop', 'id': 1}))
            plant.wait_for('plant stopped: emergency stop')    # the plant's estop service
            ws.send(json.dumps({'cmd': 'reset', 'id': 2}))
            plant.wait_for('episode 2')                         # and its reset service
    finally:
        assert bridge.stop() == 0, bridge.output
        assert plant.stop() == 0, plant.output


def test_bridge_web_token_and_view_only_parameters_guard_its_live_view():
    pytest.importorskip('rclpy', reason='rclpy (ROS 2 wheels or a sourced ROS) is needed',
                        exc_type=ImportError)
    from _ros_harness import bridge_port, NodeProcess, wait_until_served
    from websockets.sync.client import connect
    probe = socket.socket()
    probe.bind(('127.0.0.1', 0))
    web = probe.getsockname()[1]
    probe.close()
    plant = NodeProcess('plant_node', '-r', '__ns:=/web_tok', '-p', 'sensor_noise_std:=0.0')
    bridge = NodeProcess('bridge_node', '-r', '__ns:=/web_tok', '-p', 'port:=0',
                         '-p', f'web_port:={web}', '-p', 'web_token:=s3cret',
                         '-p', 'web_view_only:=true')
    try:
        wait_until_served(bridge_port(bridge))
        assert bridge.wait_for(r'live view at \S+\?token=s3cret')   # the URL to open
        for query in ('', '?token=wrong'):
            with pytest.raises(Exception, match='403'):
                connect(f'ws://127.0.0.1:{web}/ws{query}', open_timeout=WAIT)
        with connect(f'ws://127.0.0.1:{web}/ws?token=s3cret') as ws:
            hello = json.loads(ws.recv(timeout=WAIT))
            assert hello['type'] == 'hello' and hello['commands'] == []
            ws.send(json.dumps({'cmd': 'estop', 'id': 1}))
            deadline = time.monotonic() + 10
            while True:
                frame = json.loads(ws.recv(timeout=5))
                if frame.get('type') == 'reply' or 'error' in frame:
                    break
                assert time.monotonic() < deadline, 'no answer to the command'
            assert 'view-only' in json.dumps(frame)
        assert 'emergency stop' not in plant.output         # the button did nothing
    finally:
        assert bridge.stop() == 0, bridge.output
        assert plant.stop() == 0, plant.output


def test_plant_server_web_argument_serves_the_page():
    ready = threading.Event()
    server = PlantServer(bind_addr=('127.0.0.1', 0), mode='realtime', web=0,
                         server_ready_event=ready)
    thread = threading.Thread(target=server.start)
    thread.start()
    try:
        assert ready.wait(10) and server.web_url.startswith('http://127.0.0.1:')
        with urllib.request.urlopen(server.web_url, timeout=5) as page:
            assert page.status == 200 and b'<canvas' in page.read()
        assert server.web_url in server.describe()
    finally:
        server.stop()
        thread.join(10)
        server.close()
    with pytest.raises(urllib.error.URLError):             # closed with the server
        urllib.request.urlopen(server.web_url, timeout=2)
