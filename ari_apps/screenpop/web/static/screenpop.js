// The screen-pop: who is calling while my phone rings. Pops come as "screenpop.show" frames
// on /ws (to my user only); on every (re)connect the pops showing now are read again from
// GET /api/screenpop/current, so a reload shows them. Answer elsewhere, the end of the
// ringing and the end of the call take a pop away ("screenpop.gone").
(function () {
  "use strict";
  var root = document.getElementById("screenpop");
  var labelsRoot = document.getElementById("pop-labels");
  if (!root || !labelsRoot) { return; }
  var labels = {};
  Array.prototype.forEach.call(labelsRoot.querySelectorAll("[data-key]"), function (el) {
    labels[el.getAttribute("data-key")] = el.textContent;
  });
  function label(key, values, fallback) {
    var text = Object.prototype.hasOwnProperty.call(labels, key) ? labels[key] : (fallback || key);
    Object.keys(values || {}).forEach(function (name) {
      text = text.split("{" + name + "}").join(String(values[name]));
    });
    return text;
  }
  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var csrf = csrfMeta ? csrfMeta.getAttribute("content") : "";
  var zone = document.body.getAttribute("data-tz") || undefined;
  var clock;
  try {
    clock = new Intl.DateTimeFormat("en-CA", { timeZone: zone, month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
  } catch (e) {
    clock = new Intl.DateTimeFormat("en-CA", { month: "2-digit", day: "2-digit", hour: "2-digit",
      minute: "2-digit", hourCycle: "h23" });
  }
  function when(iso) {
    var at = new Date(iso);
    if (!iso || isNaN(at.getTime())) { return ""; }
    var p = {};
    clock.formatToParts(at).forEach(function (part) { p[part.type] = part.value; });
    return p.month + "-" + p.day + " " + p.hour + ":" + p.minute;
  }
  var state = window.screenPop = { synced: false, shown: [], seq: 0 };

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) { node.className = cls; }
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }
  function section(title, cls, items, line, emptyText) {
    var box = el("section", "pop-section " + cls);
    box.appendChild(el("h3", "", title));
    if (!items || !items.length) {
      box.appendChild(el("p", "pop-empty", emptyText || label("pop.none")));
      return box;
    }
    var list = el("ul");
    items.forEach(function (item) { list.appendChild(line(item)); });
    box.appendChild(list);
    return box;
  }
  function linked(text, href) {
    var a = el("a", "", text);
    a.href = href;
    return a;
  }

  function card(pop) {
    var art = el("article", "pop-card");
    art.setAttribute("data-call", pop.call_id);
    art.setAttribute("data-state", pop.state);
    art.setAttribute("aria-label", label("pop.title"));
    var head = el("header", "pop-head");
    head.appendChild(el("span", "pop-state", label("pop.state." + pop.state)));
    head.appendChild(el("strong", "pop-title", label("pop.title") + " · " +
      label("pop.queue", { queue: pop.queue })));
    if (pop.caller.priority > 0) { head.appendChild(el("span", "pop-tag urgent", label("pop.priority"))); }
    var close = el("button", "pop-close", "×");
    close.type = "button";
    close.title = label("pop.dismiss");
    close.setAttribute("aria-label", label("pop.dismiss"));
    close.addEventListener("click", function () { dismiss(pop.call_id); });
    head.appendChild(close);
    art.appendChild(head);

    var who = el("div", "pop-who");
    var elder = pop.elder;
    if (elder) {
      who.appendChild(el("span", "pop-name", elder.name));
      var facts = [label("gender." + elder.gender, {}, elder.gender)];
      if (elder.age !== null) { facts.push(label("elder.age", { age: elder.age })); }
      facts.push(elder.area);
      who.appendChild(el("span", "pop-facts", facts.join(" · ")));
    } else {
      who.appendChild(el("span", "pop-name unknown", label("pop.unknown")));
    }
    art.appendChild(who);
    art.appendChild(el("div", "pop-caller", label("pop.caller." + pop.caller.kind) + " · " +
      pop.caller.number));
    if (pop.degraded) { art.appendChild(el("p", "pop-degraded", label("pop.degraded"))); }
    if (elder && (elder.hearing !== "normal" || elder.language)) {
      // How to speak with them comes first: an agent must know before saying a word.
      var speak = el("div", "pop-speak");
      if (elder.hearing && elder.hearing !== "normal") {
        speak.appendChild(el("span", "pop-hearing hearing-" + elder.hearing,
          label("hearing." + elder.hearing, {}, elder.hearing)));
      }
      if (elder.language) {
        speak.appendChild(el("span", "pop-language",
          label("language." + elder.language, {}, elder.language)));
      }
      art.appendChild(speak);
    }
    if (elder) {
      var flags = el("div", "pop-flags");
      if (elder.lives_alone) { flags.appendChild(el("span", "pop-tag", label("flag.lives_alone"))); }
      if (elder.disabled) { flags.appendChild(el("span", "pop-tag", label("flag.disabled"))); }
      if (flags.childNodes.length) { art.appendChild(flags); }
      if (elder.health_notes) {
        var health = el("p", "pop-health");
        health.appendChild(el("b", "", label("pop.health") + "："));
        health.appendChild(document.createTextNode(elder.health_notes));
        art.appendChild(health);
      }
    }
    art.appendChild(section(label("pop.why"), "pop-why", pop.why, function (w) {
      var li = el("li", "why-" + w.kind);
      if (w.kind === "routing") { li.textContent = label("pop.why.routing", { text: w.text }); }
      else if (w.kind === "care") {
        li.textContent = w.text ? label("pop.why.care", { text: w.text }) : label("pop.why.care_call");
      }
      else if (w.kind === "open_sos") {
        li.appendChild(linked(label("pop.why.open_sos", { at: when(w.at) }), w.url));
      } else if (w.kind === "recent_abandon") {
        li.textContent = label("pop.why.recent_abandon", { at: when(w.at), wait: w.wait_seconds });
      }
      return li;
    }, label("pop.why.none")));

    var grid = el("div", "pop-grid");
    grid.appendChild(section(label("pop.contacts"), "pop-contacts", pop.contacts, function (c) {
      return el("li", "", label("contact_role." + c.role, {}, c.role) + " " + c.name +
        (c.relation ? "（" + c.relation + "）" : "") + " " + c.phone);
    }));
    grid.appendChild(section(label("pop.calls"), "pop-calls", pop.calls, function (c) {
      return el("li", "", when(c.at) + " " + label("pop.outcome." + (c.outcome || "none")) +
        (c.agent ? " · " + c.agent : "") + " · " + label("pop.wait", { s: c.wait_seconds }));
    }));
    grid.appendChild(section(label("pop.incidents"), "pop-incidents", pop.incidents, function (i) {
      var li = el("li", i.status === "active" ? "active" : "");
      li.appendChild(linked(when(i.at) + " SOS · " + label("pop.incident." + i.status), i.url));
      return li;
    }));
    grid.appendChild(section(label("pop.orders"), "pop-orders", pop.work_orders, function (o) {
      return el("li", "", o.number + " " + o.title + " · " + label("pop.order." + o.status, {}, o.status));
    }));
    grid.appendChild(section(label("pop.complaints"), "pop-complaints", pop.complaints, function (c) {
      var li = el("li", "");
      li.appendChild(linked(c.number + " " + c.title + " · " +
        label("pop.complaint." + c.status, {}, c.status), c.url));
      return li;
    }));
    art.appendChild(grid);

    var actions = el("div", "pop-actions");
    var status = el("p", "pop-status");
    status.setAttribute("role", "status");
    pop.actions.forEach(function (action) {
      var button = el("button", "pop-action", label("pop.action." + action));
      button.type = "button";
      button.setAttribute("data-action", action);
      button.addEventListener("click", function () { act(pop.call_id, action, button, status); });
      actions.appendChild(button);
    });
    if (elder) { actions.appendChild(linked(label("pop.profile"), elder.url)); }
    art.appendChild(actions);
    art.appendChild(status);
    art.appendChild(transferPanel(pop.call_id));
    return art;
  }

  // The call panel's transfers (shown once the call is answered): blind, or attended —
  // consult the target while the caller is held, then complete or cancel. The
  // consultation's progress comes as "screenpop.consult" frames.
  function transferPanel(callId) {
    var box = el("section", "pop-transfer");
    box.appendChild(el("h3", "", label("pop.transfer")));
    var to = el("select", "transfer-to");
    ["queue", "agent", "number"].forEach(function (kind) {
      var option = el("option", "", label("pop.transfer.to." + kind));
      option.value = kind;
      to.appendChild(option);
    });
    var target = el("input", "transfer-target");
    target.placeholder = label("pop.transfer.target");
    target.maxLength = 64;
    box.appendChild(to);
    box.appendChild(target);
    var note = el("p", "transfer-status");
    note.setAttribute("role", "status");
    var buttons = {};
    function button(step, send) {
      var b = el("button", "transfer-" + step, label("pop.transfer." + step));
      b.type = "button";
      b.setAttribute("data-step", step);
      b.addEventListener("click", function () { send(b); });
      buttons[step] = b;
      box.appendChild(b);
    }
    var base = "/api/calls/" + encodeURIComponent(callId) + "/transfer";
    function call(path, body) {
      return post(path, body).then(function (response) {
        return response.json().then(function (data) {
          if (!response.ok) { throw new Error(data.message || String(response.status)); }
          return data;
        });
      }).catch(function (err) {
        note.textContent = label("pop.transfer.failed", { error: err.message });
        throw err;
      });
    }
    function start(mode) {
      return function () {
        if (!target.value.trim()) { target.focus(); return; }
        call(base, { mode: mode, to: to.value, target: target.value.trim() }).then(function (data) {
          if (mode === "blind") { note.textContent = label("pop.consult.completed", { target: data.target }); }
          else { consulting(box, { state: data.state, target: data.target, error: "" }); }
        }, function () {});
      };
    }
    button("blind", start("blind"));
    button("consult", start("attended"));
    button("complete", function () { call(base + "/complete").then(function () {}, function () {}); });
    button("cancel", function () { call(base + "/cancel").then(function () {}, function () {}); });
    buttons.complete.disabled = true;
    buttons.cancel.disabled = true;
    box.appendChild(note);
    return box;
  }
  function consulting(box, consult) {
    var open = consult.state === "calling" || consult.state === "talking";
    box.setAttribute("data-consult", consult.state);
    box.querySelector(".transfer-complete").disabled = consult.state !== "talking";
    box.querySelector(".transfer-cancel").disabled = !open;
    box.querySelector(".transfer-consult").disabled = open;
    box.querySelector(".transfer-blind").disabled = open;
    box.querySelector(".transfer-status").textContent = label(
      "pop.consult." + consult.state, { target: consult.target || "", error: consult.error || "" });
  }

  function post(path, body) {
    return fetch(path, { method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body || {}) });
  }
  function act(callId, action, button, status) {
    button.disabled = true;
    post("/api/screenpop/" + encodeURIComponent(callId) + "/intents", { action: action })
      .then(function (response) {
        if (!response.ok) { throw new Error(String(response.status)); }
        return response.json();
      })
      .then(function () {
        status.textContent = label("pop.action.recorded", { action: label("pop.action." + action) });
        button.setAttribute("aria-pressed", "true");
      })
      .catch(function () { status.textContent = label("pop.action.failed"); button.disabled = false; });
  }
  function dismiss(callId) {
    remove(callId);
    post("/api/screenpop/" + encodeURIComponent(callId) + "/dismiss");
  }

  function find(callId) {
    return root.querySelector('.pop-card[data-call="' + String(callId).replace(/["\\]/g, "") + '"]');
  }
  function refresh() {
    state.shown = Array.prototype.map.call(root.querySelectorAll(".pop-card"), function (c) {
      return c.getAttribute("data-call");
    });
    root.hidden = state.shown.length === 0;
  }
  function show(pop) {
    var fresh = card(pop);
    state.seq += 1;
    fresh.setAttribute("data-seq", String(state.seq));
    var old = find(pop.call_id);
    if (old) { root.replaceChild(fresh, old); } else { root.insertBefore(fresh, root.firstChild); }
    refresh();
  }
  function remove(callId) {
    var old = find(callId);
    if (old) { old.parentNode.removeChild(old); }
    refresh();
  }
  function answered(callId) {
    var node = find(callId);
    if (!node) { return; }
    node.setAttribute("data-state", "answered");
    node.querySelector(".pop-state").textContent = label("pop.state.answered");
  }
  function sync() {
    var from = state.seq;
    fetch("/api/screenpop/current", { credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : { pops: null }; })
      .then(function (data) {
        if (!data.pops) { return; }
        var now = {};
        data.pops.forEach(function (pop) { now[pop.call_id] = true; });
        // Pops that came on the socket while this read ran stay: the read may predate them.
        Array.prototype.forEach.call(root.querySelectorAll(".pop-card"), function (node) {
          if (!now[node.getAttribute("data-call")] && Number(node.getAttribute("data-seq")) <= from) {
            node.parentNode.removeChild(node);
          }
        });
        data.pops.forEach(function (pop) {
          var old = find(pop.call_id);
          if (!old || Number(old.getAttribute("data-seq")) <= from) { show(pop); }
        });
        refresh();
        state.synced = true;
      });
  }
  document.addEventListener("console:ready", sync);
  if (window.consoleReady) { sync(); }
  document.addEventListener("console:event", function (event) {
    var message = event.detail || {};
    var payload = message.payload || {};
    if (message.topic === "screenpop.show") { show(payload); }
    else if (message.topic === "screenpop.answered") { answered(payload.call_id); }
    else if (message.topic === "screenpop.gone") { remove(payload.call_id); }
    else if (message.topic === "screenpop.consult") {
      var node = find(payload.call_id);
      if (node) { consulting(node.querySelector(".pop-transfer"), payload); }
    }
    else { return; }
    event.preventDefault();  // the pop is the notice: no banner
  });
})();
