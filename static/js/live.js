/* htmx wiring for the live pages: loaded on every page, no inline scripts.
 *
 * - Shows whether live updates flow (the "Live" / "Reconnecting…" pill, and
 *   body[data-live] = connecting | open | closed for tests and styles).
 * - Keeps a <details> (a timeline row, an edited draft) open when the server
 *   pushes a new version of the element it belongs to, and reloads the
 *   contents an open timeline row fetches on first opening.
 */
(function () {
  "use strict";

  var LABELS = { connecting: "Connecting…", open: "Live", closed: "Reconnecting…" };

  function setLive(state) {
    document.body.setAttribute("data-live", state);
    var pills = document.querySelectorAll("[data-live-status]");
    for (var i = 0; i < pills.length; i++) {
      pills[i].textContent = LABELS[state];
      pills[i].setAttribute("data-state", state);
    }
  }

  document.addEventListener("htmx:wsConnecting", function () { setLive("connecting"); });
  document.addEventListener("htmx:wsOpen", function () { setLive("open"); });
  document.addEventListener("htmx:wsClose", function () { setLive("closed"); });
  document.addEventListener("htmx:wsError", function () { setLive("closed"); });

  function openIds(root) {
    var ids = [];
    if (root.matches && root.matches("details[open][id]")) ids.push(root.id);
    if (root.querySelectorAll) {
      var found = root.querySelectorAll("details[open][id]");
      for (var i = 0; i < found.length; i++) ids.push(found[i].id);
    }
    return ids;
  }

  // A timeline row loads its input and output when first opened (hx-trigger
  // "toggle once"); a row pushed open in place of an open one loads them now.
  document.addEventListener("htmx:load", function (event) {
    var elt = event.detail.elt;
    if (elt.matches && elt.matches("details.step[open][hx-get]") && window.htmx) {
      window.htmx.trigger(elt, "toggle");
    }
  });

  document.addEventListener("htmx:oobBeforeSwap", function (event) {
    var target = event.detail.target;
    var fragment = event.detail.fragment;
    if (!target || !fragment) return;
    var ids = openIds(target);
    for (var i = 0; i < ids.length; i++) {
      var incoming = fragment.querySelector("#" + CSS.escape(ids[i]));
      if (incoming) incoming.setAttribute("open", "");
    }
  });
})();
