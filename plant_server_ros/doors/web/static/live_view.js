// The live view of the plant: frames over a WebSocket, drawn on canvases.
// Plain JavaScript, nothing loaded from elsewhere.  window.dipView tells
// what is drawn now (for tests and curious users).
(function () {
  'use strict';

  var EVENTS_SHOWN = 40;
  var RECONNECT_MS = 1000;
  var MIN_SPAN = { angles: 0.2, x: 0.2, force: 2.0 };   // smallest y range of each chart

  var view = window.dipView = {
    connected: false, frames: 0, status: null, halt: null, failsafe: false,
    t: null, index: null, episode: null, scenario: null,
    x: null, joint: null, tip1: null, tip2: null, px: null, lastReply: null
  };
  var info = null;        // the hello: dt, history, colours
  var episode = null;     // the episode: lengths, dimensions, scenario
  var state = null;       // the latest true state [x, th1, th2, xdot, th1dot, th2dot]
  var force = 0.0;
  var chart = [];         // [index, t, x, th1, th2, force, live push force]
  var events = [];
  var socket = null;
  var nextId = 1;

  var $ = function (id) { return document.getElementById(id); };
  var buttons = ['reset', 'push', 'estop', 'fault-inject', 'fault-clear'].map($);

  function css(color, alpha) {
    var c = color || [0.5, 0.5, 0.5, 1.0];
    return 'rgba(' + Math.round(c[0] * 255) + ',' + Math.round(c[1] * 255) + ',' +
      Math.round(c[2] * 255) + ',' + (alpha === undefined ? c[3] : alpha) + ')';
  }

  function colour(name) {
    return css(info && info.colors ? info.colors[name] : null);
  }

  // -- the connection ---------------------------------------------------------
  function connect() {
    var scheme = location.protocol === 'https:' ? 'wss://' : 'ws://';
    // The page's query carries the token of a view bound beyond loopback.
    socket = new WebSocket(scheme + location.host + '/ws' + location.search);
    socket.onopen = function () {
      view.connected = true;
      buttons.forEach(function (b) { b.disabled = false; });
    };
    socket.onmessage = function (e) {
      var msg;
      try { msg = JSON.parse(e.data); } catch (err) { return; }
      receive(msg);
    };
    socket.onclose = function () {
      view.connected = false;
      buttons.forEach(function (b) { b.disabled = true; });
      setStatus('disconnected', null);
      setTimeout(connect, RECONNECT_MS);
    };
  }

  function send(command) {
    if (!socket || socket.readyState !== WebSocket.OPEN) return;
    command.id = nextId++;
    socket.send(JSON.stringify(command));
  }

  function receive(msg) {
    if (msg.type === 'reply' || msg.type === 'error') {
      view.lastReply = msg;
      var box = $('reply');
      box.className = msg.type === 'error' ? 'reply error' : 'reply';
      box.textContent = msg.type === 'error' ? msg.cmd + ': ' + msg.error : msg.cmd + ': done';
      return;
    }
    if (msg.type === 'hello') {
      info = msg;
      // A view-only door offers no commands: no buttons.
      buttons.forEach(function (b) {
        b.hidden = msg.commands && msg.commands.indexOf(b.id) < 0;
      });
      chart = [];
      events = [];
      activeFaults = [];
    }
    if (msg.episode) setEpisode(msg.episode);
    if (msg.state) {
      state = msg.state;
      force = msg.force;
      view.t = msg.t;
      view.index = msg.index;
    }
    if (msg.chart) addChart(msg.chart);
    if (msg.events) addEvents(msg.events);
    if (msg.status) setStatus(msg.status, msg.halt);
    view.failsafe = !!msg.failsafe;
    view.frames += 1;
    if (!document.hidden) draw();
  }

  // -- what the page shows ------------------------------------------------------
  function setStatus(status, halt) {
    view.status = status;
    view.halt = halt;
    var pill = $('status');
    pill.textContent = status;
    pill.className = 'pill ' + ({ running: 'pill-running', halted: 'pill-halted',
      finished: 'pill-finished' }[status] || 'pill-off');
    var banner = $('halt');
    banner.hidden = !halt;
    banner.textContent = halt ? 'HALTED: ' + halt + ' (reset to go on)' : '';
  }

  function setEpisode(ep) {
    if (info && ep.dt && ep.dt !== info.dt) {   // a door that learnt the plant's period late
      info.dt = ep.dt;
      chart.length = 0;
    }
    episode = ep;
    view.episode = ep.number;
    view.scenario = ep.scenario;
    $('episode').textContent = ep.number === null ? '\u2013' : ep.number;
    $('scenario-name').textContent = ep.scenario || '\u2013';
    $('scenario').textContent = JSON.stringify(ep.description, null, 1);
    sizeStage();
  }

  // An angle wrapped to (-pi, pi], as every metric judges it: a link swung
  // round once is upright again (physics/state.py's wrap_angle).
  function wrapAngle(a) {
    return a - 2 * Math.PI * Math.ceil((a - Math.PI) / (2 * Math.PI));
  }

  function addChart(points) {
    points.forEach(function (p) { p[3] = wrapAngle(p[3]); p[4] = wrapAngle(p[4]); });
    Array.prototype.push.apply(chart, points);
    if (!chart.length || !info) return;
    var oldest = chart[chart.length - 1][0] - info.history / info.dt;
    var drop = 0;
    while (drop < chart.length && chart[drop][0] < oldest) drop++;
    if (drop) chart.splice(0, drop);
  }

  // The faults on now, as the events tell (both doors send the same events).
  var activeFaults = [];

  function followFaults(list) {
    list.forEach(function (e) {
      if (e.kind === 'episode') activeFaults = [];
      else if (e.kind === 'fault_start') activeFaults.push(e.detail);
      else if (e.kind === 'fault_end') {
        var i = activeFaults.indexOf(e.detail.replace(/ \(cleared\)$/, ''));
        if (i >= 0) activeFaults.splice(i, 1);
      }
    });
    var ul = $('faults-on');
    ul.textContent = '';
    activeFaults.forEach(function (text) {
      var li = document.createElement('li');
      li.textContent = text;
      ul.appendChild(li);
    });
    if (!activeFaults.length) ul.textContent = 'none';
  }

  function addEvents(list) {
    followFaults(list);
    Array.prototype.push.apply(events, list);
    if (events.length > EVENTS_SHOWN) events.splice(0, events.length - EVENTS_SHOWN);
    var ol = $('events');
    ol.textContent = '';
    for (var i = events.length - 1; i >= 0; i--) {
      var e = events[i];
      var li = document.createElement('li');
      var when = document.createElement('span');
      when.className = 'when';
      when.textContent = 't=' + Number(e.t).toFixed(3) + ' s ';
      var kind = document.createElement('span');
      kind.className = 'kind kind-' + e.kind;
      kind.textContent = e.kind;
      li.appendChild(when);
      li.appendChild(kind);
      li.appendChild(document.createTextNode(' ' + e.detail));
      ol.appendChild(li);
    }
  }

  // -- the plant, to scale ------------------------------------------------------
  function world() {
    // The box of the world drawn: the whole rail, the links at full reach either way.
    var d = episode.dims;
    var reach = episode.link1_length + episode.link2_length;
    var half = d.rail[0] / 2 + d.cart[0] / 2 + 0.05 * reach;
    var bottom = Math.min(-reach, d.rail_z - d.rail[2] / 2) - 0.05 * reach;
    return { left: -half, right: half, top: reach + 0.05 * reach, bottom: bottom };
  }

  function sizeStage() {
    if (!episode) return;
    var w = world();
    var canvas = $('plant');
    var height = canvas.clientWidth * (w.top - w.bottom) / (w.right - w.left);
    height = Math.max(200, Math.min(height, 0.6 * window.innerHeight));
    canvas.style.height = Math.round(height) + 'px';
  }

  function fit(canvas) {
    var ratio = window.devicePixelRatio || 1;
    var w = canvas.clientWidth, h = canvas.clientHeight;
    if (canvas.width !== Math.round(w * ratio) || canvas.height !== Math.round(h * ratio)) {
      canvas.width = Math.round(w * ratio);
      canvas.height = Math.round(h * ratio);
    }
    var ctx = canvas.getContext('2d');
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, w, h);
    return { ctx: ctx, w: w, h: h };
  }

  function drawPlant() {
    var c = fit($('plant'));
    var ctx = c.ctx;
    ctx.fillStyle = '#fbfcfd';
    ctx.fillRect(0, 0, c.w, c.h);
    if (!episode || !state) {
      ctx.fillStyle = '#5b6678';
      ctx.font = '16px sans-serif';
      ctx.fillText('waiting for the plant\u2026', 20, 30);
      return;
    }
    var d = episode.dims;
    var b = world();
    var scale = Math.min(c.w / (b.right - b.left), c.h / (b.top - b.bottom));
    var ox = c.w / 2 - scale * (b.left + b.right) / 2;
    var oz = c.h / 2 + scale * (b.top + b.bottom) / 2;
    var X = function (x) { return ox + scale * x; };
    var Z = function (z) { return oz - scale * z; };

    var x = state[0], th1 = state[1], th2 = state[2];
    var L1 = episode.link1_length, L2 = episode.link2_length;
    var joint = [x + L1 * Math.sin(th1), L1 * Math.cos(th1)];
    var tip = [joint[0] + L2 * Math.sin(th2), joint[1] + L2 * Math.cos(th2)];

    // The rail, its ends (the track limit) and its middle.
    var railHalf = d.rail[0] / 2;
    ctx.fillStyle = colour('rail');
    ctx.fillRect(X(-railHalf), Z(d.rail_z + d.rail[2] / 2), scale * d.rail[0],
      Math.max(1, scale * d.rail[2]));
    ctx.strokeStyle = episode.track_limit === null ? '#9aa3b1' : '#c62828';
    ctx.lineWidth = 2;
    [-railHalf, railHalf].forEach(function (end) {
      ctx.beginPath();
      ctx.moveTo(X(end), Z(d.rail_z - d.rail[2]));
      ctx.lineTo(X(end), Z(d.rail_z + d.cart[2]));
      ctx.stroke();
    });
    ctx.strokeStyle = '#9aa3b1';
    ctx.lineWidth = 1;
    ctx.beginPath();
    ctx.moveTo(X(0), Z(d.rail_z - d.rail[2]));
    ctx.lineTo(X(0), Z(d.rail_z + d.rail[2]));
    ctx.stroke();

    // The cart: its top face holds the pivot.
    ctx.fillStyle = colour('cart');
    ctx.fillRect(X(x - d.cart[0] / 2), Z(0), scale * d.cart[0], scale * d.cart[2]);

    // The force on the cart: an arrow from its side, 1 N = 1/40 of the reach.
    if (Math.abs(force) > 1e-3) {
      var reach = L1 + L2;
      var len = Math.max(-1.5, Math.min(1.5, force / 40)) * reach;
      var side = x + (force > 0 ? -1 : 1) * d.cart[0] / 2;
      var zc = -d.cart[2] / 2;
      ctx.strokeStyle = ctx.fillStyle = '#1d2430';
      ctx.lineWidth = 2;
      ctx.beginPath();
      ctx.moveTo(X(side - len), Z(zc));
      ctx.lineTo(X(side), Z(zc));
      ctx.stroke();
      var head = (force > 0 ? -1 : 1) * 8;
      ctx.beginPath();
      ctx.moveTo(X(side), Z(zc));
      ctx.lineTo(X(side) + head, Z(zc) - 5);
      ctx.lineTo(X(side) + head, Z(zc) + 5);
      ctx.fill();
    }

    // The links, their joints and the tips.
    ctx.lineCap = 'round';
    ctx.lineWidth = Math.max(2, 2 * scale * d.link_radius);
    ctx.strokeStyle = colour('link1');
    ctx.beginPath();
    ctx.moveTo(X(x), Z(0));
    ctx.lineTo(X(joint[0]), Z(joint[1]));
    ctx.stroke();
    ctx.strokeStyle = colour('link2');
    ctx.beginPath();
    ctx.moveTo(X(joint[0]), Z(joint[1]));
    ctx.lineTo(X(tip[0]), Z(tip[1]));
    ctx.stroke();
    ctx.fillStyle = '#1d2430';
    [[x, 0], joint].forEach(function (p) {
      ctx.beginPath();
      ctx.arc(X(p[0]), Z(p[1]), Math.max(2, 0.6 * scale * d.link_radius), 0, 2 * Math.PI);
      ctx.fill();
    });
    ctx.fillStyle = colour('tip');
    [joint, tip].forEach(function (p) {
      ctx.beginPath();
      ctx.arc(X(p[0]), Z(p[1]), Math.max(3, scale * d.tip_radius), 0, 2 * Math.PI);
      ctx.fill();
    });

    ctx.fillStyle = '#5b6678';
    ctx.font = '12px sans-serif';
    ctx.fillText('1 m', X(b.left) + 8, Z(b.bottom) - 14);
    ctx.fillRect(X(b.left) + 8, Z(b.bottom) - 8, scale, 3);

    view.x = x;
    view.joint = view.tip1 = joint;
    view.tip2 = tip;
    view.px = { pivot: [X(x), Z(0)], tip1: [X(joint[0]), Z(joint[1])],
      tip2: [X(tip[0]), Z(tip[1])], scale: scale };
  }

  // -- the strip charts ---------------------------------------------------------
  function drawChart(canvas, series, minSpan) {
    var c = fit(canvas);
    var ctx = c.ctx;
    var left = 44, right = 8, top = 6, bottom = 16;
    var w = c.w - left - right, h = c.h - top - bottom;
    if (!info || chart.length < 2 || w <= 0 || h <= 0) return;
    var dt = info.dt;
    var end = chart[chart.length - 1][0] * dt;
    var start = end - info.history;
    var lo = Infinity, hi = -Infinity;
    chart.forEach(function (p) {
      series.forEach(function (s) {
        lo = Math.min(lo, p[s.column]);
        hi = Math.max(hi, p[s.column]);
      });
    });
    if (hi - lo < minSpan) {
      var mid = (hi + lo) / 2;
      lo = mid - minSpan / 2;
      hi = mid + minSpan / 2;
    }
    var pad = 0.08 * (hi - lo);
    lo -= pad;
    hi += pad;
    var T = function (t) { return left + w * (t - start) / info.history; };
    var Y = function (v) { return top + h * (hi - v) / (hi - lo); };

    ctx.font = '11px sans-serif';
    ctx.fillStyle = '#5b6678';
    ctx.strokeStyle = '#e3e6ec';
    ctx.lineWidth = 1;
    [lo + pad, (lo + hi) / 2, hi - pad].forEach(function (v) {
      ctx.beginPath();
      ctx.moveTo(left, Y(v));
      ctx.lineTo(left + w, Y(v));
      ctx.stroke();
      ctx.fillText(v.toPrecision(3), 2, Y(v) + 4);
    });
    if (lo < 0 && hi > 0) {
      ctx.strokeStyle = '#b8bfca';
      ctx.beginPath();
      ctx.moveTo(left, Y(0));
      ctx.lineTo(left + w, Y(0));
      ctx.stroke();
    }
    // Episode starts: a dashed line where t went back to 0.
    ctx.strokeStyle = '#9aa3b1';
    ctx.setLineDash([4, 4]);
    chart.forEach(function (p) {
      if (p[1] === 0) {
        ctx.beginPath();
        ctx.moveTo(T(p[0] * dt), top);
        ctx.lineTo(T(p[0] * dt), top + h);
        ctx.stroke();
      }
    });
    ctx.setLineDash([]);
    ctx.fillText('last ' + info.history + ' s', left + w - 50, top + h + 13);

    ctx.save();
    ctx.beginPath();
    ctx.rect(left, top, w, h);
    ctx.clip();
    ctx.lineWidth = 1.5;
    series.forEach(function (s) {
      ctx.strokeStyle = s.color;
      ctx.setLineDash(s.dash || []);
      ctx.beginPath();
      chart.forEach(function (p, i) {
        var px = T(p[0] * dt), py = Y(p[s.column]);
        if (i === 0) ctx.moveTo(px, py); else ctx.lineTo(px, py);
      });
      ctx.stroke();
    });
    ctx.restore();
  }

  function draw() {
    drawPlant();
    drawChart($('chart-angles'), [{ column: 3, color: colour('link1') },
      { column: 4, color: colour('link2') }], MIN_SPAN.angles);
    drawChart($('chart-x'), [{ column: 2, color: colour('cart') }], MIN_SPAN.x);
    drawChart($('chart-force'), [{ column: 6, color: colour('tip'), dash: [5, 3] },
      { column: 5, color: '#1d2430' }], MIN_SPAN.force);
    if (view.t !== null) $('time').textContent = Number(view.t).toFixed(2);
    $('force').textContent = Number(force).toFixed(2);
  }

  // -- the buttons ----------------------------------------------------------------
  $('reset').addEventListener('click', function () { send({ cmd: 'reset' }); });
  $('estop').addEventListener('click', function () { send({ cmd: 'estop' }); });
  $('push').addEventListener('click', function () {
    send({ cmd: 'push', force: Number($('push-force').value),
      duration: Number($('push-duration').value) });
  });
  // The fault menu: a preset fills the line, which may be edited (docs/faults.md).
  $('fault-preset').addEventListener('change', function () {
    $('fault-line').value = $('fault-preset').value;
  });
  $('fault-inject').addEventListener('click', function () {
    var line = $('fault-line').value.trim();
    var duration = Number($('fault-duration').value);
    if (duration > 0) line += ' for ' + duration + 's';
    send({ cmd: 'fault', spec: line });
  });
  $('fault-clear').addEventListener('click', function () { send({ cmd: 'clear_faults' }); });
  window.addEventListener('resize', function () { sizeStage(); draw(); });
  document.addEventListener('visibilitychange', function () {
    if (!document.hidden) draw();
  });

  draw();
  connect();
}());
