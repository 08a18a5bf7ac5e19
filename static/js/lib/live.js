// One websocket per page. Page sections subscribe to message types; the page script
// connects once; one socket carries every type the server sends to the group (see
// experiments/live.py), so the server runs one heartbeat watchdog per open page.
//
//   TrackerLive.on("points", (message) => ...);     // any section, while the page loads
//   TrackerLive.onReconnect(() => refetch());       // back after a drop: events were missed
//   TrackerLive.connect(page.wsPath, { indicator: "live-indicator" });  // the page script
//
// The socket opens once every deferred script has run, so no section misses the first
// messages. It reconnects with jittered exponential back-off (1 s, 2 s, ... 30 s), except
// after the consumer's 4403 (not allowed, e.g. logged out), where retrying cannot help.
(function () {
  "use strict";

  const FORBIDDEN = 4403;
  const MAX_DELAY_MS = 30000;
  const handlers = new Map(); // message type -> [handler]
  const reconnectHandlers = [];
  let path = null;
  let indicator = null;
  let attempts = 0; // closes since the last open

  function on(type, handler) {
    if (!handlers.has(type)) handlers.set(type, []);
    handlers.get(type).push(handler);
  }

  function onReconnect(handler) {
    reconnectHandlers.push(handler);
  }

  // One section's error must not keep a message from the others; it is still thrown
  // (later, on its own), so it shows as the page's error.
  function call(handler, message) {
    try {
      handler(message);
    } catch (error) {
      window.setTimeout(() => {
        throw error;
      }, 0);
    }
  }

  function dispatch(event) {
    let message;
    try {
      message = JSON.parse(event.data);
    } catch (e) {
      return;
    }
    if (!message || typeof message.type !== "string") return;
    (handlers.get(message.type) || []).forEach((handler) => call(handler, message));
  }

  function open() {
    const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    const socket = new WebSocket(`${scheme}//${window.location.host}${path}`);
    socket.addEventListener("open", () => {
      const missed = attempts > 0;
      attempts = 0;
      if (indicator) indicator.hidden = false;
      if (missed) reconnectHandlers.forEach((handler) => call(handler));
    });
    socket.addEventListener("message", dispatch);
    socket.addEventListener("close", (event) => {
      if (indicator) indicator.hidden = true;
      if (event.code === FORBIDDEN) return;
      const delay = Math.min(MAX_DELAY_MS, 1000 * Math.pow(2, attempts)) * (0.5 + Math.random() / 2);
      attempts += 1;
      window.setTimeout(open, delay);
    });
  }

  // Opens the page's socket to `wsPath`; `options.indicator` is the id of an element
  // shown while connected. Once per page: a second call is a mistake in a page script.
  function connect(wsPath, options) {
    if (path !== null) throw new Error(`TrackerLive: this page is already connected to ${path}`);
    if (!wsPath || !("WebSocket" in window)) return;
    path = wsPath;
    indicator = options && options.indicator ? document.getElementById(options.indicator) : null;
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", open, { once: true });
    else open();
  }

  window.TrackerLive = Object.freeze({ on: on, onReconnect: onReconnect, connect: connect });
})();
