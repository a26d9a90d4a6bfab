// One guardrail's form: its name, slug, verdict and reason, and its kind's config as a form
// generated from the kind's JSON Schema (GET /api/policy-kinds ``config_schema``, by
// SchemaForm.jsx), each field with the validator's problems about it.
import { ObjectFields } from "./SchemaForm.jsx";
import { VERDICT_WORDS, entryProblems, fieldProblems } from "./policies.js";

function Problem({ id, messages }) {
  if (!messages.length) return null;
  return <span id={id} className="field-problem">{messages.join("; ")}</span>;
}

/**
 * ``index``: the entry's place in ``policies[]`` (its controls' ids are ``policy-<index>-...``);
 * ``spec``: its kind from GET /api/policy-kinds (undefined while loading, or for an unknown
 * kind); ``problems``: the entry's, from ``problemsOf`` (policies.js); ``onChange(entry)``.
 */
export function PolicyForm({ index, entry, spec, problems, readOnly, onChange }) {
  const base = `policy-${index}`;
  const set = (key, value) => {
    const next = { ...entry };
    if (value === undefined || value === "") delete next[key]; else next[key] = value;
    onChange(next);
  };
  const properties = spec?.config_schema?.properties || {};
  const split = entryProblems(problems, properties);
  const config = entry.config && typeof entry.config === "object" ? entry.config : {};
  const own = (field) => {
    const messages = fieldProblems(problems, `/${field}`);
    const id = `${base}-${field}`;
    return {
      id, messages, problemId: `${id}-problem`,
      a11y: { "aria-invalid": messages.length ? true : undefined, "aria-describedby": messages.length ? `${id}-problem` : undefined },
    };
  };
  const name = own("name");
  const slug = own("slug");
  const verdict = own("verdict");
  const reason = own("reason");
  return (
    <div className="policy-form">
      {split.other.length > 0 && (
        <ul className="callout callout-error small" role="alert">
          {split.other.map((p, i) => <li key={i}><span className="mono">{p.where}</span> {p.message}</li>)}
        </ul>
      )}
      <div className="field">
        <label htmlFor={name.id}>Name</label>
        <input id={name.id} type="text" value={entry.name ?? ""} disabled={readOnly} {...name.a11y}
          onChange={(e) => set("name", e.target.value)} />
        <Problem id={name.problemId} messages={name.messages} />
      </div>
      <div className="field">
        <label htmlFor={slug.id}>Slug <span className="field-note">(verdicts and the audit log name it)</span></label>
        <input id={slug.id} type="text" className="mono" value={entry.slug ?? ""} disabled={readOnly} {...slug.a11y}
          onChange={(e) => set("slug", e.target.value)} />
        <Problem id={slug.problemId} messages={slug.messages} />
      </div>
      <div className="field">
        <label htmlFor={verdict.id}>Verdict when it holds</label>
        <select id={verdict.id} value={entry.verdict ?? ""} disabled={readOnly} {...verdict.a11y}
          onChange={(e) => set("verdict", e.target.value)}>
          {!(spec?.verdicts || []).includes(entry.verdict) && <option value={entry.verdict ?? ""}>{entry.verdict || "—"}</option>}
          {(spec?.verdicts || []).map((v) => <option key={v} value={v}>{VERDICT_WORDS[v] || v}</option>)}
        </select>
        <Problem id={verdict.problemId} messages={verdict.messages} />
      </div>
      <div className="field">
        <label htmlFor={reason.id}>Reason <span className="field-note">(what people read in the inbox and the audit log)</span></label>
        <input id={reason.id} type="text" value={entry.reason ?? ""} disabled={readOnly} {...reason.a11y}
          onChange={(e) => set("reason", e.target.value)} />
        <Problem id={reason.problemId} messages={reason.messages} />
      </div>
      <fieldset className="field-group">
        <legend>Config of this {entry.kind} policy</legend>
        {spec ? (
          <ObjectFields schema={spec.config_schema} value={config} disabled={readOnly} problems={split.config}
            idPrefix={`${base}-config`} onChange={(next) => set("config", next)} />
        ) : <p className="muted small">Loading the policy kinds…</p>}
      </fieldset>
    </div>
  );
}
