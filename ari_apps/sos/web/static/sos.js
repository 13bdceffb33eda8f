// SOS on every console page: the pop with its alarm tone (REQUIREMENTS §1, C §7.3.2.3),
// and the live incident pages. Fed by console.js ("console:event" / "console:ready").
(function () {
  "use strict";
  var labelsRoot = document.getElementById("sos-labels");
  if (!labelsRoot) { return; }

  // -- labels (rendered from the message catalog by _sos_pop.html) ---------------------
  var labels = {};
  Array.prototype.forEach.call(labelsRoot.querySelectorAll("[data-key]"), function (el) {
    labels[el.getAttribute("data-key")] = el.textContent;
  });
  function label(key, fallback, values) {
    var text = Object.prototype.hasOwnProperty.call(labels, key) ? labels[key] : fallback;
    Object.keys(values || {}).forEach(function (name) {
      text = text.split("{" + name + "}").join(String(values[name]));
    });
    return text;
  }
  function roleLabel(role) { return role ? label("sos.role." + role, role) : ""; }
  function stateLabel(state) { return label("sos.state." + state, state); }
  function causeLabel(cause) {
    if (cause === null || cause === undefined) { return ""; }
    return label("sos.cause." + cause, label("sos.cause", "cause {cause}", { cause: cause }));
  }
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function localTime(iso, withDate) {
    var at = new Date(iso);
    if (isNaN(at.getTime())) { return ""; }
    var time = pad(at.getHours()) + ":" + pad(at.getMinutes()) + ":" + pad(at.getSeconds());
    if (!withDate) { return time; }
    return at.getFullYear() + "-" + pad(at.getMonth() + 1) + "-" + pad(at.getDate()) + " " + time;
  }
  function make(tag, className, text) {
    var el = document.createElement(tag);
    if (className) { el.className = className; }
    if (text !== undefined) { el.textContent = text; }
    return el;
  }

  // -- what this tab remembers across pages (acknowledged, joined) ---------------------
  function remembered(name) {
    try { return JSON.parse(sessionStorage.getItem("sos." + name) || "{}"); } catch (e) { return {}; }
  }
  function remember(name, incident, value) {
    var all = remembered(name);
    if (value === undefined) { delete all[incident]; } else { all[incident] = value; }
    try { sessionStorage.setItem("sos." + name, JSON.stringify(all)); } catch (e) { /* private mode */ }
  }

  // -- the alarm tone: Web Audio only, no file, no network -----------------------------
  var hint = document.getElementById("sos-sound-hint");

  function alarmBuffer(context) {
    // Two seconds: four short bursts alternating 960/770 Hz, then a pause; played in a loop,
    // so no timer is involved (background tabs throttle timers, not audio).
    var rate = context.sampleRate;
    var buffer = context.createBuffer(1, Math.floor(rate * 2), rate);
    var data = buffer.getChannelData(0);
    var burst = 0.2;
    var ramp = 0.01;
    [[0, 960], [0.25, 770], [0.5, 960], [0.75, 770]].forEach(function (b) {
      var from = Math.floor(b[0] * rate);
      var to = Math.floor((b[0] + burst) * rate);
      for (var i = from; i < to; i++) {
        var s = (i - from) / rate;
        var envelope = Math.min(1, s / ramp, (burst - s) / ramp);
        var phase = 2 * Math.PI * b[1] * s;
        data[i] = 0.3 * envelope * (Math.sin(phase) + 0.3 * Math.sin(3 * phase));
      }
    });
    return buffer;
  }

  var alarm = {
    wanted: false,
    started: 0,
    synced: false,
    _context: null,
    _source: null,
    _buffer: null,
    context: function () {
      if (!this._context) {
        var Context = window.AudioContext || window.webkitAudioContext;
        if (!Context) { return null; }
        this._context = new Context();
        this._context.onstatechange = this._sync.bind(this);
      }
      return this._context;
    },
    unlock: function () {
      // Browsers hold audio back until the user has interacted with the page.
      var context = this.context();
      if (context && context.state === "suspended") {
        context.resume().then(this._sync.bind(this), function () { /* still blocked */ });
      }
    },
    start: function () {
      this.wanted = true;
      this.unlock();
      this._sync();
    },
    stop: function () {
      this.wanted = false;
      this._sync();
    },
    _sync: function () {
      var context = this._context;
      var running = !!context && context.state === "running";
      if (this.wanted && running && !this._source) {
        this._buffer = this._buffer || alarmBuffer(context);
        var source = context.createBufferSource();
        source.buffer = this._buffer;
        source.loop = true;
        source.connect(context.destination);
        source.start();
        this._source = source;
        this.started += 1;
      } else if (!this.wanted && this._source) {
        this._source.stop();
        this._source.disconnect();
        this._source = null;
      }
      if (hint) { hint.hidden = !(this.wanted && !running); }
    }
  };
  Object.defineProperty(alarm, "playing", {
    get: function () { return !!this._source && this._context.state === "running"; }
  });
  Object.defineProperty(alarm, "state", {
    get: function () { return this._context ? this._context.state : "none"; }
  });
  window.sosAlarm = alarm;
  document.addEventListener("pointerdown", function () { alarm.unlock(); }, true);
  document.addEventListener("keydown", function () { alarm.unlock(); }, true);

  // -- API calls -------------------------------------------------------------------------
  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var csrf = csrfMeta ? csrfMeta.getAttribute("content") : "";
  var popRoot = document.getElementById("sos-pop");
  var apiBase = (popRoot && popRoot.getAttribute("data-api")) || "/api/sos";

  function getJson(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) { var err = new Error(String(response.status)); err.status = response.status; throw err; }
        return response.json();
      });
  }
  function incidentView(id, attempts) {
    // The store follows the call a moment later: a brand-new incident may 404 at first.
    return getJson(apiBase + "/" + encodeURIComponent(id)).catch(function (err) {
      if (err.status !== 404 || attempts <= 1) { throw err; }
      return new Promise(function (resolve) { setTimeout(resolve, 700); })
        .then(function () { return incidentView(id, attempts - 1); });
    });
  }
  function join(id, button, status) {
    button.disabled = true;
    silence(id);
    return fetch(apiBase + "/" + encodeURIComponent(id) + "/join", {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRF-Token": csrf, Accept: "application/json" }
    }).then(function (response) {
      return response.json().then(function (answer) {
        if (!response.ok) { throw new Error(answer.message || String(response.status)); }
        return answer;
      });
    }).then(function (answer) {
      remember("joined", id, answer.leg);
      status.textContent = label("sos.join.ringing", "", { endpoint: answer.endpoint });
      button.setAttribute("data-leg", answer.leg);
      return answer;
    }).catch(function (err) {
      button.disabled = false;
      status.textContent = label("sos.join.failed", "", { message: err.message });
    });
  }
  // My own leg's state tells the join button and its status line what to say.
  function showMyLeg(id, legs, button, status) {
    var mine = remembered("joined")[id];
    if (!mine) { return; }
    var leg = (legs || []).filter(function (l) { return l.id === mine; })[0];
    if (!leg) { return; }
    if (leg.state === "joined") {
      status.textContent = label("sos.join.in", "");
      button.disabled = true;
    } else if (leg.state === "failed" || leg.state === "left") {
      status.textContent = stateLabel(leg.state) + (leg.cause ? " · " + causeLabel(leg.cause) : "");
      button.disabled = false;
    }
  }

  // -- the pop ---------------------------------------------------------------------------
  var pop = document.getElementById("sos-pop");
  var cardsRoot = document.getElementById("sos-pop-cards");
  var template = document.getElementById("sos-card-template");
  var popEnabled = !!pop && !!template;  // agents and supervisors only: the template says
  var cards = {};
  var returnFocus = null;

  function refreshAlarm() {
    var sounding = Object.keys(cards).some(function (id) { return cards[id].sounding; });
    if (sounding) { alarm.start(); } else { alarm.stop(); }
  }
  function silence(id) {
    if (cards[id]) { cards[id].sounding = false; }
    remember("ack", id, true);
    refreshAlarm();
  }
  function setInert(on) {
    Array.prototype.forEach.call(document.querySelectorAll("body > header, body > main"), function (el) {
      if (on) { el.setAttribute("inert", ""); } else { el.removeAttribute("inert"); }
    });
  }
  function openPop(focusTarget) {
    if (pop.hidden) {
      returnFocus = document.activeElement;
      pop.hidden = false;
      setInert(true);
    }
    if (focusTarget) { focusTarget.focus(); }
  }
  function closeCard(id) {
    var entry = cards[id];
    if (!entry) { return; }
    entry.el.remove();
    delete cards[id];
    refreshAlarm();
    if (!Object.keys(cards).length) {
      pop.hidden = true;
      setInert(false);
      if (returnFocus && returnFocus.focus) { returnFocus.focus(); }
      returnFocus = null;
    }
  }
  function callerName(entry) {
    return label("sos.unidentified", "{number}", {
      number: entry.callerNumber || label("sos.unidentified.unknown", "")
    });
  }
  function fillCard(entry, snapshot) {
    var el = entry.el;
    var elder = snapshot.elder;
    entry.snapshot = snapshot;
    el.setAttribute("data-status", snapshot.status || "active");
    el.querySelector(".sos-name").textContent = elder ? elder.name : callerName(entry);
    el.classList.toggle("unidentified", !elder);
    var meta = [];
    if (elder && elder.gender) { meta.push(label("gender." + elder.gender, elder.gender)); }
    if (elder && elder.age !== undefined) { meta.push(label("elder.age", "{age}", { age: elder.age })); }
    el.querySelector(".sos-meta").textContent = meta.join(" · ");
    var flags = el.querySelector(".sos-flags");
    flags.textContent = "";
    if (elder && elder.lives_alone) { flags.appendChild(make("span", "tag warn", label("flag.lives_alone", ""))); }
    if (elder && elder.disabled) { flags.appendChild(make("span", "tag warn", label("flag.disabled", ""))); }
    var facts = el.querySelector(".sos-facts");
    facts.hidden = !elder || elder.address === undefined;
    if (elder) {
      el.querySelector(".sos-address").textContent = elder.address || "—";
      el.querySelector(".sos-area").textContent = elder.area || "—";
      el.querySelector(".sos-health").textContent = elder.health_notes || "—";
    }
    var mine = remembered("joined")[snapshot.incident];
    var list = el.querySelector(".sos-legs");
    list.textContent = "";
    (snapshot.legs || []).forEach(function (leg) {
      var text = roleLabel(leg.role) + (leg.name ? " " + leg.name : "") +
        (leg.id === mine ? " " + label("sos.me", "") : "") + " — " + stateLabel(leg.state) +
        (leg.state === "failed" && leg.cause ? " (" + causeLabel(leg.cause) + ")" : "");
      var item = make("li", "sos-leg state-" + leg.state, text);
      item.setAttribute("data-leg", leg.id);
      item.setAttribute("data-state", leg.state);
      if (leg.id === mine) { item.classList.add("mine"); }
      list.appendChild(item);
    });
    (snapshot.exhausted || []).forEach(function (role) {
      var item = make("li", "sos-exhausted", label("sos.exhausted.short", "{role}", { role: roleLabel(role) }));
      item.setAttribute("data-role", role);
      list.appendChild(item);
    });
    showMyLeg(snapshot.incident, snapshot.legs, el.querySelector(".sos-join"),
              el.querySelector(".sos-join-status"));
  }
  function addAlert(entry, text) {
    var list = entry.el.querySelector(".sos-alerts");
    list.insertBefore(make("li", "", text), list.firstChild);
    while (list.children.length > 4) { list.removeChild(list.lastChild); }
  }
  function alertText(payload) {
    var detail = payload.detail || {};
    return label("sos.alert." + payload.alert, payload.alert,
                 { role: roleLabel(detail.role), to: roleLabel(detail.to) });
  }
  function showCard(snapshot, options) {
    var id = snapshot.incident;
    var entry = cards[id];
    var isNew = !entry;
    if (isNew) {
      var el = template.content.firstElementChild.cloneNode(true);
      el.setAttribute("data-incident", id);
      var button = el.querySelector(".sos-join");
      var status = el.querySelector(".sos-join-status");
      button.addEventListener("click", function () { join(id, button, status); });
      el.querySelector(".sos-ack").addEventListener("click", function () {
        silence(id);
        closeCard(id);
      });
      el.querySelector(".sos-open").setAttribute("href", "/incidents/" + encodeURIComponent(id));
      cardsRoot.insertBefore(el, cardsRoot.firstChild);
      entry = cards[id] = { el: el, sounding: false, callerNumber: options.callerNumber || "" };
      if (!snapshot.identified && !entry.callerNumber) {
        incidentView(id, 4).then(function (view) {
          entry.callerNumber = view.caller_number;
          if (!entry.snapshot.elder) { fillCard(entry, entry.snapshot); }
        }).catch(function () { /* the card still says "unidentified caller" */ });
      }
    }
    fillCard(entry, snapshot);
    if (options.alert) { addAlert(entry, options.alert); }
    if (options.sound && !remembered("joined")[id]) {
      entry.sounding = true;
      remember("ack", id, undefined);
    }
    refreshAlarm();
    openPop(isNew ? entry.el.querySelector(".sos-join") : null);
  }

  // -- the incident page and the incident list, live -----------------------------------
  var page = document.querySelector("article.incident[data-incident]");
  var listRows = document.getElementById("incidents-active-rows");

  function legCells(row, leg) {
    var cells = row.querySelectorAll("td");
    if (leg.name) { cells[0].textContent = leg.name; }
    var state = make("span", "state state-" + leg.state, stateLabel(leg.state));
    cells[2].textContent = "";
    cells[2].appendChild(state);
    if (leg.cause !== null && leg.cause !== undefined) { cells[3].textContent = causeLabel(leg.cause); }
    row.setAttribute("data-state", leg.state);
    legActions(row, leg);
  }
  function updatePageLeg(leg) {
    var row = null;
    Array.prototype.forEach.call(page.querySelectorAll("tr[data-leg]"), function (r) {
      if (r.getAttribute("data-leg") === leg.id) { row = r; }
    });
    if (!row) {
      var group = page.querySelector('.role-group[data-role="' + leg.role + '"]');
      if (!group) { return; }
      row = make("tr");
      row.setAttribute("data-leg", leg.id);
      for (var i = 0; i < 4; i++) { row.appendChild(make("td", i === 2 ? "leg-state" : "", i < 2 ? "—" : "")); }
      var actionsTemplate = document.getElementById("leg-actions-template");
      if (actionsTemplate) { row.appendChild(actionsTemplate.content.firstElementChild.cloneNode(true)); }
      group.querySelector("tbody").appendChild(row);
      group.hidden = false;
      group.querySelector(".no-legs").hidden = true;
    }
    legCells(row, leg);
  }
  function appendTimeline(event) {
    var list = document.getElementById("timeline");
    if (!list || !event) { return; }
    var item = make("li");
    item.setAttribute("data-kind", event.kind);
    var when = make("time", "", localTime(event.at, false));
    when.setAttribute("datetime", event.at);
    item.appendChild(when);
    item.appendChild(document.createTextNode(" "));
    item.appendChild(make("strong", "", label("sos.event." + event.kind, event.kind)));
    var detail = Object.keys(event.detail || {}).filter(function (k) {
      var v = event.detail[k];
      return v !== null && v !== undefined && v !== "";
    }).map(function (k) { return k + "=" + event.detail[k]; }).join(", ");
    item.appendChild(document.createTextNode(" "));
    item.appendChild(make("span", "muted", detail));
    list.appendChild(item);
  }
  function updatePage(topic, payload) {
    if (!page || payload.incident !== page.getAttribute("data-incident")) { return; }
    (payload.legs || []).forEach(updatePageLeg);
    var exhausted = payload.exhausted || [];
    Array.prototype.forEach.call(page.querySelectorAll(".role-group"), function (group) {
      var gone = exhausted.indexOf(group.getAttribute("data-role")) >= 0;
      group.classList.toggle("exhausted", gone);
      group.querySelector(".exhausted-tag").hidden = !gone;
      if (gone) { group.hidden = false; }
    });
    if (payload.events) { payload.events.forEach(appendTimeline); }
    else if (payload.event) { appendTimeline(payload.event); }
    var joinButton = document.getElementById("join");
    if (joinButton) {
      showMyLeg(payload.incident, payload.legs, joinButton, document.getElementById("join-status"));
    }
    if (topic === "sos.ended" || payload.status === "ended") {
      page.setAttribute("data-status", "ended");
      var tag = page.querySelector(".incident-status");
      if (tag) { tag.textContent = label("sos.status.ended", "ended"); tag.classList.remove("warn"); }
      if (joinButton) { joinButton.disabled = true; }
      Array.prototype.forEach.call(page.querySelectorAll(".incident-actions, .leg-actions button"), function (el) {
        el.hidden = true;
      });
    }
  }
  function updateList(topic, payload) {
    if (!listRows) { return; }
    var row = listRows.querySelector('tr[data-incident="' + payload.incident + '"]');
    if (topic === "sos.ended" && row) {
      var tag = row.querySelector(".incident-status .tag");
      if (tag) { tag.textContent = label("sos.status.ended", "ended"); tag.classList.remove("warn"); }
    } else if (topic === "sos.started" && !row) {
      row = make("tr");
      row.setAttribute("data-incident", payload.incident);
      var link = make("a", "", payload.elder ? payload.elder.name : label("sos.unidentified", "", { number: "" }));
      link.setAttribute("href", "/incidents/" + encodeURIComponent(payload.incident));
      var who = make("td");
      who.appendChild(link);
      row.appendChild(who);
      row.appendChild(make("td", "", label("incident.kind." + payload.kind, payload.kind || "")));
      var started = make("td");
      var when = make("time", "", localTime(payload.started_at, true));
      when.setAttribute("datetime", payload.started_at);
      started.appendChild(when);
      row.appendChild(started);
      var status = make("td", "incident-status");
      status.appendChild(make("span", "tag warn", label("sos.status.active", "active")));
      row.appendChild(status);
      row.appendChild(make("td"));
      listRows.insertBefore(row, listRows.firstChild);
      var none = document.getElementById("incidents-none-active");
      if (none) { none.hidden = true; }
    }
  }

  // Server times are UTC; show them in the console's local time like the live entries.
  Array.prototype.forEach.call(document.querySelectorAll(".incident time[datetime], .incidents time[datetime]"), function (el) {
    var text = localTime(el.getAttribute("datetime"), el.textContent.trim().length > 8);
    if (text) { el.textContent = text; }
  });
  var pageJoin = document.getElementById("join");
  if (pageJoin) {
    pageJoin.addEventListener("click", function () {
      join(page.getAttribute("data-incident"), pageJoin, document.getElementById("join-status"));
    });
  }

  // -- staff's actions on the incident page: end, dial by hand, hang up or mute a leg ----
  var actionsBase = page && page.getAttribute("data-actions");
  var actionStatus = document.getElementById("action-status");

  function postJson(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRF-Token": csrf, Accept: "application/json", "Content-Type": "application/json" },
      body: JSON.stringify(body || {})
    }).then(function (response) {
      return response.json().then(function (answer) {
        if (!response.ok) { throw new Error(answer.message || String(response.status)); }
        return answer;
      });
    });
  }
  function report(promise) {
    return promise.then(function (answer) {
      if (actionStatus) { actionStatus.textContent = actionStatus.getAttribute("data-done"); }
      return answer;
    }, function (err) {
      if (actionStatus) { actionStatus.textContent = err.message; }
      return null;
    });
  }
  function showMuted(button, muted) {
    button.setAttribute("aria-pressed", muted ? "true" : "false");
    button.textContent = button.getAttribute(muted ? "data-unmute" : "data-mute");
  }
  // Which of a leg's buttons make sense in its state (the elder's hang-up: supervisors only).
  function legActions(row, leg) {
    var cell = row.querySelector(".leg-actions");
    if (!cell) { return; }
    var onLine = leg.state === "answered" || leg.state === "joined";
    var live = onLine || leg.state === "dialing" || leg.state === "ringing";
    var mute = cell.querySelector(".leg-mute");
    mute.hidden = !onLine;
    if (leg.muted !== undefined) { showMuted(mute, leg.muted); }
    cell.querySelector(".leg-hangup").hidden =
      !live || (leg.role === "elder" && !page.getAttribute("data-supervisor"));
  }
  if (actionsBase) {
    page.addEventListener("click", function (event) {
      var button = event.target.closest ? event.target.closest("button[data-leg-action]") : null;
      if (!button) { return; }
      var action = button.getAttribute("data-leg-action");
      var leg = button.closest("tr[data-leg]").getAttribute("data-leg");
      var muting = button.getAttribute("aria-pressed") !== "true";
      button.disabled = true;
      report(postJson(actionsBase + encodeURIComponent(leg) + "/" + action,
                      action === "mute" ? { muted: muting } : {})).then(function (answer) {
        button.disabled = false;
        if (answer && action === "mute") { showMuted(button, answer.muted); }
      });
    });
    var endForm = document.getElementById("end-form");
    endForm.addEventListener("submit", function (event) {
      event.preventDefault();
      var data = new FormData(endForm);
      report(postJson(endForm.getAttribute("data-url"),
                      { disposition: data.get("disposition"), note: data.get("note") }));
    });
    var dialForm = document.getElementById("dial-form");
    dialForm.addEventListener("submit", function (event) {
      event.preventDefault();
      var data = new FormData(dialForm);
      report(postJson(dialForm.getAttribute("data-url"), {
        role: data.get("role"), number: data.get("number"), name: data.get("name")
      })).then(function (answer) { if (answer) { dialForm.reset(); } });
    });
  }

  // -- wiring ----------------------------------------------------------------------------
  document.addEventListener("console:event", function (event) {
    var message = event.detail || {};
    var payload = message.payload || {};
    if (!message.topic || message.topic.indexOf("sos.") !== 0 || !payload.incident) { return; }
    updatePage(message.topic, payload);
    updateList(message.topic, payload);
    if (!popEnabled) { return; }
    if (message.topic === "sos.started") {
      showCard(payload, { sound: true });
    } else if (message.topic === "sos.alert") {
      showCard(payload, { sound: true, alert: alertText(payload) });
    } else if (message.topic === "sos.updated" && cards[payload.incident]) {
      fillCard(cards[payload.incident], payload);
    } else if (message.topic === "sos.ended") {
      remember("ack", payload.incident, undefined);
      remember("joined", payload.incident, undefined);
      closeCard(payload.incident);
    }
  });

  // On every (re)connect: pop what started while this page was not listening (another
  // page, a dropped link), and settle the cards already shown.
  function resync() {
    if (!popEnabled) { alarm.synced = true; return; }
    getJson(apiBase + "?status=active").then(function (list) {
      var active = {};
      var acknowledged = remembered("ack");
      var shown = list.incidents.filter(function (i) {
        active[i.id] = true;
        return cards[i.id] || !acknowledged[i.id];
      });
      Object.keys(cards).forEach(function (id) { if (!active[id]) { closeCard(id); } });
      return Promise.all(shown.map(function (summary) {
        return incidentView(summary.id, 1).then(function (view) {
          var snapshot = view.live || {
            incident: view.id, kind: view.kind, status: view.status, identified: view.identified,
            elder: view.elder_name ? { name: view.elder_name } : null,
            legs: view.legs, exhausted: []
          };
          var known = !!cards[view.id];
          showCard(snapshot, { sound: !known, callerNumber: view.caller_number });
        }).catch(function () { /* gone or out of reach meanwhile */ });
      }));
    }).catch(function () { /* the next reconnect tries again */ }).then(function () {
      alarm.synced = true;
    });
  }
  document.addEventListener("console:ready", resync);
  // The socket may have come up before this script ran: then resync now.
  if (window.consoleReady) { resync(); }
})();
