// The node types to add: dragged onto the canvas, or pressed to add at its centre.
import { startPaletteDrag } from "./useGraphEditing.js";

/** ``types``: GET /api/node-types; ``onAdd(kind)`` adds one at the canvas's centre. */
export function Palette({ types, readOnly, onAdd }) {
  return (
    <aside className="editor-palette" aria-label="Node types">
      <h2>Nodes</h2>
      {readOnly && <p className="muted small">Read-only: your role may view this flow.</p>}
      <ul>
        {types.map((t) => (
          <li key={t.type}>
            <button type="button" className={`palette-item kind-${t.type}`} draggable={!readOnly} disabled={readOnly}
              data-node-type={t.type} title={t.description} onDragStart={(e) => startPaletteDrag(e, t.type)}
              onClick={() => onAdd(t.type)}>
              {t.title}
            </button>
          </li>
        ))}
      </ul>
      <p className="muted small">
        Drag onto the canvas, or press to add. Connect a node&apos;s right handle to another&apos;s left one; its red bottom
        handle makes an error edge (taken when the node fails).
      </p>
    </aside>
  );
}
