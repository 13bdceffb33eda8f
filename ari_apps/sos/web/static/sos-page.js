// The incident page and the incident list, live: legs, the timeline in words, alerts for
// the incident on screen (never a pop over its own page), elapsed time and handlers.
(function () {
  "use strict";
  var base = window.sosBase;
  if (!base) { return; }
  var label = base.label;
  var page = document.querySelector("article.incident[data-incident]");
  var listRows = document.getElementById("incidents-active-rows");
  if (!page && !listRows) { return; }

  function make(tag, className, text) {
    var el = document.createElement(tag);
    if (className) { el.className = className; }
    if (text !== undefined) { el.textContent = text; }
    return el;
  }

  // -- the incident page -------------------------------------------------------------------
  var legs = {};  // id → {role, name}: what the timeline's words need
  if (page) {
    Array.prototype.forEach.call(page.querySelectorAll("tr[data-leg]"), function (row) {
      legs[row.getAttribute("data-leg")] = {
        role: row.getAttribute("data-role"), name: row.getAttribute("data-name") || ""
      };
    });
  }
  function legCells(row, leg) {
    var cells = row.querySelectorAll("td");
    if (leg.name) { cells[0].textContent = leg.name; }
    cells[2].textContent = "";
    cells[2].appendChild(make("span", "state state-" + leg.state, base.stateLabel(leg.state)));
    if (leg.cause !== null && leg.cause !== undefined) { cells[3].textContent = base.causeLabel(leg.cause); }
    row.setAttribute("data-state", leg.state);
    legActions(row, leg);
  }
  function updatePageLeg(leg) {
    legs[leg.id] = { role: leg.role, name: leg.name || (legs[leg.id] || {}).name || "" };
    var row = null;
    Array.prototype.forEach.call(page.querySelectorAll("tr[data-leg]"), function (r) {
      if (r.getAttribute("data-leg") === leg.id) { row = r; }
    });
    if (!row) {
      var group = page.querySelector('.role-group[data-role="' + leg.role + '"]');
      if (!group) { return; }
      row = make("tr");
      row.setAttribute("data-leg", leg.id);
      row.setAttribute("data-role", leg.role);
      for (var i = 0; i < 4; i++) { row.appendChild(make("td", i === 2 ? "leg-state" : "", i < 2 ? "—" : "")); }
      var actionsTemplate = document.getElementById("leg-actions-template");
      if (actionsTemplate) { row.appendChild(actionsTemplate.content.firstElementChild.cloneNode(true)); }
      group.querySelector("tbody").appendChild(row);
      group.hidden = false;
      group.querySelector(".no-legs").hidden = true;
    }
    legCells(row, leg);
  }
  function counted(list) {
    return function (kind, role) {
      return list.querySelectorAll('li[data-kind="' + kind + '"][data-role="' + role + '"]').length;
    };
  }
  function appendTimeline(event) {
    var list = document.getElementById("timeline");
    if (!list || !event) { return; }
    var elder = page.getAttribute("data-elder") || "";
    var line = base.timelineLine(event, legs, elder, counted(list));
    var item = make("li");
    item.setAttribute("data-kind", event.kind);
    item.setAttribute("data-role", line.role);
    var when = make("time", "", base.timeText(event.at, false));
    when.setAttribute("datetime", event.at);
    item.appendChild(when);
    item.appendChild(document.createTextNode(" "));
    item.appendChild(make("span", "line", line.text));
    if (line.extra) {
      item.appendChild(document.createTextNode(" "));
      item.appendChild(make("span", "muted", line.extra));
    }
    list.appendChild(item);
  }
  function updatePage(topic, payload) {
    if (!page || payload.incident !== page.getAttribute("data-incident")) { return; }
    (payload.legs || []).forEach(updatePageLeg);
    if (payload.exhausted) {
      Array.prototype.forEach.call(page.querySelectorAll(".role-group"), function (group) {
        var gone = payload.exhausted.indexOf(group.getAttribute("data-role")) >= 0;
        group.classList.toggle("exhausted", gone);
        group.querySelector(".exhausted-tag").hidden = !gone;
        if (gone) { group.hidden = false; }
      });
    }
    if (payload.events) { payload.events.forEach(appendTimeline); }
    else if (payload.event) { appendTimeline(payload.event); }
    if (topic === "sos.alert") {
      // On its own page an alert is said here, not popped over the page it would link to.
      var alerts = document.getElementById("incident-alerts");
      var detail = payload.detail || {};
      alerts.insertBefore(make("li", "", label("sos.alert." + payload.alert, payload.alert, {
        role: base.roleLabel(detail.role), to: base.roleLabel(detail.to)
      })), alerts.firstChild);
      alerts.hidden = false;
    }
    var joinButton = document.getElementById("join");
    if (joinButton) {
      base.showMyLeg(payload.incident, payload.legs, joinButton, document.getElementById("join-status"));
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

  // -- staff's actions on the incident page: end, dial by hand, hang up or mute a leg ----
  var actionsBase = page && page.getAttribute("data-actions");
  var actionStatus = document.getElementById("action-status");

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
      report(base.post(actionsBase + encodeURIComponent(leg) + "/" + action,
                       action === "mute" ? { muted: muting } : {})).then(function (answer) {
        button.disabled = false;
        if (answer && action === "mute") { showMuted(button, answer.muted); }
      });
    });
    var endForm = document.getElementById("end-form");
    endForm.addEventListener("submit", function (event) {
      event.preventDefault();
      var data = new FormData(endForm);
      report(base.post(endForm.getAttribute("data-url"),
                       { disposition: data.get("disposition"), note: data.get("note") }));
    });
    var dialForm = document.getElementById("dial-form");
    dialForm.addEventListener("submit", function (event) {
      event.preventDefault();
      var data = new FormData(dialForm);
      report(base.post(dialForm.getAttribute("data-url"), {
        role: data.get("role"), number: data.get("number"), name: data.get("name")
      })).then(function (answer) { if (answer) { dialForm.reset(); } });
    });
  }
  var pageJoin = document.getElementById("join");
  if (pageJoin) {
    pageJoin.addEventListener("click", function () {
      base.join(page.getAttribute("data-incident"), pageJoin, document.getElementById("join-status"));
    });
  }

  // -- the incident list -------------------------------------------------------------------
  function tick() {
    var now = Date.now();
    Array.prototype.forEach.call(listRows.querySelectorAll("tr[data-started]"), function (row) {
      if (row.hasAttribute("data-ended")) { return; }
      var started = new Date(row.getAttribute("data-started")).getTime();
      var cell = row.querySelector(".incident-elapsed");
      if (cell && !isNaN(started)) { cell.textContent = base.elapsedText((now - started) / 1000); }
    });
  }
  function handlerCell(cell, handlers) {
    cell.textContent = "";
    if (!handlers.length) { cell.appendChild(make("span", "muted", label("incident.handlers.none", ""))); }
    handlers.forEach(function (h) {
      var span = make("span", "handler how-" + h.how, label("incident.handler", "{name}", {
        name: h.name, role: base.roleLabel(h.role), how: label("incident.how." + h.how, h.how)
      }));
      span.setAttribute("data-user", h.user_id === null ? "" : String(h.user_id));
      cell.appendChild(span);
    });
  }
  // Who handles what is the server's to say (legs and acknowledgements): re-read it, at
  // most once a second, whenever an incident changes.
  var refreshing = null;
  function refreshHandlers() {
    if (refreshing) { return; }
    refreshing = setTimeout(function () {
      base.getJson(base.apiBase + "?status=active").then(function (list) {
        refreshing = null;
        list.incidents.forEach(function (i) {
          var row = listRows.querySelector('tr[data-incident="' + i.id + '"]');
          var cell = row && row.querySelector(".incident-handlers");
          if (cell) { handlerCell(cell, i.handlers); }
        });
      }).catch(function () { refreshing = null; });
    }, 1000);
  }
  function updateList(topic, payload) {
    if (!listRows) { return; }
    var row = listRows.querySelector('tr[data-incident="' + payload.incident + '"]');
    if (topic === "sos.ended" && row) {
      row.setAttribute("data-ended", new Date().toISOString());
      var tag = row.querySelector(".incident-status .tag");
      if (tag) { tag.textContent = label("sos.status.ended", "ended"); tag.classList.remove("warn"); }
    } else if (topic === "sos.started" && !row) {
      row = make("tr");
      row.setAttribute("data-incident", payload.incident);
      row.setAttribute("data-started", payload.started_at);
      var link = make("a", "", payload.elder ? payload.elder.name : label("sos.unidentified", "", {
        number: payload.caller_number || label("sos.unidentified.unknown", "")
      }));
      link.setAttribute("href", "/incidents/" + encodeURIComponent(payload.incident));
      var whoCell = make("td");
      whoCell.appendChild(link);
      row.appendChild(whoCell);
      row.appendChild(make("td", "", label("incident.kind." + payload.kind, payload.kind || "")));
      var started = make("td");
      var when = make("time", "", base.timeText(payload.started_at, true));
      when.setAttribute("datetime", payload.started_at);
      started.appendChild(when);
      row.appendChild(started);
      row.appendChild(make("td", "incident-elapsed"));
      var handlers = make("td", "incident-handlers");
      handlerCell(handlers, []);
      row.appendChild(handlers);
      var status = make("td", "incident-status");
      status.appendChild(make("span", "tag warn", label("sos.status.active", "active")));
      row.appendChild(status);
      row.appendChild(make("td"));
      listRows.insertBefore(row, listRows.firstChild);
      var none = document.getElementById("incidents-none-active");
      if (none) { none.hidden = true; }
      tick();
    }
    if (row && topic !== "sos.ended") { refreshHandlers(); }
  }
  if (listRows) { setInterval(tick, 1000); tick(); }

  document.addEventListener("console:event", function (event) {
    var message = event.detail || {};
    var payload = message.payload || {};
    if (!message.topic || message.topic.indexOf("sos.") !== 0 || !payload.incident) { return; }
    updatePage(message.topic, payload);
    updateList(message.topic, payload);
  });
})();
