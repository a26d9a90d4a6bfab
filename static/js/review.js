/* Review time: how long the open approval was really reviewed (flows/approvals/review.py).
 * No inline scripts; loaded by templates/approvals/inbox.html.
 *
 * While the inbox's detail pane shows an approval this person may decide (it carries
 * data-review-url), the time counts only when the page is visible, the window has focus and
 * the person did something (pointer, keys, scroll) within the last IDLE_MS. The counted
 * milliseconds go to the server every SEND_MS, when the pane moves to another approval, on
 * pagehide (sendBeacon), and with the decision itself (an active_ms field added to the
 * decision forms marked data-review-final). The server caps each report by the wall time
 * since the previous one, so this file can under-count but not inflate.
 */
(function () {
  "use strict";

  var TICK_MS = 1000;
  var IDLE_MS = 60000;
  var SEND_MS = 15000;
  var MAX_STEP_MS = 5000;  // a frozen or throttled page's gap is not review time

  var url = null;      // where the open approval's heartbeats go
  var pending = 0;     // counted, not yet sent (ms)
  var lastTick = Date.now();
  var lastSent = Date.now();
  var lastActivity = Date.now();

  function csrfToken() {
    try {
      return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || "";
    } catch (error) {
      return "";
    }
  }

  function active(now) {
    return document.visibilityState === "visible" && document.hasFocus() &&
      now - lastActivity < IDLE_MS;
  }

  function tick() {
    var now = Date.now();
    var step = Math.min(Math.max(now - lastTick, 0), MAX_STEP_MS);
    lastTick = now;
    if (url && active(now)) pending += step;
    if (url && pending > 0 && now - lastSent >= SEND_MS) send(false);
  }

  function take() {
    var ms = Math.round(pending);
    pending = 0;
    lastSent = Date.now();
    return ms;
  }

  function send(leaving) {
    if (!url) return;
    var ms = take();
    if (ms <= 0) return;
    var body = new URLSearchParams({ active_ms: String(ms), csrfmiddlewaretoken: csrfToken() });
    if (leaving && navigator.sendBeacon) {
      navigator.sendBeacon(url, body);
      return;
    }
    window.fetch(url, { method: "POST", body: body, credentials: "same-origin", keepalive: true })
      .catch(function () { /* a lost heartbeat under-counts; nothing to retry */ });
  }

  // The pane was redrawn: when it now shows another approval, report the old one's time first.
  function follow() {
    var pane = document.getElementById("inbox-detail");
    var next = pane ? pane.getAttribute("data-review-url") : null;
    if (next === url) return;
    tick();
    send(false);
    url = next;
    pending = 0;
    lastTick = lastSent = Date.now();
  }

  function activity() { lastActivity = Date.now(); }
  ["pointermove", "pointerdown", "keydown", "wheel", "touchstart"].forEach(function (name) {
    document.addEventListener(name, activity, { passive: true, capture: true });
  });
  document.addEventListener("scroll", activity, { passive: true, capture: true });

  // Count up to the moment the page is left, then nothing until it comes back.
  document.addEventListener("visibilitychange", function () {
    tick();
    if (document.visibilityState === "visible") activity();
    else send(true);
  });
  window.addEventListener("blur", tick);
  window.addEventListener("focus", function () { tick(); activity(); });
  window.addEventListener("pagehide", function () { tick(); send(true); });

  // The decision carries the last chunk, so the server sums everything up to the decision.
  document.addEventListener("htmx:configRequest", function (event) {
    var form = event.detail && event.detail.elt;
    if (!url || !form || !form.matches || !form.matches("form[data-review-final]")) return;
    tick();
    event.detail.parameters.active_ms = String(take());
    // Decided: nothing more to report for it (a late heartbeat would be refused with 409).
    // The redrawn pane sets the next approval's address (follow).
    url = null;
  });
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!url || !form.matches || !form.matches("form[data-review-final]") || window.htmx) return;
    tick();
    var field = form.querySelector("input[name=active_ms]") || document.createElement("input");
    field.type = "hidden";
    field.name = "active_ms";
    field.value = String(take());
    form.appendChild(field);
    url = null;
  }, true);

  document.addEventListener("htmx:afterSettle", follow);
  document.addEventListener("DOMContentLoaded", follow);
  window.setInterval(tick, TICK_MS);
})();
