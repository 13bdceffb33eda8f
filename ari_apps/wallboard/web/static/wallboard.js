// The supervisor's live view: the figures the page was rendered with, kept live by the
// "wallboard.queue", "wallboard.agent", "wallboard.callbacks" and "wallboard.figures"
// frames on /ws; read again from GET /api/queues on every (re)connect. No library.
(function () {
  "use strict";
  var root = document.getElementById("wallboard");
  var labelsRoot = document.getElementById("wb-labels");
  if (!root || !labelsRoot) { return; }
  var labels = {};
  Array.prototype.forEach.call(labelsRoot.querySelectorAll("[data-key]"), function (el) {
    labels[el.getAttribute("data-key")] = el.textContent;
  });
  function label(key, values) {
    var text = Object.prototype.hasOwnProperty.call(labels, key) ? labels[key] : key;
    Object.keys(values || {}).forEach(function (name) {
      text = text.split("{" + name + "}").join(String(values[name]));
    });
    return text;
  }
  var view = JSON.parse(root.getAttribute("data-view"));
  var queues = {}, agents = {};
  var board = window.wallboard = { view: view, frames: 0, charts: 0, synced: false };
  var SVG = "http://www.w3.org/2000/svg";

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) { node.className = cls; }
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }
  // Times in the centre's zone (<body data-tz>), never the browser's.
  var zone = document.body.getAttribute("data-tz") || undefined;
  var clock;
  try {
    clock = new Intl.DateTimeFormat("en-GB", { timeZone: zone, hour: "2-digit", minute: "2-digit",
      second: "2-digit", hourCycle: "h23" });
  } catch (e) {
    clock = new Intl.DateTimeFormat("en-GB", { hour: "2-digit", minute: "2-digit", second: "2-digit",
      hourCycle: "h23" });
  }
  function clockText(iso) {
    var at = new Date(iso);
    return isNaN(at.getTime()) ? "" : clock.format(at);
  }
  function pct(value) { return value === null || value === undefined ? "—" : (value * 100).toFixed(1) + "%"; }
  function secs(value) {
    if (value === null || value === undefined) { return "—"; }
    var total = Math.max(0, Math.round(value));
    var m = Math.floor(total / 60), s = total % 60;
    return m ? m + ":" + (s < 10 ? "0" : "") + s : label("wallboard.seconds", { s: s });
  }
  function since(iso) {
    if (!iso) { return null; }
    var at = new Date(iso).getTime();
    return isNaN(at) ? null : (Date.now() - at) / 1000;
  }
  // The answer rate as a bar with the 90 % and 95 % targets marked.
  function gauge(rate, targets) {
    var svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("viewBox", "0 0 100 10");
    svg.setAttribute("class", "wb-gauge");
    svg.setAttribute("aria-hidden", "true");
    var back = document.createElementNS(SVG, "rect");
    back.setAttribute("width", "100"); back.setAttribute("height", "10"); back.setAttribute("fill", "#e6e9ee");
    svg.appendChild(back);
    if (rate !== null && rate !== undefined) {
      var bar = document.createElementNS(SVG, "rect");
      bar.setAttribute("width", String(Math.max(0, Math.min(100, rate * 100))));
      bar.setAttribute("height", "10");
      bar.setAttribute("class", "wb-gauge-bar");
      bar.setAttribute("fill", rate >= targets[1] ? "#1b7f3b" : rate >= targets[0] ? "#e08a00" : "#b00020");
      svg.appendChild(bar);
    }
    targets.forEach(function (t) {
      var mark = document.createElementNS(SVG, "line");
      mark.setAttribute("x1", String(t * 100)); mark.setAttribute("x2", String(t * 100));
      mark.setAttribute("y1", "0"); mark.setAttribute("y2", "10");
      mark.setAttribute("stroke", "#111"); mark.setAttribute("stroke-width", "0.8");
      svg.appendChild(mark);
    });
    return svg;
  }

  function queueRow(q) {
    var tr = el("tr");
    tr.setAttribute("data-queue", q.queue);
    var longest = q.waiting ? since(q.longest_wait_since) : 0;
    var cells = [
      [q.queue, "name"], [q.waiting, "waiting"], [q.waiting ? secs(longest) : "—", "longest"],
      [q.offered, "offered"], [q.answered, "answered"], [q.abandoned, "abandoned"],
      [q.short_abandoned, "short"], [pct(q.service_level) + " / " + q.service_level_seconds + "s", "sl"],
      [pct(q.answer_rate), "answer_rate"], [pct(q.abandon_rate), "abandon_rate"],
      [secs(q.asa_seconds), "asa"], [secs(q.aht_seconds), "aht"]
    ];
    cells.forEach(function (cell) {
      var td = el(cell[1] === "name" ? "th" : "td", "wb-" + cell[1], cell[0]);
      if (cell[1] === "name") { td.setAttribute("scope", "row"); }
      if (cell[1] === "answer_rate") {
        td.appendChild(gauge(q.answer_rate, view.targets));
        td.setAttribute("data-meets", q.meets_targets.filter(Boolean).length);
      }
      if (cell[1] === "longest" && q.waiting) { td.setAttribute("data-since", q.longest_wait_since || ""); }
      tr.appendChild(td);
    });
    if (q.waiting) { tr.className = "waiting"; }
    return tr;
  }
  function agentRow(a) {
    var tr = el("tr");
    tr.setAttribute("data-agent", a.agent);
    tr.setAttribute("data-state", a.state);
    var name = el("th", "wb-name", a.name);
    name.setAttribute("scope", "row");
    tr.appendChild(name);
    var state = el("td", "wb-state");
    state.appendChild(el("span", "wb-badge state-" + a.state,
      label("wallboard.state." + a.state) + (a.reason ? "（" + a.reason + "）" : "")));
    tr.appendChild(state);
    var inState = el("td", "wb-in-state", a.since ? secs(since(a.since)) : "—");
    if (a.since) { inState.setAttribute("data-since", a.since); }
    tr.appendChild(inState);
    tr.appendChild(el("td", "wb-calls", a.calls));
    tr.appendChild(el("td", "wb-occupancy", pct(a.occupancy)));
    return tr;
  }
  function draw() {
    var qBody = document.getElementById("wb-queues"), aBody = document.getElementById("wb-agents");
    qBody.textContent = ""; aBody.textContent = "";
    var names = Object.keys(queues).sort();
    if (!names.length) {
      var none = el("tr"); var td = el("td", "muted", label("wallboard.none")); td.colSpan = 12;
      none.appendChild(td); qBody.appendChild(none);
    }
    var waiting = 0, longest = null;
    names.forEach(function (name) {
      var q = queues[name];
      qBody.appendChild(queueRow(q));
      waiting += q.waiting;
      if (q.waiting && q.longest_wait_since && (!longest || q.longest_wait_since < longest)) {
        longest = q.longest_wait_since;
      }
    });
    var people = Object.keys(agents).sort();
    if (!people.length) {
      var empty = el("tr"); var cell = el("td", "muted", label("wallboard.no_agents")); cell.colSpan = 5;
      empty.appendChild(cell); aBody.appendChild(empty);
    }
    people.forEach(function (name) { aBody.appendChild(agentRow(agents[name])); });
    document.getElementById("wb-waiting").textContent = String(waiting);
    var longestCell = document.getElementById("wb-longest");
    longestCell.textContent = longest ? secs(since(longest)) : "—";
    longestCell.setAttribute("data-since", longest || "");
    document.getElementById("wb-callbacks").textContent =
      view.callbacks_pending === null ? label("wallboard.callbacks.unknown") : String(view.callbacks_pending);
  }
  function load(data) {
    view = board.view = data;
    queues = {}; agents = {};
    data.queues.forEach(function (q) { queues[q.queue] = q; });
    data.agents.forEach(function (a) { agents[a.agent] = a; });
    draw();
  }
  // Live times tick every second without a frame.
  setInterval(function () {
    Array.prototype.forEach.call(root.querySelectorAll("[data-since]"), function (node) {
      var value = node.getAttribute("data-since");
      if (value) { node.textContent = secs(since(value)); }
    });
  }, 1000);

  var chartBox = document.getElementById("wb-chart");
  var chartPending = null, chartAt = 0;
  function refreshChart() {
    if (chartPending) { return; }
    var wait = Math.max(0, 5000 - (Date.now() - chartAt));
    chartPending = setTimeout(function () {
      fetch(chartBox.getAttribute("data-src"), { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (text) {
          chartPending = null; chartAt = Date.now();
          if (!text) { return; }
          var doc = new DOMParser().parseFromString(text, "image/svg+xml");
          var svg = doc.documentElement;
          if (svg && svg.nodeName === "svg") {
            chartBox.textContent = "";
            chartBox.appendChild(document.importNode(svg, true));
            board.charts += 1;
          }
        })
        .catch(function () { chartPending = null; });
    }, wait);
  }
  function sync() {
    fetch("/api/queues", { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) { if (data) { load(data); board.synced = true; } });
  }
  load(view);
  document.addEventListener("console:ready", sync);
  if (window.consoleReady) { sync(); }
  document.addEventListener("console:event", function (event) {
    var message = event.detail || {};
    var p = message.payload || {};
    if (message.topic === "wallboard.queue") { queues[p.queue] = p; }
    else if (message.topic === "wallboard.agent") { agents[p.agent] = p; }
    else if (message.topic === "wallboard.callbacks") { view.callbacks_pending = p.pending; }
    else if (message.topic === "wallboard.figures") {
      refreshChart();
      document.getElementById("wb-updated").textContent = label("wallboard.updated",
        { at: clockText(p.generated_at) });
    } else { return; }
    event.preventDefault();  // the table is the notice: no banner
    board.frames += 1;
    draw();
  });
})();
