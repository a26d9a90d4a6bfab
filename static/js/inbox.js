/* The approvals inbox: keyboard shortcuts, bulk selection, filters that apply on change, and
 * keeping the detail pane honest while the list changes live. No inline scripts; loaded by
 * templates/approvals/inbox.html only.
 *
 * Keys (ignored while typing in a field, and with Ctrl/Alt/Meta):
 *   j / k   open the next / previous approval      a   approve (with the edit, if any)
 *   e       edit the draft                          r   reject: focus the reason
 *   x       select the open approval for bulk       ?   show or hide the list of keys
 *   Esc     leave a field; close the list of keys
 */
(function () {
  "use strict";

  function pane() { return document.getElementById("inbox-detail"); }
  function openId() { var p = pane(); return p ? p.getAttribute("data-approval-id") : null; }
  function rows() { return Array.prototype.slice.call(document.querySelectorAll("[data-inbox-row]")); }
  function rowOf(id) { return id ? document.getElementById("inbox-row-" + id) : null; }

  // --- which row is current -----------------------------------------------------------------
  // The cursor moves the moment j/k (or a click) asks for a row; the detail pane follows when its
  // request settles. Until then x selects the row the cursor is on, and the decision keys, which
  // act on what the pane shows, do nothing: a fast "j x" or "j a" never lands on the previous row.
  var cursor = null;

  function currentId() { return cursor && rowOf(cursor) ? cursor : openId(); }
  function loading() { return cursor !== null && cursor !== openId() && rowOf(cursor) !== null; }

  function markOpen() {
    if (cursor !== null && !loading()) cursor = null;  // the pane caught up, or the row went
    var id = currentId();
    rows().forEach(function (row) {
      var link = row.querySelector("[data-row-link]");
      var open = row.getAttribute("data-inbox-row") === id;
      row.classList.toggle("is-open", open);
      if (link) {
        if (open) link.setAttribute("aria-current", "true");
        else link.removeAttribute("aria-current");
      }
    });
  }

  // A row whose detail could not be loaded leaves the pane where it was: so does the cursor.
  function rowRequestFailed(event) {
    var elt = event.detail && event.detail.elt;
    if (elt && elt.matches && elt.matches("[data-row-link]")) { cursor = null; markOpen(); }
  }
  document.addEventListener("htmx:responseError", rowRequestFailed);
  document.addEventListener("htmx:sendError", rowRequestFailed);

  document.addEventListener("click", function (event) {
    // A click that opens a new tab leaves this page's pane, and so its cursor, where it is.
    if (event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) return;
    var link = event.target.closest && event.target.closest("[data-row-link]");
    var row = link && link.closest("[data-inbox-row]");
    if (!row) return;
    // The row already open (the first one is, on arrival): loading it again would redraw the
    // pane under an edit or a comment the approver has begun. Nothing to fetch.
    if (row.getAttribute("data-inbox-row") === openId() && !loading()) {
      event.preventDefault();
      event.stopPropagation();
      return;
    }
    cursor = row.getAttribute("data-inbox-row");
    markOpen();
  }, true);

  function move(step) {
    var list = rows();
    if (!list.length) return;
    var index = list.indexOf(rowOf(currentId()));
    var next = list[index < 0 ? 0 : Math.min(Math.max(index + step, 0), list.length - 1)];
    var link = next.querySelector("[data-row-link]");
    if (!link) return;
    link.focus();
    link.scrollIntoView({ block: "nearest" });
    if (next.getAttribute("data-inbox-row") !== currentId()) link.click();
  }

  // --- the decision keys -------------------------------------------------------------------
  function approve() {
    if (loading()) return;
    var button = pane() && pane().querySelector("[data-key=approve]");
    if (button) button.click();
  }

  function edit() {
    if (loading()) return;
    var details = pane() && pane().querySelector("details[data-key=edit]");
    if (!details) return;
    details.open = true;
    var field = details.querySelector("textarea, input:not([type=hidden]), select");
    if (field) {
      field.focus();
      if (field.setSelectionRange && typeof field.value === "string") {
        field.setSelectionRange(field.value.length, field.value.length);
      }
    }
  }

  function reject() {
    if (loading()) return;
    var field = pane() && pane().querySelector("[data-key=reject]");
    if (field) field.focus();
  }

  // The selection lives here, not in the checkboxes: a live redraw of a row (or of the whole
  // list after a reconnect) must not silently unselect what the approver picked. Ids of rows
  // that left are kept: a re-sorted row is removed and inserted by separate live messages and
  // must come back selected; a decided approval's id never comes back.
  var selected = new Set();

  function remember(box) {
    var row = box.closest("[data-inbox-row]");
    if (!row) return;
    var id = row.getAttribute("data-inbox-row");
    if (box.checked) selected.add(id); else selected.delete(id);
    countSelected();
  }

  function toggleSelected() {
    var row = rowOf(currentId());
    var box = row && row.querySelector("[data-row-check]");
    if (box) { box.checked = !box.checked; remember(box); }
  }

  function help(show) {
    var box = document.getElementById("shortcuts-help");
    if (!box) return;
    box.hidden = show === undefined ? !box.hidden : !show;
  }

  document.addEventListener("keydown", function (event) {
    if (!document.getElementById("inbox-rows")) return;
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
    var target = event.target;
    var typing = target && target.closest && target.closest("input, textarea, select, [contenteditable]");
    if (event.key === "Escape") {
      if (typing) target.blur();
      help(false);
      return;
    }
    if (typing) return;
    var actions = { j: function () { move(1); }, k: function () { move(-1); }, a: approve,
                    e: edit, r: reject, x: toggleSelected, "?": function () { help(); } };
    var action = actions[event.key];
    if (action) {
      event.preventDefault();
      action();
    }
  });

  // --- bulk approve --------------------------------------------------------------------------
  function restoreSelected() {
    rows().forEach(function (row) {
      var box = row.querySelector("[data-row-check]");
      if (box) box.checked = selected.has(row.getAttribute("data-inbox-row"));
    });
    countSelected();
  }

  function countSelected() {
    var button = document.querySelector("[data-bulk-approve]");
    if (!button) return;
    var count = document.querySelectorAll("[data-row-check]:checked").length;
    button.disabled = count === 0;
    button.textContent = count ? "Approve selected (" + count + ")" : "Approve selected";
  }
  document.addEventListener("change", function (event) {
    if (event.target.matches && event.target.matches("[data-row-check]")) remember(event.target);
  });

  // --- filters apply on change ----------------------------------------------------------------
  document.addEventListener("change", function (event) {
    var form = event.target.closest && event.target.closest("form[data-autosubmit]");
    if (form && event.target.tagName === "SELECT") form.submit();
  });

  // --- live changes ---------------------------------------------------------------------------
  // When the open approval's row is redrawn or removed (someone decided it, it was reassigned
  // or escalated), ask the server for its current status: the decision controls are replaced
  // by who decided, or updated, without touching an edit in progress on a live item. The whole
  // list is redrawn instead of one row when its last row goes (or the socket re-synced): that
  // may be the open one too.
  document.addEventListener("htmx:oobBeforeSwap", function (event) {
    var target = event.detail && event.detail.target;
    var id = openId();
    if (!target || !id || (target.id !== "inbox-row-" + id && target.id !== "inbox-rows")) return;
    var url = pane().getAttribute("data-status-url");
    var shown = pane().querySelector(".decide-form [name=shown_hash]");
    if (url && shown) url += (url.indexOf("?") < 0 ? "?" : "&") + "shown=" + encodeURIComponent(shown.value);
    window.setTimeout(function () {
      if (openId() === id && window.htmx && url) {
        window.htmx.ajax("GET", url, { target: "#approval-" + id + "-status", swap: "outerHTML" });
      }
    }, 0);
  });

  // A status refresh answered after the pane moved on (the approver decided the item and the
  // next one opened) has nowhere to go: its strip and decision area belong to an item no longer
  // shown. It is dropped, not swapped out of band into nothing (htmx:oobErrorNoTarget).
  document.addEventListener("htmx:beforeOnLoad", function (event) {
    var target = event.detail && event.detail.target;
    if (target && target.classList && target.classList.contains("detail-status") && !target.isConnected) {
      event.preventDefault();
    }
  });

  document.addEventListener("htmx:afterSettle", function () { markOpen(); restoreSelected(); });
  document.addEventListener("htmx:oobAfterSwap", function () { markOpen(); restoreSelected(); });
  document.addEventListener("DOMContentLoaded", function () {
    var apply = document.querySelector("[data-autosubmit-button]");
    if (apply) apply.hidden = true;
    markOpen();
    document.querySelectorAll("[data-row-check]:checked").forEach(remember);
    countSelected();
  });
})();
