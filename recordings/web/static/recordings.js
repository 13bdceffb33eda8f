// The auditors' console: search, then play with seeking through a short-lived, audited link.
(function () {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const form = $("rec-search");
  if (!form) return;
  const messages = $("rec-messages").dataset;
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const zone = document.body.dataset.tz || undefined;
  const audio = $("rec-audio");
  const canvas = $("rec-wave");
  let current = null;

  function when(iso) {
    return new Intl.DateTimeFormat("zh-CN", { timeZone: zone, dateStyle: "short", timeStyle: "medium" })
      .format(new Date(iso));
  }
  function seconds(ms) {
    const s = Math.round(ms / 1000);
    return Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");
  }
  function precise(ms) {
    const s = ms / 1000;
    return Math.floor(s / 60) + ":" + (s % 60).toFixed(1).padStart(4, "0");
  }
  function stateText(state) {
    return messages["state" + state.charAt(0).toUpperCase() + state.slice(1)] || state;
  }
  function showError(text, where) {
    const box = $(where || "rec-error");
    box.textContent = text || "";
    box.hidden = !text;
  }
  async function call(url, options) {
    const response = await fetch(url, Object.assign({ credentials: "same-origin" }, options || {}));
    const body = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(body.message || response.statusText);
    return body;
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    showError("");
    const params = new URLSearchParams();
    for (const [key, value] of new FormData(form)) if (String(value).trim()) params.set(key, String(value).trim());
    try {
      const body = await call("/api/recordings?" + params.toString());
      renderRows(body.recordings);
    } catch (err) { showError(err.message); }
  });

  function cell(row, text) {
    const td = document.createElement("td");
    td.textContent = text == null ? "" : text;
    row.appendChild(td);
    return td;
  }
  function renderRows(items) {
    const rows = $("rec-rows");
    rows.replaceChildren();
    for (const item of items) {
      const tr = document.createElement("tr");
      tr.dataset.serial = item.serial;
      cell(tr, item.serial);
      cell(tr, when(item.started_at));
      cell(tr, item.caller);
      cell(tr, item.elder_name || "");
      cell(tr, item.agent || "");
      cell(tr, seconds(item.duration_ms));
      cell(tr, stateText(item.state) + (item.problem ? " · " + item.problem : ""));
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = messages.view;
      button.addEventListener("click", () => open(item.serial));
      cell(tr, "").appendChild(button);
      rows.appendChild(tr);
    }
    $("rec-table").hidden = items.length === 0;
    $("rec-none").hidden = items.length !== 0;
  }

  async function open(serial) {
    showError("");
    try {
      current = await call("/api/recordings/" + encodeURIComponent(serial));
    } catch (err) { showError(err.message); return; }
    showError("", "rec-d-error");
    audio.removeAttribute("src");
    audio.load();
    $("rec-d-serial").textContent = current.serial;
    $("rec-d-started").textContent = when(current.started_at);
    $("rec-d-caller").textContent = current.caller;
    $("rec-d-elder").textContent = current.elder_name || "";
    $("rec-d-agent").textContent = current.agent || "";
    $("rec-d-duration").textContent = seconds(current.duration_ms);
    $("rec-d-state").textContent = stateText(current.state) + (current.problem ? " · " + current.problem : "")
      + (current.delete_reason ? " · " + current.delete_reason + " (" + current.delete_policy + ")" : "");
    $("rec-d-kept").textContent = current.kept_through;
    $("rec-d-holds").textContent = current.holds.length === 0 ? messages.holdNone : current.holds
      .map((h) => h.kind + (h.case_ref ? " " + h.case_ref : "") + " · "
        + (h.expires_at ? when(h.expires_at) : messages.untilReleased)).join("；");
    const list = $("rec-segments");
    list.replaceChildren();
    for (const [start, end] of current.segments) {
      const li = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = precise(start) + "–" + precise(end);
      button.addEventListener("click", () => seek(start / 1000));
      li.appendChild(button);
      list.appendChild(li);
    }
    const playable = current.state === "stored";
    $("rec-play").disabled = !playable;
    $("rec-download").disabled = !playable;
    $("rec-detail").hidden = false;
    draw(0);
  }

  function draw(position) {
    if (!current) return;
    const ctx = canvas.getContext("2d");
    const w = canvas.width, h = canvas.height;
    ctx.clearRect(0, 0, w, h);
    const total = Math.max(current.duration_ms, 1);
    ctx.fillStyle = "rgba(0, 120, 80, 0.15)";
    for (const [start, end] of current.segments) ctx.fillRect(start / total * w, 0, (end - start) / total * w, h);
    const peaks = current.peaks;
    ctx.fillStyle = "#245";
    const bar = w / Math.max(peaks.length, 1);
    peaks.forEach((p, i) => {
      const height = Math.max(1, p / 255 * (h - 6));
      ctx.fillRect(i * bar, (h - height) / 2, Math.max(1, bar - 1), height);
    });
    ctx.fillStyle = "#c00";
    ctx.fillRect(position / (total / 1000) * w, 0, 2, h);
  }

  async function link(purpose) {
    const reason = $("rec-reason").value;
    return call("/api/recordings/" + encodeURIComponent(current.serial) + "/access", {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify({ reason: reason, purpose: purpose }),
    });
  }
  async function play() {
    showError("", "rec-d-error");
    try {
      const granted = await link("play");
      audio.src = granted.url;
      await audio.play();
    } catch (err) { showError(err.message, "rec-d-error"); }
  }
  function seek(to) {
    if (!audio.src) return;
    audio.currentTime = to;
  }
  $("rec-play").addEventListener("click", play);
  $("rec-download").addEventListener("click", async () => {
    showError("", "rec-d-error");
    try { window.location.assign((await link("download")).url); } catch (err) { showError(err.message, "rec-d-error"); }
  });
  audio.addEventListener("timeupdate", () => draw(audio.currentTime));
  canvas.addEventListener("click", (event) => {
    if (!current) return;
    const box = canvas.getBoundingClientRect();
    seek((event.clientX - box.left) / box.width * current.duration_ms / 1000);
  });

  const hold = $("rec-hold");
  if (hold) hold.addEventListener("submit", async (event) => {
    event.preventDefault();
    showError("", "rec-d-error");
    const data = new FormData(hold);
    try {
      await call("/api/recordings/" + encodeURIComponent(current.serial) + "/holds", {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
        body: JSON.stringify({ case_ref: data.get("case_ref"), reason: data.get("reason"),
          expires_at: new Date(data.get("until") + "T23:59:59+08:00").toISOString() }),
      });
      await open(current.serial);
    } catch (err) { showError(err.message, "rec-d-error"); }
  });
})();
