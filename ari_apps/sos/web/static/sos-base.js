// What the SOS scripts share: the catalog's labels, times in the centre's time zone, the
// timeline said in words (as ari_apps/sos/records.py says it on the page: keep in step),
// and the console API (acknowledge, join). Loaded before sos.js and sos-page.js.
(function () {
  "use strict";
  var labelsRoot = document.getElementById("sos-labels");
  if (!labelsRoot) { return; }

  // -- labels (rendered from the message catalog by _sos_pop.html) ---------------------
  var labels = {};
  Array.prototype.forEach.call(labelsRoot.querySelectorAll("[data-key]"), function (el) {
    labels[el.getAttribute("data-key")] = el.textContent;
  });
  function has(key) { return Object.prototype.hasOwnProperty.call(labels, key); }
  function label(key, fallback, values) {
    var text = has(key) ? labels[key] : fallback;
    Object.keys(values || {}).forEach(function (name) {
      var value = values[name];
      text = text.split("{" + name + "}").join(value === null || value === undefined ? "" : String(value));
    });
    return text;
  }
  function roleLabel(role) { return role ? label("sos.role." + role, role) : ""; }
  function stateLabel(state) { return label("sos.state." + state, state); }
  function causeLabel(cause) {
    if (cause === null || cause === undefined) { return ""; }
    return label("sos.cause." + cause, label("sos.cause", "cause {cause}", { cause: cause }));
  }

  // -- times: the centre's zone (<body data-tz>), never the browser's ------------------
  var zone = document.body.getAttribute("data-tz") || undefined;
  var clock;
  try {
    clock = new Intl.DateTimeFormat("en-CA", {
      timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit",
      minute: "2-digit", second: "2-digit", hourCycle: "h23"
    });
  } catch (e) {
    clock = new Intl.DateTimeFormat("en-CA", { hourCycle: "h23", year: "numeric", month: "2-digit",
      day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit" });
  }
  function timeText(iso, withDate) {
    var at = new Date(iso);
    if (isNaN(at.getTime())) { return ""; }
    var p = {};
    clock.formatToParts(at).forEach(function (part) { p[part.type] = part.value; });
    var time = p.hour + ":" + p.minute + ":" + p.second;
    return withDate ? p.year + "-" + p.month + "-" + p.day + " " + time : time;
  }
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function elapsedText(seconds) {
    var total = Math.max(0, Math.floor(seconds));
    var h = Math.floor(total / 3600), m = Math.floor((total % 3600) / 60), s = total % 60;
    if (h) { return label("elapsed.hms", "", { h: h, m: pad(m), s: pad(s) }); }
    if (m) { return label("elapsed.ms", "", { m: m, s: pad(s) }); }
    return label("elapsed.s", "", { s: s });
  }

  // -- the timeline in words -------------------------------------------------------------
  var ROUND_ROBIN = ["kin", "doctor", "social_worker"];
  function who(role, name) {
    var text = roleLabel(role);
    return name && text.indexOf(name) < 0 ? text + " " + name : (text || name);
  }
  function causeOf(detail) {
    var cause = detail.cause;
    if (typeof cause === "number" && has("sos.cause." + cause)) { return labels["sos.cause." + cause]; }
    if (cause !== null && cause !== undefined && cause !== "") { return label("sos.cause", "", { cause: cause }); }
    return detail.reason ? String(detail.reason) : "";
  }
  function known(prefix, value) { return has(prefix + value) ? labels[prefix + value] : (value || ""); }
  // ``counted(kind, role)``: how many steps of that kind and role the timeline has so far.
  function timelineLine(event, legs, elder, counted) {
    var detail = event.detail || {};
    var kind = event.kind;
    var leg = (legs || {})[detail.leg] || {};
    var role = String(detail.role || leg.role || "");
    var name = String(leg.name || detail.name || "");
    if (role === "elder" && !name) { name = elder || ""; }
    var values = {};
    Object.keys(detail).forEach(function (k) { values[k] = detail[k]; });
    var dialled = counted("leg.dialing", role);
    var extra = {
      who: who(role, name), role: roleLabel(role || detail.to), name: name, cause: causeOf(detail),
      actor: event.actor || "", elder: elder || "", n: dialled + 1,
      kind: known("incident.kind.", detail.kind), outcome: known("incident.outcome.", detail.outcome),
      channel: known("notification.channel.", detail.channel), error: detail.error || detail.cause || ""
    };
    Object.keys(extra).forEach(function (k) { values[k] = extra[k]; });
    var key = "sos.line." + kind;
    if (kind === "leg.dialing" && counted("leg.failed", role)) {
      if (ROUND_ROBIN.indexOf(role) >= 0) { key += ".next"; } else if (role === "emergency") { key += ".again"; }
    } else if (kind === "emergency.unreachable" && detail.retrying) {
      key += ".retrying";
    }
    if (!has(key)) {
      var rest = Object.keys(detail).filter(function (k) {
        return detail[k] !== null && detail[k] !== undefined && detail[k] !== "";
      }).map(function (k) { return k + "=" + detail[k]; }).join(", ");
      return { role: role, text: label("sos.event." + kind, kind), extra: rest };
    }
    return { role: role, text: label(key, "", values), extra: "" };
  }

  // -- the console API -------------------------------------------------------------------
  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var csrf = csrfMeta ? csrfMeta.getAttribute("content") : "";
  var apiBase = "/api/sos";
  function getJson(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) { var err = new Error(String(response.status)); err.status = response.status; throw err; }
        return response.json();
      });
  }
  // A JSON body when given (the page's actions); none for join and ack.
  function post(url, body) {
    var headers = { "X-CSRF-Token": csrf, Accept: "application/json" };
    if (body !== undefined) { headers["Content-Type"] = "application/json"; }
    return fetch(url, {
      method: "POST", credentials: "same-origin", headers: headers,
      body: body === undefined ? undefined : JSON.stringify(body)
    }).then(function (response) {
      return response.json().then(function (answer) {
        if (!response.ok) { throw new Error(answer.message || String(response.status)); }
        return answer;
      });
    });
  }
  function incidentUrl(id, tail) { return apiBase + "/" + encodeURIComponent(id) + (tail || ""); }
  // What this tab remembers across pages: the leg it joined with ("me" in the legs).
  function remembered(name) {
    try { return JSON.parse(sessionStorage.getItem("sos." + name) || "{}"); } catch (e) { return {}; }
  }
  function remember(name, incident, value) {
    var all = remembered(name);
    if (value === undefined) { delete all[incident]; } else { all[incident] = value; }
    try { sessionStorage.setItem("sos." + name, JSON.stringify(all)); } catch (e) { /* private mode */ }
  }
  var joinedListeners = [];
  function join(id, button, status) {
    button.disabled = true;
    joinedListeners.forEach(function (listener) { listener(id); });
    return post(incidentUrl(id, "/join")).then(function (answer) {
      remember("joined", id, answer.leg);
      status.textContent = label("sos.join.ringing", "", { endpoint: answer.endpoint });
      button.setAttribute("data-leg", answer.leg);
      return answer;
    }).catch(function (err) {
      button.disabled = false;
      status.textContent = label("sos.join.failed", "", { message: err.message });
    });
  }
  // My own leg's state tells a join button and its status line what to say.
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

  window.sosBase = {
    label: label, has: has, roleLabel: roleLabel, stateLabel: stateLabel, causeLabel: causeLabel,
    timeText: timeText, elapsedText: elapsedText, timelineLine: timelineLine,
    getJson: getJson, post: post, incidentUrl: incidentUrl, apiBase: apiBase,
    remembered: remembered, remember: remember, join: join, showMyLeg: showMyLeg,
    onJoin: function (listener) { joinedListeners.push(listener); },
    me: Number(labelsRoot.getAttribute("data-user") || 0)
  };
})();
