// The changes between a saved version and the canvas, section by section (the API's diff), and
// a way to put that version back on the canvas.
import { describeChange, sectionTitle } from "./document.js";

/** ``compare``: useCompare (shown only while a version is chosen); ``onRestore()``. */
export function ComparePanel({ compare: { compare, diff, fresh }, readOnly, onRestore }) {
  if (!compare) return null;
  return (
    <section className="editor-diff" aria-labelledby="diff-heading" data-diff-fresh={fresh ? "true" : "false"}>
      <h2 id="diff-heading">Changes since version {compare.version}</h2>
      {!diff && <p className="muted small">Comparing…</p>}
      {diff && !diff.changed && <p className="small">No change.</p>}
      {diff?.sections.filter((sec) => sec.changed).map((sec) => (
        <section key={sec.section} className="diff-section" data-section={sec.section} aria-label={sectionTitle(sec.section)}>
          <h3>{sectionTitle(sec.section)}</h3>
          <ul className="diff-list small">
            {sec.changes.map((c, i) => <li key={i} data-diff={c.change}>{describeChange(sec.section, c)}</li>)}
          </ul>
        </section>
      ))}
      {diff?.changed && (
        <p className="muted small">Unchanged: {diff.sections.filter((sec) => !sec.changed).map((sec) => sectionTitle(sec.section)).join(", ") || "nothing"}.</p>
      )}
      {!readOnly && <button type="button" className="btn btn-small" onClick={onRestore}>Restore version {compare.version}</button>}
    </section>
  );
}
