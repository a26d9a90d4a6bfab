// The edge inspector: when the edge is taken (on success, or on error), its condition and label.

/** ``problems``: the validator's messages pinned to this edge; ``onChange(extra)``: its new fields. */
export function EdgePanel({ edge, readOnly, problems, onChange, onDelete }) {
  const extra = edge.data?.extra || {};
  const set = (k, v) => {
    const next = { ...extra };
    if (v) next[k] = v; else delete next[k];
    onChange(next);
  };
  return (
    <section className="node-panel" aria-labelledby="panel-heading">
      <h2 id="panel-heading">Edge <span className="mono muted">{edge.source} → {edge.target}</span></h2>
      {edge.className?.includes("edge-back") && <p className="muted small">A back-edge: it closes a loop.</p>}
      <div className="field">
        <label htmlFor="edge-on">Taken</label>
        <select id="edge-on" value={extra.on === "error" ? "error" : extra.on || ""} disabled={readOnly}
          onChange={(e) => set("on", e.target.value)}>
          <option value="">When {edge.source} succeeds</option>
          {extra.on === "success" && <option value="success">When {edge.source} succeeds (written “on: success”)</option>}
          <option value="error">On error: when {edge.source} fails for good</option>
        </select>
      </div>
      {problems.length > 0 && <ul className="callout callout-error small" role="alert">{problems.map((p, i) => <li key={i}>{p}</li>)}</ul>}
      <div className="field">
        <label htmlFor="edge-when">Condition (when)</label>
        <textarea id="edge-when" className="mono" rows={2} value={extra.when || ""} disabled={readOnly} onChange={(e) => set("when", e.target.value)} />
      </div>
      <div className="field">
        <label htmlFor="edge-label">Label</label>
        <input id="edge-label" type="text" value={extra.label || ""} disabled={readOnly} onChange={(e) => set("label", e.target.value)} />
      </div>
      {!readOnly && <button type="button" className="btn btn-small btn-danger" onClick={onDelete}>Delete edge</button>}
    </section>
  );
}
