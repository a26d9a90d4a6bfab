// Auto layout of the canvas (the toolbar's "Auto layout"): dagre, left to right.
import dagre from "@dagrejs/dagre";

export const NODE_WIDTH = 180;
export const NODE_HEIGHT = 64;

/**
 * ``nodes`` with new positions from a left-to-right layered layout of ``edges``; back-edges
 * (class ``edge-back``, they close loops) do not count, so a loop does not fold the graph.
 * @template {{id: string, position: {x: number, y: number}}} N
 * @param {N[]} nodes
 * @param {{source: string, target: string, className?: string}[]} edges
 * @returns {N[]}
 */
export function autoLayout(nodes, edges) {
  const g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir: "LR", nodesep: 30, ranksep: 70 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const n of nodes) g.setNode(n.id, { width: NODE_WIDTH, height: NODE_HEIGHT });
  for (const e of edges) if (!e.className?.includes("edge-back")) g.setEdge(e.source, e.target);
  dagre.layout(g);
  return nodes.map((n) => {
    const p = g.node(n.id);
    return { ...n, position: { x: p.x - NODE_WIDTH / 2, y: p.y - NODE_HEIGHT / 2 } };
  });
}
