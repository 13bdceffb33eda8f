// SOS on every console page: the pop with its alarm tone (REQUIREMENTS §1, C §7.3.2.3).
// Fed by console.js ("console:event" / "console:ready"); sos-base.js gives labels and API.
//
// The pop shows the active incidents this user has not acknowledged (the server keeps
// acknowledgements per user: ari_apps/sos/acks.py). Acknowledging (its button, Escape,
// joining) silences and closes it in every browser of the user. An alert that the elder may
// still be without help (REPOP_ALERTS) pops an acknowledged incident again. On an incident
// page the pop is docked, not modal, and never shows the page's own incident. While a
// card is open the tab title starts with "【SOS】".
(function () {
  "use strict";
  var base = window.sosBase;
  if (!base) { return; }
  var label = base.label;
  var roleLabel = base.roleLabel;
  var stateLabel = base.stateLabel;
  var causeLabel = base.causeLabel;
  var remembered = base.remembered;
  //: The alerts that pop an acknowledged incident again (acks.py REPOP_KINDS says the same).
  var REPOP_ALERTS = ["unanswered", "emergency_unreachable"];
  function make(tag, className, text) {
    var el = document.createElement(tag);
    if (className) { el.className = className; }
    if (text !== undefined) { el.textContent = text; }
    return el;
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

  // -- acknowledgements ------------------------------------------------------------------
  var acked = {};  // incident → true: this user has seen it (the server says so at resync)
  function acknowledge(id) {
    acked[id] = true;
    silence(id);
    base.post(base.incidentUrl(id, "/ack")).catch(function () { /* ended meanwhile */ });
  }
  base.onJoin(function (id) {  // joining acknowledges; this card stays to say how it goes
    acked[id] = true;
    if (cards[id]) { cards[id].joining = true; }
    silence(id);
  });

  // -- the pop ---------------------------------------------------------------------------
  var pop = document.getElementById("sos-pop");
  var dialog = pop && pop.querySelector(".sos-dialog");
  var cardsRoot = document.getElementById("sos-pop-cards");
  var template = document.getElementById("sos-card-template");
  var popEnabled = !!pop && !!template;  // agents and supervisors only: the template says
  var page = document.querySelector("article.incident[data-incident]");
  var onPage = page ? page.getAttribute("data-incident") : null;
  // On an incident page the agent is at work: the pop docks beside it, not over it.
  var docked = !!page;
  var cards = {};
  var returnFocus = null;
  var baseTitle = document.title;

  function refreshAlarm() {
    var sounding = Object.keys(cards).some(function (id) { return cards[id].sounding; });
    if (sounding) { alarm.start(); } else { alarm.stop(); }
  }
  function refreshTitle() {
    document.title = Object.keys(cards).length
      ? label("sos.title.prefix", "[SOS]") + " " + baseTitle : baseTitle;
  }
  function silence(id) {
    if (cards[id]) { cards[id].sounding = false; }
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
      if (!docked) { setInert(true); }
    }
    if (focusTarget && !docked) { focusTarget.focus(); }
    refreshTitle();
  }
  function closeCard(id) {
    var entry = cards[id];
    if (!entry) { return; }
    entry.el.remove();
    delete cards[id];
    refreshAlarm();
    refreshTitle();
    if (!Object.keys(cards).length) {
      var hadFocus = pop.contains(document.activeElement);
      pop.hidden = true;
      setInert(false);
      if (returnFocus && returnFocus.focus && (!docked || hadFocus)) { returnFocus.focus(); }
      returnFocus = null;
    }
  }
  if (popEnabled) {
    if (docked) {
      pop.classList.add("docked");
      dialog.setAttribute("aria-modal", "false");
    }
    // Escape: "I have seen them": every card shown is acknowledged and the pop closes.
    document.addEventListener("keydown", function (event) {
      if (event.key !== "Escape" || pop.hidden) { return; }
      event.preventDefault();
      Object.keys(cards).forEach(function (id) { acknowledge(id); closeCard(id); });
    });
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
    base.showMyLeg(snapshot.incident, snapshot.legs, el.querySelector(".sos-join"),
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
      button.addEventListener("click", function () { base.join(id, button, status); });
      el.querySelector(".sos-ack").addEventListener("click", function () {
        acknowledge(id);
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
    if (options.sound && !remembered("joined")[id]) { entry.sounding = true; }
    refreshAlarm();
    openPop(isNew ? entry.el.querySelector(".sos-join") : null);
  }

  function incidentView(id, attempts) {
    // The store follows the call a moment later: a brand-new incident may 404 at first.
    return base.getJson(base.incidentUrl(id)).catch(function (err) {
      if (err.status !== 404 || attempts <= 1) { throw err; }
      return new Promise(function (resolve) { setTimeout(resolve, 700); })
        .then(function () { return incidentView(id, attempts - 1); });
    });
  }
  // Whether an incident may pop now: never over its own page (opening it acknowledged it),
  // never once acknowledged, unless the alert says the elder may still be without help.
  function mayPop(id, alert) {
    if (id === onPage) { return false; }
    if (alert && REPOP_ALERTS.indexOf(alert) >= 0) { delete acked[id]; }
    return !acked[id] || !!cards[id];
  }

  // -- wiring ----------------------------------------------------------------------------
  document.addEventListener("console:event", function (event) {
    var message = event.detail || {};
    var payload = message.payload || {};
    var id = payload.incident;
    if (!popEnabled || !message.topic || message.topic.indexOf("sos.") !== 0 || !id) { return; }
    if (message.topic === "sos.started") {
      if (mayPop(id)) { showCard(payload, { sound: true }); }
    } else if (message.topic === "sos.alert") {
      if (mayPop(id, payload.alert)) { showCard(payload, { sound: true, alert: alertText(payload) }); }
    } else if (message.topic === "sos.updated" && cards[id]) {
      fillCard(cards[id], payload);
    } else if (message.topic === "sos.acknowledged" && payload.user_id === base.me) {
      acked[id] = true;  // in another tab or browser of mine (or by joining from this card)
      if (!(cards[id] && cards[id].joining)) { closeCard(id); }
    } else if (message.topic === "sos.ended") {
      delete acked[id];
      base.remember("joined", id, undefined);
      closeCard(id);
    }
  });

  // On every (re)connect: pop what this user has not acknowledged (started while this page
  // was not listening, or never seen), and settle the cards already shown.
  function resync() {
    if (!popEnabled) { alarm.synced = true; return; }
    base.getJson(base.apiBase + "?status=active").then(function (list) {
      var active = {};
      var shown = list.incidents.filter(function (i) {
        active[i.id] = true;
        if (i.acknowledged) { acked[i.id] = true; } else { delete acked[i.id]; }
        return i.id !== onPage && (cards[i.id] || !i.acknowledged);
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
