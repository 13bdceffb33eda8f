// The care page: pause and resume a campaign (supervisors), then show its new state.
(function () {
  "use strict";
  const token = document.querySelector('meta[name="csrf-token"]');
  document.querySelectorAll("button.campaign-toggle").forEach(function (button) {
    button.addEventListener("click", async function () {
      const paused = button.dataset.paused !== "1";
      button.disabled = true;
      const response = await fetch("/api/care/campaigns/" + button.dataset.kind, {
        method: "POST", credentials: "same-origin",
        headers: {"Content-Type": "application/json", "X-CSRF-Token": token ? token.content : ""},
        body: JSON.stringify({paused: paused}),
      });
      button.disabled = false;
      if (!response.ok) { return; }
      const row = button.closest("tr");
      button.dataset.paused = paused ? "1" : "";
      button.textContent = paused ? button.dataset.resumeLabel : button.dataset.pauseLabel;
      row.querySelector(".campaign-state").textContent =
        paused ? row.dataset.pausedLabel : row.dataset.runningLabel;
      row.dataset.paused = paused ? "1" : "";
    });
  });
})();

// Weather warnings (supervisors): issue one for an area, cancel one; the page is drawn again
// with the stored warning and its counts, or the error says what is wrong.
(function () {
  "use strict";
  const token = document.querySelector('meta[name="csrf-token"]');
  const headers = {"Content-Type": "application/json",
                   "X-CSRF-Token": token ? token.content : ""};

  async function problem(response) {
    try {
      const body = await response.json();
      const details = Object.values(body.details || {}).filter(function (v) {
        return typeof v === "string";
      });
      return body.message + (details.length ? " (" + details.join("; ") + ")" : "");
    } catch (err) {
      return response.status + " " + response.statusText;
    }
  }

  const form = document.getElementById("care-broadcast-form");
  if (form) {
    form.addEventListener("submit", async function (event) {
      event.preventDefault();
      const shown = form.querySelector(".broadcast-error");
      const button = form.querySelector("button[type=submit]");
      const until = form.elements.until.value;
      button.disabled = true;
      const response = await fetch("/api/care/broadcasts", {
        method: "POST", credentials: "same-origin", headers: headers,
        body: JSON.stringify({area_code: form.elements.area_code.value,
                              message: form.elements.message.value,
                              urgent: form.elements.urgent.checked,
                              until: until ? until : null}),
      });
      button.disabled = false;
      if (!response.ok) {
        shown.textContent = await problem(response);
        shown.hidden = false;
        return;
      }
      window.location.reload();
    });
  }
  document.querySelectorAll("button.broadcast-cancel").forEach(function (button) {
    button.addEventListener("click", async function () {
      button.disabled = true;
      const response = await fetch(
        "/api/care/broadcasts/" + button.dataset.broadcast + "/cancel",
        {method: "POST", credentials: "same-origin", headers: headers, body: "{}"});
      if (response.ok) { window.location.reload(); } else { button.disabled = false; }
    });
  });
})();
