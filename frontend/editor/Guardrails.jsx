// Policy attachment in the editor: the flow's own guardrails (the document's ``policies[]``,
// scope = this flow) and the stored policies that also apply (StoredPolicies.jsx). Edits go
// through ``onChange`` so the editor snapshots them for undo like any other document edit; the
// API's validator pins problems to ``/policies/<i>/...``, shown on the entry they concern.
import { useEffect, useState } from "react";
import { PolicyForm } from "./PolicyForm.jsx";
import { StoredPolicies } from "./StoredPolicies.jsx";
import { STARTERS, VERDICT_WORDS, problemsOf, uniqueSlug } from "./policies.js";

export { STARTERS } from "./policies.js";
export { NodePolicies, StoredPolicies } from "./StoredPolicies.jsx";

function PolicyEntry({ index, entry, spec, problems, isOpen, readOnly, onToggle, onRemove, onChange }) {
  const safe = entry && typeof entry === "object" ? entry : {};
  const named = safe.name || safe.slug;
  return (
    <li className={`policy-entry${problems.length ? " has-problems" : ""}`} data-policy={safe.slug || index}
      data-problems={problems.length}>
      <div className="policy-head">
        <strong>{named || `policy ${index + 1}`}</strong>
        <span className="policy-tags small">
          <span className="policy-kind">{safe.kind || "no kind"}</span>
          <span className={`verdict-tag verdict-${safe.verdict}`}>{VERDICT_WORDS[safe.verdict] || safe.verdict || "no verdict"}</span>
          {problems.length > 0 && <span className="policy-problem-count">{problems.length} problem{problems.length > 1 ? "s" : ""}</span>}
        </span>
        {safe.reason && <span className="policy-reason small">{safe.reason}</span>}
      </div>
      <div className="policy-actions">
        <button type="button" className="btn btn-small" aria-expanded={isOpen} aria-controls={`policy-${index}-form`} onClick={onToggle}>
          {isOpen ? "Close" : readOnly ? "Details" : "Edit"}<span className="visually-hidden"> {named}</span>
        </button>
        {!readOnly && (
          <button type="button" className="btn btn-small btn-danger" onClick={onRemove}>
            Remove<span className="visually-hidden"> {named}</span>
          </button>
        )}
      </div>
      {isOpen && (
        <div id={`policy-${index}-form`}>
          <PolicyForm index={index} entry={safe} spec={spec} problems={problems} readOnly={readOnly} onChange={onChange} />
        </div>
      )}
    </li>
  );
}

const STARTERS_BY_KIND = Object.entries(
  STARTERS.reduce((byKind, s) => ({ ...byKind, [s.entry.kind]: [...(byKind[s.entry.kind] || []), s] }), {}),
);

function AddPolicy({ onAdd }) {
  const [starter, setStarter] = useState(STARTERS[0].key);
  return (
    <div className="policy-add">
      <label htmlFor="policy-starter">Add a policy from</label>
      <select id="policy-starter" value={starter} onChange={(e) => setStarter(e.target.value)}>
        {STARTERS_BY_KIND.map(([kind, starters]) => (
          <optgroup key={kind} label={kind}>
            {starters.map((s) => <option key={s.key} value={s.key}>{s.label}</option>)}
          </optgroup>
        ))}
      </select>
      <button type="button" className="btn btn-small" onClick={() => onAdd(STARTERS.find((s) => s.key === starter))}>Add policy</button>
    </div>
  );
}

/**
 * ``policies``: the document's ``policies[]``; ``onChange(next, key)``: ``key`` names the entry
 * being typed in (one undo step per pause), null for a step of its own (add, remove);
 * ``focus``: ``{index, at}`` from the Problems list opens that entry and focuses its first
 * field in error.
 */
export function Guardrails({ api, slug, policies, problems, readOnly, onChange, focus }) {
  const list = Array.isArray(policies) ? policies : [];
  const [kinds, setKinds] = useState([]);
  const [open, setOpen] = useState(null); // the index of the entry being edited
  const [seenFocus, setSeenFocus] = useState(focus);
  if (focus !== seenFocus) {
    setSeenFocus(focus);
    if (focus) setOpen(focus.index);
  }
  useEffect(() => {
    api.policyKinds().then(setKinds).catch(() => setKinds([]));
  }, [api]);
  // Once the chosen entry's form is shown: bring it into view, at its first field in error.
  useEffect(() => {
    if (!focus) return undefined;
    const timer = setTimeout(() => {
      const el = document.getElementById(`policy-${focus.index}-form`);
      if (!el) return;
      el.scrollIntoView({ block: "nearest" });
      /** @type {HTMLElement | null} */ (el.querySelector("[aria-invalid='true']") || el.querySelector("input, select"))?.focus();
    }, 30);
    return () => clearTimeout(timer);
  }, [focus]);
  const specOf = Object.fromEntries(kinds.map((k) => [k.kind, k]));
  const top = problems.filter((p) => p.pointer === "/policies");

  const add = (chosen) => {
    if (!chosen) return;
    const entry = structuredClone(chosen.entry);
    entry.slug = uniqueSlug(entry.slug, new Set(list.map((p) => p?.slug)));
    onChange([...list, entry], null);
    setOpen(list.length);
  };
  const remove = (index) => {
    onChange(list.filter((_, i) => i !== index), null);
    setOpen(null);
  };

  return (
    <section className="editor-guardrails" aria-labelledby="guardrails-heading">
      <h2 id="guardrails-heading">Guardrails <span className="count" data-count={list.length}>{list.length}</span></h2>
      <p className="muted small">This flow&apos;s own policies (enforced on its steps and tool calls), and the stored ones that also apply.</p>
      {top.length > 0 && <ul className="callout callout-error small" role="alert">{top.map((p, i) => <li key={i}>{p.message}</li>)}</ul>}
      {list.length === 0 ? (
        <p className="muted small" data-guardrails-empty="true">
          {readOnly ? "This flow has no policies of its own." : "No policies of its own yet: add one from a starting point below."}
        </p>
      ) : (
        <ul className="policy-list">
          {list.map((entry, index) => (
            <PolicyEntry key={index} index={index} entry={entry} spec={specOf[entry?.kind]} readOnly={readOnly}
              problems={problemsOf(problems, index)} isOpen={open === index}
              onToggle={() => setOpen(open === index ? null : index)} onRemove={() => remove(index)}
              onChange={(next) => onChange(list.map((p, i) => (i === index ? next : p)), `policy:${index}`)} />
          ))}
        </ul>
      )}
      {!readOnly && <AddPolicy onAdd={add} />}
      <h3>Stored policies that also apply</h3>
      <StoredPolicies api={api} label="Stored policies that apply to this flow"
        filters={[{ scope: "global", enabled: "true" }, { scope: "flow", target: slug, enabled: "true" }]}
        empty="No enabled global policy, and none stored for this flow. Manage them on the Policies page." />
      <p className="small"><a href={`/policies/?scope=flow&target=${encodeURIComponent(slug)}`}>All stored policies of this flow</a></p>
    </section>
  );
}
