// Policy attachment in the editor: the flow's own guardrails (the document's ``policies[]``,
// scope = this flow), the stored policies that also apply, and, in agent and tool panels, the
// stored policies scoped to that agent or tool. Edits go through ``onChange`` so the editor
// snapshots them for undo like any other document edit; the API's validator pins problems to
// ``/policies/<i>/...``, shown on the entry they concern.
import { useEffect, useState } from "react";

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

const VERDICT_WORDS = { allow: "allow (record only)", require_approval: "require approval", block: "block", redact: "redact" };

function uniqueSlug(base, taken) {
  if (!taken.has(base)) return base;
  let i = 2;
  while (taken.has(`${base}-${i}`)) i += 1;
  return `${base}-${i}`;
}

function problemsOf(problems, index) {
  const base = `/policies/${index}`;
  return problems.filter((p) => p.pointer === base || (p.pointer || "").startsWith(`${base}/`))
    .map((p) => ({ ...p, where: (p.pointer || "").slice(base.length) || "/" }));
}

// A list of names typed as "a, b": kept as typed while the parsed list is the same.
function ListInput({ id, value, onChange, disabled, invalid }) {
  const parse = (text) => text.split(",").map((s) => s.trim()).filter(Boolean);
  const [text, setText] = useState((value || []).join(", "));
  useEffect(() => {
    if (JSON.stringify(parse(text)) !== JSON.stringify(value || [])) setText((value || []).join(", "));
  }, [JSON.stringify(value)]);
  return (
    <input id={id} type="text" value={text} disabled={disabled} aria-invalid={invalid || undefined}
      onChange={(e) => {
        setText(e.target.value);
        const items = parse(e.target.value);
        onChange(items.length ? items : undefined);
      }} />
  );
}

// Anything the form has no control for (patterns): JSON, sent on when it parses.
function JsonInput({ id, value, onChange, disabled, invalid }) {
  const [text, setText] = useState(value === undefined ? "" : JSON.stringify(value, null, 2));
  const [bad, setBad] = useState(false);
  useEffect(() => {
    let same = false;
    try { same = JSON.stringify(JSON.parse(text || "null")) === JSON.stringify(value ?? null); } catch { same = false; }
    if (!same && !bad) setText(value === undefined ? "" : JSON.stringify(value, null, 2));
  }, [JSON.stringify(value)]);
  return (
    <>
      <textarea id={id} className="mono" rows={3} value={text} disabled={disabled} aria-invalid={invalid || bad || undefined}
        onChange={(e) => {
          setText(e.target.value);
          if (!e.target.value.trim()) { setBad(false); onChange(undefined); return; }
          try { onChange(JSON.parse(e.target.value)); setBad(false); } catch { setBad(true); }
        }} />
      {bad && <span className="field-note">not valid JSON yet</span>}
    </>
  );
}

// One config field, its control chosen from the kind's JSON Schema.
function ConfigField({ id, name, schema, value, onChange, disabled, problems }) {
  const title = name.replace(/_/g, " ");
  const invalid = problems.length > 0;
  const note = schema.description;
  const errorId = invalid ? `${id}-problem` : undefined;
  const noteId = note ? `${id}-note` : undefined;
  const describedBy = [noteId, errorId].filter(Boolean).join(" ") || undefined;
  const set = (v) => onChange(v === "" ? undefined : v);
  const items = schema.items || {};
  if (schema.type === "array" && items.enum) {
    const chosen = new Set(value || []);
    return (
      <fieldset className="field-group" aria-describedby={describedBy}>
        <legend>{title}</legend>
        <div className="policy-choices">
          {items.enum.map((option) => (
            <label key={option} className="policy-choice">
              <input type="checkbox" checked={chosen.has(option)} disabled={disabled}
                onChange={(e) => {
                  const next = items.enum.filter((o) => (o === option ? e.target.checked : chosen.has(o)));
                  onChange(next.length ? next : undefined);
                }} />
              {" "}{option}
            </label>
          ))}
        </div>
        {invalid && <span id={errorId} className="field-problem">{problems.join("; ")}</span>}
      </fieldset>
    );
  }
  if (schema.type === "boolean") {
    return (
      <div className="field field-check">
        <input id={id} type="checkbox" checked={Boolean(value)} disabled={disabled} aria-describedby={describedBy}
          onChange={(e) => onChange(e.target.checked)} />
        <label htmlFor={id}>{title}</label>
        {invalid && <span id={errorId} className="field-problem">{problems.join("; ")}</span>}
      </div>
    );
  }
  let control;
  if (schema.enum) {
    control = (
      <select id={id} value={value ?? ""} disabled={disabled} aria-invalid={invalid || undefined} aria-describedby={describedBy}
        onChange={(e) => set(e.target.value)}>
        <option value="">—</option>
        {schema.enum.map((v) => <option key={v} value={v}>{v}</option>)}
      </select>
    );
  } else if (schema.type === "integer" || schema.type === "number") {
    control = (
      <input id={id} type="number" value={value ?? ""} disabled={disabled} aria-invalid={invalid || undefined}
        aria-describedby={describedBy} step={schema.type === "integer" ? 1 : "any"} min={schema.minimum}
        onChange={(e) => set(e.target.value === "" ? undefined : Number(e.target.value))} />
    );
  } else if (schema.type === "array" && items.type === "string") {
    control = <ListInput id={id} value={value} onChange={onChange} disabled={disabled} invalid={invalid} />;
  } else if (schema.type === "string" || (Array.isArray(schema.type) && schema.type.includes("string"))) {
    control = (
      <input id={id} type="text" className={name === "when" ? "mono" : undefined} value={value ?? ""} disabled={disabled}
        aria-invalid={invalid || undefined} aria-describedby={describedBy}
        onChange={(e) => set(e.target.value)} />
    );
  } else {
    control = <JsonInput id={id} value={value} onChange={onChange} disabled={disabled} invalid={invalid} />;
  }
  return (
    <div className="field">
      <label htmlFor={id}>{title}{schema.type === "array" && items.type === "string" && <span className="field-format"> comma-separated</span>}</label>
      {control}
      {note && <span id={noteId} className="field-note">{note.replace(/``/g, "")}</span>}
      {invalid && <span id={errorId} className="field-problem">{problems.join("; ")}</span>}
    </div>
  );
}

function PolicyForm({ index, entry, spec, problems, readOnly, onChange }) {
  const base = `policy-${index}`;
  const set = (key, value) => {
    const next = { ...entry };
    if (value === undefined || value === "") delete next[key]; else next[key] = value;
    onChange(next);
  };
  const fieldProblems = (where) => problems.filter((p) => p.where === where || p.where.startsWith(`${where}/`)).map((p) => p.message);
  const props = spec?.config_schema?.properties || {};
  const required = new Set(spec?.config_schema?.required || []);
  const config = entry.config && typeof entry.config === "object" ? entry.config : {};
  const known = new Set(["/name", "/slug", "/verdict", "/reason", ...Object.keys(props).map((k) => `/config/${k}`)]);
  const other = problems.filter((p) => ![...known].some((k) => p.where === k || p.where.startsWith(`${k}/`)));
  return (
    <div className="policy-form">
      {other.length > 0 && (
        <ul className="callout callout-error small" role="alert">
          {other.map((p, i) => <li key={i}><span className="mono">{p.where}</span> {p.message}</li>)}
        </ul>
      )}
      <div className="field">
        <label htmlFor={`${base}-name`}>Name</label>
        <input id={`${base}-name`} type="text" value={entry.name ?? ""} disabled={readOnly} onChange={(e) => set("name", e.target.value)} />
      </div>
      <div className="field">
        <label htmlFor={`${base}-slug`}>Slug <span className="field-note">(verdicts and the audit log name it)</span></label>
        <input id={`${base}-slug`} type="text" className="mono" value={entry.slug ?? ""} disabled={readOnly}
          aria-invalid={fieldProblems("/slug").length ? "true" : undefined} onChange={(e) => set("slug", e.target.value)} />
        {fieldProblems("/slug").length > 0 && <span className="field-problem">{fieldProblems("/slug").join("; ")}</span>}
      </div>
      <div className="field">
        <label htmlFor={`${base}-verdict`}>Verdict when it holds</label>
        <select id={`${base}-verdict`} value={entry.verdict ?? ""} disabled={readOnly}
          aria-invalid={fieldProblems("/verdict").length ? "true" : undefined} onChange={(e) => set("verdict", e.target.value)}>
          {!(spec?.verdicts || []).includes(entry.verdict) && <option value={entry.verdict ?? ""}>{entry.verdict || "—"}</option>}
          {(spec?.verdicts || []).map((v) => <option key={v} value={v}>{VERDICT_WORDS[v] || v}</option>)}
        </select>
        {fieldProblems("/verdict").length > 0 && <span className="field-problem">{fieldProblems("/verdict").join("; ")}</span>}
      </div>
      <div className="field">
        <label htmlFor={`${base}-reason`}>Reason <span className="field-note">(what people read in the inbox and the audit log)</span></label>
        <input id={`${base}-reason`} type="text" value={entry.reason ?? ""} disabled={readOnly} onChange={(e) => set("reason", e.target.value)} />
      </div>
      <fieldset className="field-group">
        <legend>Config of this {entry.kind} policy</legend>
        {spec ? Object.keys(props).sort((a, b) => (required.has(b) ? 1 : 0) - (required.has(a) ? 1 : 0)).map((name) => (
          <ConfigField key={name} id={`${base}-config-${name}`} name={name + (required.has(name) ? " *" : "")} schema={props[name]}
            value={config[name]} disabled={readOnly} problems={fieldProblems(`/config/${name}`)}
            onChange={(v) => {
              const next = { ...config };
              if (v === undefined) delete next[name]; else next[name] = v;
              set("config", next);
            }} />
        )) : <p className="muted small">Loading the policy kinds…</p>}
      </fieldset>
    </div>
  );
}

// Stored policies (``/api/policies``) of one scope and target, each linking to its page.
export function StoredPolicies({ api, filters, empty, label }) {
  const [items, setItems] = useState(null);
  const [error, setError] = useState("");
  const key = JSON.stringify(filters);
  useEffect(() => {
    let live = true;
    const timer = setTimeout(() => {
      Promise.all(filters.map((f) => api.policies(f)))
        .then((pages) => {
          if (!live) return;
          const seen = new Set();
          const all = pages.flatMap((p) => p.items || []).filter((p) => !seen.has(p.slug) && seen.add(p.slug));
          setItems(all);
          setError("");
        })
        .catch((e) => live && setError(`Could not load stored policies: ${e.message}`));
    }, 250);
    return () => { live = false; clearTimeout(timer); };
  }, [api, key]);
  if (error) return <p className="callout callout-error small">{error}</p>;
  if (items === null) return <p className="muted small">Loading stored policies…</p>;
  if (!items.length) return <p className="muted small" data-stored-empty="true">{empty}</p>;
  return (
    <ul className="stored-policies" aria-label={label}>
      {items.map((p) => (
        <li key={p.slug} data-stored-policy={p.slug} data-enabled={p.enabled ? "true" : "false"}>
          <a href={`/policies/${p.slug}/`}>{p.name}</a>
          <span className="policy-tags small">
            <span className="policy-kind">{p.kind}</span>
            <span className={`verdict-tag verdict-${p.verdict}`}>{VERDICT_WORDS[p.verdict] || p.verdict}</span>
            <span className="muted">{p.scope === "global" ? "global" : `${p.scope} ${p.target}`}</span>
            {!p.enabled && <span className="policy-off">disabled</span>}
          </span>
          {p.reason && <span className="policy-reason small">{p.reason}</span>}
        </li>
      ))}
    </ul>
  );
}

// The stored policies scoped to an agent or a tool node's agent/tool (shown in its panel).
export function NodePolicies({ api, kind, config }) {
  const scope = kind === "agent" ? "agent" : kind === "tool" ? "tool" : null;
  const target = scope ? config?.[scope] : null;
  if (!scope) return null;
  return (
    <section className="node-policies" aria-labelledby="node-policies-heading">
      <h3 id="node-policies-heading">Stored policies for this {scope}</h3>
      {!target || typeof target !== "string" ? (
        <p className="muted small">Choose the {scope} to see the policies that guard it.</p>
      ) : (
        <StoredPolicies api={api} filters={[{ scope, target }]} label={`Policies for ${scope} ${target}`}
          empty={`No stored policy is scoped to ${scope} ${target}. Add one on the Policies page.`} />
      )}
    </section>
  );
}

export function Guardrails({ api, slug, policies, problems, readOnly, onChange, focus }) {
  const list = Array.isArray(policies) ? policies : [];
  const [kinds, setKinds] = useState([]);
  const [open, setOpen] = useState(null); // the index of the entry being edited
  const [starter, setStarter] = useState(STARTERS[0].key);
  useEffect(() => {
    api.policyKinds().then(setKinds).catch(() => setKinds([]));
  }, [api]);
  // A problem chosen in the Problems list opens its guardrail.
  useEffect(() => {
    if (!focus) return;
    setOpen(focus.index);
    setTimeout(() => {
      const el = document.getElementById(`policy-${focus.index}-form`);
      if (el) { el.scrollIntoView({ block: "nearest" }); (el.querySelector("[aria-invalid='true']") || el.querySelector("input, select"))?.focus(); }
    }, 30);
  }, [focus]);
  const specOf = Object.fromEntries(kinds.map((k) => [k.kind, k]));
  const top = problems.filter((p) => p.pointer === "/policies");

  const add = () => {
    const chosen = STARTERS.find((s) => s.key === starter);
    if (!chosen) return;
    const taken = new Set(list.map((p) => p?.slug));
    const entry = structuredClone(chosen.entry);
    entry.slug = uniqueSlug(entry.slug, taken);
    onChange([...list, entry], null);
    setOpen(list.length);
  };
  const remove = (index) => {
    onChange(list.filter((_, i) => i !== index), null);
    setOpen(null);
  };
  const byKind = {};
  for (const s of STARTERS) (byKind[s.entry.kind] ||= []).push(s);

  return (
    <section className="editor-guardrails" aria-labelledby="guardrails-heading">
      <h2 id="guardrails-heading">Guardrails <span className="count" data-count={list.length}>{list.length}</span></h2>
      <p className="muted small">This flow's own policies (enforced on its steps and tool calls), and the stored ones that also apply.</p>
      {top.length > 0 && <ul className="callout callout-error small" role="alert">{top.map((p, i) => <li key={i}>{p.message}</li>)}</ul>}
      {list.length === 0 ? (
        <p className="muted small" data-guardrails-empty="true">
          {readOnly ? "This flow has no policies of its own." : "No policies of its own yet: add one from a starting point below."}
        </p>
      ) : (
        <ul className="policy-list">
          {list.map((entry, index) => {
            const mine = problemsOf(problems, index);
            const isOpen = open === index;
            const safe = entry && typeof entry === "object" ? entry : {};
            return (
              <li key={index} className={`policy-entry${mine.length ? " has-problems" : ""}`} data-policy={safe.slug || index}
                data-problems={mine.length}>
                <div className="policy-head">
                  <strong>{safe.name || safe.slug || `policy ${index + 1}`}</strong>
                  <span className="policy-tags small">
                    <span className="policy-kind">{safe.kind || "no kind"}</span>
                    <span className={`verdict-tag verdict-${safe.verdict}`}>{VERDICT_WORDS[safe.verdict] || safe.verdict || "no verdict"}</span>
                    {mine.length > 0 && <span className="policy-problem-count">{mine.length} problem{mine.length > 1 ? "s" : ""}</span>}
                  </span>
                  {safe.reason && <span className="policy-reason small">{safe.reason}</span>}
                </div>
                <div className="policy-actions">
                  <button type="button" className="btn btn-small" aria-expanded={isOpen} aria-controls={`policy-${index}-form`}
                    onClick={() => setOpen(isOpen ? null : index)}>
                    {isOpen ? "Close" : readOnly ? "Details" : "Edit"}<span className="visually-hidden"> {safe.name || safe.slug}</span>
                  </button>
                  {!readOnly && (
                    <button type="button" className="btn btn-small btn-danger" onClick={() => remove(index)}>
                      Remove<span className="visually-hidden"> {safe.name || safe.slug}</span>
                    </button>
                  )}
                </div>
                {isOpen && (
                  <div id={`policy-${index}-form`}>
                    <PolicyForm index={index} entry={safe} spec={specOf[safe.kind]} problems={mine} readOnly={readOnly}
                      onChange={(next) => onChange(list.map((p, i) => (i === index ? next : p)), `policy:${index}`)} />
                  </div>
                )}
              </li>
            );
          })}
        </ul>
      )}
      {!readOnly && (
        <div className="policy-add">
          <label htmlFor="policy-starter">Add a policy from</label>
          <select id="policy-starter" value={starter} onChange={(e) => setStarter(e.target.value)}>
            {Object.entries(byKind).map(([kind, starters]) => (
              <optgroup key={kind} label={kind}>
                {starters.map((s) => <option key={s.key} value={s.key}>{s.label}</option>)}
              </optgroup>
            ))}
          </select>
          <button type="button" className="btn btn-small" onClick={add}>Add policy</button>
        </div>
      )}
      <h3>Stored policies that also apply</h3>
      <StoredPolicies api={api} label="Stored policies that apply to this flow"
        filters={[{ scope: "global", enabled: "true" }, { scope: "flow", target: slug, enabled: "true" }]}
        empty="No enabled global policy, and none stored for this flow. Manage them on the Policies page." />
      <p className="small"><a href={`/policies/?scope=flow&target=${encodeURIComponent(slug)}`}>All stored policies of this flow</a></p>
    </section>
  );
}
