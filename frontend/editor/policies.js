// The flow's own guardrails (the document's ``policies[]``) as data: the starting points the
// editor offers, the words for verdicts, and the validator's problems of one entry.

// Useful starting points, at least one per kind. ``slug`` is made unique when added.
export const STARTERS = [
  {
    key: "approve-outbound", label: "Approve every outbound message",
    entry: { slug: "approve-outbound", name: "Approve outbound messages", kind: "approval", verdict: "require_approval",
      reason: "A person approves each message before it leaves.", config: { categories: ["outbound_message"] } },
  },
  {
    key: "approve-large-payments", label: "Approve payments above 500",
    entry: { slug: "approve-large-payments", name: "Approve large payments", kind: "approval", verdict: "require_approval",
      reason: "Payments above 500 need a person's approval.", config: { categories: ["payment"], when: "args.amount > 500" } },
  },
  {
    key: "one-message-per-day", label: "At most 1 outbound message per subject per 24 h",
    entry: { slug: "one-message-per-day", name: "One message per contact a day", kind: "rate_limit", verdict: "block",
      reason: "At most one outbound message per contact in 24 hours.",
      config: { categories: ["outbound_message"], max: 1, window: "24h" } },
  },
  {
    key: "quiet-nights", label: "No messages at night (20:00–08:00)",
    entry: { slug: "quiet-nights", name: "Quiet nights", kind: "quiet_hours", verdict: "require_approval",
      reason: "No messages between 20:00 and 08:00 local time.",
      config: { categories: ["outbound_message"], time_zone: "Europe/Berlin", start: "20:00", end: "08:00" } },
  },
  {
    key: "run-budget", label: "Money budget per run (0.50)",
    entry: { slug: "run-budget", name: "Budget per run", kind: "budget", verdict: "block",
      reason: "One run may spend at most 0.50.", config: { per: "run", max_cost: "0.50" } },
  },
  {
    key: "daily-budget", label: "Money budget per flow and day (20.00)",
    entry: { slug: "daily-budget", name: "Daily budget", kind: "budget", verdict: "require_approval",
      reason: "The flow's spend today would pass 20.00.", config: { per: "flow_day", max_cost: "20.00" } },
  },
  {
    key: "runaway-limits", label: "Stop runaway runs (steps, loops, time)",
    entry: { slug: "runaway-limits", name: "Runaway limits", kind: "limits", verdict: "block",
      reason: "The run went past its step, loop or time limit.",
      config: { max_steps: 200, max_loop_iterations: 10, max_run_seconds: 900 } },
  },
  {
    key: "no-payments", label: "Agents may not pay",
    entry: { slug: "no-payments", name: "No payment tools", kind: "tool_scope", verdict: "block",
      reason: "This flow's agents may not use payment tools.", config: { deny: ["pay_*"] } },
  },
  {
    key: "redact-pii", label: "Redact personal data before external models",
    entry: { slug: "redact-pii", name: "Redact personal data", kind: "pii", verdict: "redact",
      reason: "Personal data stays here; the model sees placeholders.",
      config: { detect: ["email", "phone", "card", "iban"], restore: true } },
  },
  {
    key: "content-rule", label: "Block promises of guaranteed returns",
    entry: { slug: "no-guarantees", name: "No guarantees", kind: "content", verdict: "block",
      reason: "Answers must not promise guaranteed returns.", config: { phrases: ["guaranteed returns"] } },
  },
];

export const VERDICT_WORDS = { allow: "allow (record only)", require_approval: "require approval", block: "block", redact: "redact" };

/** ``base``, or ``base-2``, ``base-3``... : the first that is not ``taken``. */
export function uniqueSlug(base, taken) {
  if (!taken.has(base)) return base;
  let i = 2;
  while (taken.has(`${base}-${i}`)) i += 1;
  return `${base}-${i}`;
}

/**
 * The problems of entry ``index``: those pinned at ``/policies/<index>`` or below it, each with
 * ``where``, its pointer inside the entry ("/config/window"; "/" for the entry itself).
 */
export function problemsOf(problems, index) {
  const base = `/policies/${index}`;
  return problems.filter((p) => p.pointer === base || (p.pointer || "").startsWith(`${base}/`))
    .map((p) => ({ ...p, where: (p.pointer || "").slice(base.length) || "/" }));
}

const OWN_FIELDS = ["/name", "/slug", "/verdict", "/reason"];

/**
 * An entry's problems split for its form: ``config``, those about one field of the kind's config
 * schema (``{path, message}`` as SchemaForm.jsx takes them, path inside the config); ``other``,
 * the rest that no field of the form shows (the whole config, an unknown key...), with
 * ``/name``, ``/slug``, ``/verdict`` and ``/reason`` left to their own fields.
 * @param {{where: string, message: string}[]} problems from ``problemsOf``
 * @param {Record<string, unknown>} properties the kind's config schema properties
 */
export function entryProblems(problems, properties) {
  const config = [];
  const other = [];
  for (const p of problems) {
    const path = p.where.startsWith("/config/") ? p.where.slice("/config/".length).split("/").map(unescapePointer) : null;
    if (path && path[0] in properties) config.push({ path, message: p.message });
    else if (!OWN_FIELDS.some((f) => p.where === f || p.where.startsWith(`${f}/`))) other.push(p);
  }
  return { config, other };
}

function unescapePointer(segment) {
  return segment.replace(/~1/g, "/").replace(/~0/g, "~");
}

/** The messages about the entry's own field ``where`` ("/slug") or below it. */
export function fieldProblems(problems, where) {
  return problems.filter((p) => p.where === where || p.where.startsWith(`${where}/`)).map((p) => p.message);
}
