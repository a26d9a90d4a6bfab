// The controlroom.flow/v1 document <-> React Flow nodes and edges, and the pointer mapping
// that pins a validator problem to the node or edge it concerns.

export function docToGraph(doc) {
  const nodes = (doc.nodes || []).map((n, i) => toFlowNode(n, i));
  const edges = (doc.edges || []).map((e, i) => toFlowEdge(e, i));
  return { nodes, edges: markBackEdges(nodes, edges) };
}

export function toFlowNode(n, i = 0) {
  const { id, type, config, position, ...extra } = n;
  return {
    id,
    type: "step",
    position: position ? { x: position.x, y: position.y } : { x: 0, y: i * 120 },
    data: { kind: type, config: config || {}, extra },
  };
}

let edgeSeq = 0;
export function edgeId() {
  edgeSeq += 1;
  return `e${Date.now().toString(36)}${edgeSeq}`;
}

export function toFlowEdge(e) {
  const { from, to, ...extra } = e;
  return { id: edgeId(), source: from, target: to, data: { extra } };
}

export function graphToDoc(meta, nodes, edges) {
  return {
    ...meta,
    nodes: nodes.map((n) => {
      const out = { id: n.id, type: n.data.kind, ...n.data.extra };
      if (n.data.config && Object.keys(n.data.config).length) out.config = n.data.config;
      out.position = { x: Math.round(n.position.x), y: Math.round(n.position.y) };
      return out;
    }),
    edges: edges.map((e) => ({ from: e.source, to: e.target, ...(e.data?.extra || {}) })),
  };
}

// An edge that closes a cycle (found by depth-first search from the roots) is a back-edge:
// legal only through a loop node, and drawn dashed so a loop reads as a loop.
export function markBackEdges(nodes, edges) {
  const out = new Map();
  const incoming = new Map(nodes.map((n) => [n.id, 0]));
  for (const e of edges) {
    if (!out.has(e.source)) out.set(e.source, []);
    out.get(e.source).push(e);
    incoming.set(e.target, (incoming.get(e.target) || 0) + 1);
  }
  const state = new Map();
  const back = new Set();
  const visit = (id) => {
    state.set(id, 1);
    for (const e of out.get(id) || []) {
      const s = state.get(e.target);
      if (s === 1) back.add(e.id);
      else if (!s) visit(e.target);
    }
    state.set(id, 2);
  };
  const roots = nodes.filter((n) => !incoming.get(n.id)).map((n) => n.id);
  for (const id of [...roots, ...nodes.map((n) => n.id)]) if (!state.get(id)) visit(id);
  const kinds = new Map(nodes.map((n) => [n.id, n.data.kind]));
  return edges.map((e) => {
    const isBack = back.has(e.id);
    const when = e.data?.extra?.when;
    const label = e.data?.extra?.label || when || (isBack ? "loop" : undefined);
    const branch = kinds.get(e.source) === "router" || Boolean(when);
    const className = [isBack ? "edge-back" : "", branch ? "edge-branch" : ""].join(" ").trim();
    if (e.className === className && e.label === label && e.animated === isBack) return e;
    return { ...e, className, label, animated: isBack };
  });
}

// "/nodes/3/config/agent" -> {node: index 3}; "/edges/1/when" -> {edge: index 1}; else global.
export function pinProblems(problems, nodes, edges) {
  const byNode = {};
  const byEdge = {};
  const pinned = problems.map((p) => {
    const m = /^\/(nodes|edges)\/(\d+)(?:\/|$)/.exec(p.pointer || "");
    let target = null;
    if (m && m[1] === "nodes" && nodes[+m[2]]) target = { node: nodes[+m[2]].id };
    if (m && m[1] === "edges" && edges[+m[2]]) target = { edge: edges[+m[2]].id };
    if (target?.node) (byNode[target.node] ||= []).push(p.message);
    if (target?.edge) (byEdge[target.edge] ||= []).push(p.message);
    return { ...p, target };
  });
  return { pinned, byNode, byEdge };
}

export function freshId(kind, taken) {
  let i = 1;
  while (taken.has(`${kind}_${i}`)) i += 1;
  return `${kind}_${i}`;
}

// What changed between a saved version's document and the canvas: nodes added, removed, or
// changed (type or config; moving a node is not a change worth highlighting).
export function diffNodes(baseDoc, nodes) {
  const base = new Map((baseDoc?.nodes || []).map((n) => [n.id, n]));
  const here = new Set(nodes.map((n) => n.id));
  const status = {};
  for (const n of nodes) {
    const old = base.get(n.id);
    if (!old) status[n.id] = "added";
    else if (old.type !== n.data.kind || JSON.stringify(old.config || {}) !== JSON.stringify(n.data.config || {}))
      status[n.id] = "changed";
  }
  const removed = [...base.values()].filter((n) => !here.has(n.id));
  return { status, removed };
}
