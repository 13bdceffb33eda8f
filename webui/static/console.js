// Live events from /ws: show each as a banner; reconnect with backoff if the link drops.
(function () {
  "use strict";
  var path = document.body.getAttribute("data-ws");
  var live = document.getElementById("live");
  if (!path || !live || !window.WebSocket) { return; }
  var delay = 1000;
  function connect() {
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    var socket = new WebSocket(scheme + location.host + path);
    socket.onopen = function () { delay = 1000; };
    socket.onmessage = function (event) {
      var message;
      try { message = JSON.parse(event.data); } catch (e) { return; }
      if (message.topic === "ws.ready") {
        // Each (re)connect: features re-read what they may have missed while offline.
        // A feature whose script runs after this first one checks window.consoleReady.
        window.consoleReady = true;
        document.dispatchEvent(new CustomEvent("console:ready", { detail: message.payload }));
      }
      if (!message.topic || message.topic.indexOf("ws.") === 0) { return; }
      // A feature that shows the event itself (a pop, a live table) cancels the banner.
      var shown = document.dispatchEvent(new CustomEvent("console:event",
        { detail: message, cancelable: true }));
      if (shown) { live.textContent = live.getAttribute("data-label") + ": " + message.topic; }
    };
    socket.onclose = function (event) {
      if (event.code === 4401) { location.href = "/login"; return; }
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 30000);
    };
  }
  connect();
})();
