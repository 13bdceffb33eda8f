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
