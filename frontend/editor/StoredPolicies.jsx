// Stored policies (GET /api/policies) where they apply: those that also guard this flow (the
// Guardrails section) and, in agent and tool panels, those scoped to that agent or tool. Each
// links to its page, where it is managed.
import { useEffect, useState } from "react";
import { VERDICT_WORDS } from "./policies.js";

/**
 * The stored policies matching any of ``filters`` (each a query of the API's list: scope,
 * target, enabled...), once each, read a moment after the filters settle.
 * @param {{api: any, filters: Record<string, string>[], empty: string, label: string}} props
 */
export function StoredPolicies({ api, filters, empty, label }) {
  const [answer, setAnswer] = useState(null); // {key, items} or {key, error}
  const key = JSON.stringify(filters);
  useEffect(() => {
    let live = true;
    const timer = setTimeout(() => {
      Promise.all(JSON.parse(key).map((f) => api.policies(f)))
        .then((pages) => {
          if (!live) return;
          const seen = new Set();
          const items = pages.flatMap((p) => p.items || []).filter((p) => !seen.has(p.slug) && seen.add(p.slug));
          setAnswer({ key, items });
        })
        .catch((e) => live && setAnswer({ key, error: `Could not load stored policies: ${e.message}` }));
    }, 250);
    return () => { live = false; clearTimeout(timer); };
  }, [api, key]);
  if (answer?.error) return <p className="callout callout-error small">{answer.error}</p>;
  if (!answer) return <p className="muted small">Loading stored policies…</p>;
  if (!answer.items.length) return <p className="muted small" data-stored-empty="true">{empty}</p>;
  return (
    <ul className="stored-policies" aria-label={label}>
      {answer.items.map((p) => (
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

/** The stored policies scoped to an agent or a tool node's agent/tool (shown in its panel). */
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
