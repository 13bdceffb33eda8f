// Deadline warnings and escalations from /ws, as a readable banner linking to the case.
(function () {
  "use strict";
  var plural = { workorder: "workorders", consult: "consults", complaint: "complaints" };
  document.addEventListener("console:event", function (event) {
    var message = event.detail;
    if (message.topic !== "workflow.deadline_warning" && message.topic !== "workflow.overdue") { return; }
    var labels = document.getElementById("wf-labels");
    var live = document.getElementById("live");
    if (!labels || !live || !plural[message.payload.kind]) { return; }
    var text = (message.topic === "workflow.overdue" ? labels.dataset.overdue : labels.dataset.warning)
      .replace("{number}", message.payload.number);
    var link = document.createElement("a");
    link.href = "/" + plural[message.payload.kind] + "/" + message.payload.id;
    link.textContent = text;
    live.textContent = "";
    live.appendChild(link);
    event.preventDefault();  // shown here: the console's generic banner stays out
  });
})();
