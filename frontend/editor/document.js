// The controlroom.flow/v1 document <-> React Flow nodes and edges, and the pointer mapping
// that pins a validator problem to the node or edge it concerns.

export function docToGraph(doc) {
  const nodes = (doc.nodes || []).map((n, i) => toFlowNode(n, i));
  const edges = (doc.edges || []).map((e) => toFlowEdge(e));
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

// An edge with ``"on": "error"`` leaves its node's error handle (the second source handle):
// it is taken only when that node fails for good. Any other edge leaves the normal handle.
export const ERROR_HANDLE = "error";
export function isErrorEdge(e) {
  return e.data?.extra?.on === "error";
}

export function toFlowEdge(e) {
  const { from, to, ...extra } = e;
  return {
    id: edgeId(), source: from, target: to, data: { extra },
    sourceHandle: extra.on === "error" ? ERROR_HANDLE : null,
  };
}

// A connection dragged from a node's error handle becomes an error edge.
export function connectionToEdge(conn) {
  const extra = conn.sourceHandle === ERROR_HANDLE ? { on: "error" } : {};
  return { ...conn, id: edgeId(), data: { extra } };
}

// A node's ``on_error`` (beside ``config``, not in it): "fail" (the default, written as no
// key) or "continue" (the step succeeds with ``{"error": {...}}`` as its output).
export function withOnError(extra, value) {
  const next = { ...extra };
  if (value === "continue") next.on_error = "continue";
  else delete next.on_error;
  return next;
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

/**
 * The document's two keys, from one serialisation per change: ``content``, the document as JSON
 * without node positions (what the validator and a version diff answer: moving a node changes
 * neither), and ``layout``, the nodes' positions. The document differs from a saved one when
 * either key does.
 * @param {{nodes?: {id: string, position?: {x: number, y: number}}[]}} doc
 */
export function documentKeys(doc) {
  const nodes = doc.nodes || [];
  return {
    content: JSON.stringify({ ...doc, nodes: nodes.map(({ position: _position, ...n }) => n) }),
    layout: nodes.map((n) => `${n.id}\u0000${n.position?.x ?? ""}\u0000${n.position?.y ?? ""}`).join("\u0001"),
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
    const onError = isErrorEdge(e);
    const when = e.data?.extra?.when;
    const label = e.data?.extra?.label || (onError ? "on error" : "") || when || (isBack ? "loop" : undefined);
    const branch = kinds.get(e.source) === "router" || Boolean(when);
    const className = [isBack ? "edge-back" : "", branch ? "edge-branch" : "", onError ? "edge-error" : ""]
      .filter(Boolean).join(" ");
    const sourceHandle = onError ? ERROR_HANDLE : null;
    if (e.className === className && e.label === label && e.animated === isBack && (e.sourceHandle ?? null) === sourceHandle) return e;
    return { ...e, className, label, animated: isBack, sourceHandle };
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

// The canvas marks of a version diff (flows.versions.document_diff, answered by the API):
// nodes added or changed on the canvas, and the base version's nodes that are gone (drawn as
// ghosts where they stood).
export function diffMarks(diff, baseDoc) {
  const nodes = diff?.sections?.find((s) => s.section === "nodes");
  const status = {};
  const gone = new Set();
  for (const c of nodes?.changes || []) {
    if (c.change === "removed") gone.add(c.item);
    else status[c.item] = c.change;
  }
  const removed = (baseDoc?.nodes || []).filter((n) => gone.has(n.id));
  return { status, removed };
}

const SECTION_TITLES = {
  name: "Name", description: "Description", subject: "Subject", trigger: "Trigger", agents: "Agents",
  nodes: "Nodes", edges: "Edges", policies: "Guardrails", feedback: "Feedback", roi: "ROI",
  input_schema: "Input schema", sample_input: "Sample input", slug: "Slug", schema: "Schema",
};
export function sectionTitle(name) {
  return SECTION_TITLES[name] || name;
}

function shortValue(v) {
  const text = v === undefined || v === null ? "none" : typeof v === "string" ? `“${v}”` : JSON.stringify(v);
  return text.length > 80 ? `${text.slice(0, 79)}…` : text;
}

// One line of the diff panel: "review changed: config.prompt, on_error", "write → done on error
// added", "type changed: “manual” → “webhook”".
export function describeChange(section, c) {
  const item = section === "edges" ? c.item.replaceAll(" -> ", " → ") : c.item;
  if (c.keys?.length) return `${item} ${c.change}: ${c.keys.filter(Boolean).join(", ") || "value"}`;
  if (section === "edges" || !("before" in c || "after" in c) || (c.before == null && c.after == null)) return `${item} ${c.change}`;
  if (c.change === "added") return `${item} added: ${shortValue(c.after)}`;
  if (c.change === "removed") return `${item} removed (was ${shortValue(c.before)})`;
  return `${item} changed: ${shortValue(c.before)} → ${shortValue(c.after)}`;
}
