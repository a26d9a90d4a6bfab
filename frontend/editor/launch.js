// The launch checklist (Trigger → Action → Feedback → ROI, answered by the API's validator) and
// the document fields the Launch panel edits, as pure functions of the document's ``meta`` (all
// but its nodes and edges).

/** The field of the Launch panel (or of TriggerFields.jsx) where a checklist pointer is filled in. */
export const FIELD_FOR = {
  "/trigger": "launch-trigger", "/feedback/outcome": "launch-outcome", "/feedback/approval_node": "launch-outcome",
  "/roi": "roi-baseline", "/roi/baseline_minutes": "roi-baseline", "/roi/hourly_cost": "roi-hourly",
  "/roi/success_outcome": "roi-success", "/subject": "launch-subject",
  "/trigger/cron": "trigger-cron", "/trigger/timezone": "trigger-timezone", "/trigger/missed": "trigger-missed",
  "/trigger/input": "trigger-input", "/trigger/on": "trigger-on", "/trigger/flow": "trigger-flow",
  "/trigger/status": "trigger-status-succeeded", "/trigger/metric": "trigger-metric",
  "/trigger/threshold": "trigger-threshold", "/trigger/snapshot": "trigger-snapshot",
};

/** The element id to focus for checklist ``pointer`` (the trigger select when none is known). */
export function fieldFor(pointer) {
  return FIELD_FOR[pointer] || "launch-trigger";
}

/**
 * What the checklist says: the items still missing, and whether the flow may be published (the
 * checklist is in, complete, and answers the document now on the canvas).
 * @param {{key: string, ok: boolean, title: string}[] | null} launch
 * @param {boolean} answered
 */
export function launchState(launch, answered) {
  const missing = (launch || []).filter((item) => !item.ok);
  return { missing, ready: launch !== null && missing.length === 0 && answered };
}

/** ``meta`` with ``meta[key][field] = value``; an empty value removes the field, an empty block the key. */
export function withBlock(meta, key, field, value) {
  const block = { ...(meta[key] || {}) };
  if (value === "" || value === undefined) delete block[field];
  else block[field] = value;
  const next = { ...meta };
  if (Object.keys(block).length) next[key] = block;
  else delete next[key];
  return next;
}

/** ``meta`` with top-level ``key`` set to ``value``, or removed for ``""``/undefined. */
export function withKey(meta, key, value) {
  const next = { ...meta };
  if (value === "" || value === undefined) delete next[key];
  else next[key] = value;
  return next;
}

/** ``meta`` with the trigger's type changed (its other fields kept), or no trigger for "". */
export function withTriggerType(meta, type) {
  return withKey(meta, "trigger", type ? { ...(meta.trigger || {}), type } : undefined);
}

/** A number field's text as the document keeps it: "" (none), a number, or the text as typed. */
export function numberOrText(text) {
  if (text.trim() === "") return "";
  return Number.isFinite(Number(text)) ? Number(text) : text;
}
