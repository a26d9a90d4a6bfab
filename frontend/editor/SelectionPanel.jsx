// The inspector's top: the one node selected (NodePanel.jsx, previewing templates against the
// sample input), the one edge selected (EdgePanel.jsx), or a word on what to select.
import { EdgePanel } from "./EdgePanel.jsx";
import { NodePanel } from "./NodePanel.jsx";
import { PreviewContext } from "./SchemaForm.jsx";
import { withOnError } from "./document.js";

/**
 * ``graph``: useGraphEditing; ``catalog``: useCatalog; ``problems``: the validator's pinned
 * problems; ``steps``: the test run's steps by node; ``preview``: PreviewContext's value.
 */
export function SelectionPanel({ api, graph, catalog, problems, steps, preview, readOnly }) {
  const { selectedNodes, selectedEdges } = graph;
  const one = selectedNodes.length === 1 ? selectedNodes[0] : null;
  const edge = !one && selectedEdges.length === 1 ? selectedEdges[0] : null;
  if (one) {
    return (
      <PreviewContext.Provider value={preview}>
        <NodePanel key={one.id} node={one} spec={catalog.typeByName[one.data.kind]} readOnly={readOnly}
          agents={catalog.agents} tools={catalog.tools || []} toolsLoaded={catalog.tools !== null} api={api}
          problems={problems.pinned.filter((p) => p.target?.node === one.id)}
          onRename={(id) => graph.renameNode(one.id, id)}
          onConfig={(config) => graph.updateNode(one.id, (n) => ({ ...n, data: { ...n.data, config } }))}
          onOnError={(value) => graph.updateNode(one.id, (n) => ({ ...n, data: { ...n.data, extra: withOnError(n.data.extra, value) } }))}
          onDelete={graph.deleteSelected} step={steps[one.id]} />
      </PreviewContext.Provider>
    );
  }
  if (edge) {
    return (
      <EdgePanel key={edge.id} edge={edge} readOnly={readOnly} problems={problems.byEdge[edge.id] || []}
        onChange={(extra) => graph.changeEdge(edge.id, extra)} onDelete={graph.deleteSelected} />
    );
  }
  return (
    <p className="muted small">
      {selectedNodes.length > 1 ? `${selectedNodes.length} nodes selected — Ctrl+C to copy, Delete to remove.` : "Select a node or an edge to edit it."}
    </p>
  );
}
