// The validator's problems with the document on the canvas, each a way to what it is about: its
// node or edge selected, or its guardrail opened.

/**
 * ``validation``: useValidation; ``onSelect({node} | {edge})`` selects what a problem is pinned
 * to; ``onPolicy(index)`` opens guardrail ``index``.
 */
export function ProblemsPanel({ validation: { problems, checking, answered }, onSelect, onPolicy }) {
  const choose = (p) => {
    if (p.target?.node) onSelect({ node: p.target.node });
    if (p.target?.edge) onSelect({ edge: p.target.edge });
    const policy = /^\/policies\/(\d+)/.exec(p.pointer || "");
    if (policy) onPolicy(Number(policy[1]));
  };
  return (
    <section className="editor-problems" aria-labelledby="problems-heading">
      <h2 id="problems-heading">Problems {checking ? <span className="muted small">checking…</span> : (
        <span className="count" data-count={answered ? problems.pinned.length : undefined}>{problems.pinned.length}</span>
      )}</h2>
      {problems.pinned.length === 0 ? (
        answered
          ? <p className="muted small" data-valid="true">No problems: the validator accepts this flow.</p>
          : <p className="muted small">Not validated yet.</p>
      ) : (
        <ul className="problem-list">
          {problems.pinned.map((p, i) => (
            <li key={i}>
              <button type="button" className="linkish" onClick={() => choose(p)}>
                <span className="mono">{p.pointer || "/"}</span> {p.message}
              </button>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
