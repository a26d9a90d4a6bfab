// What the canvas shows on top of the graph the user edits: each node's problems, its step in the
// last test run, its one-line summary, its mark in a version diff, the live load on it and
// whether it has an error handle; the base version's removed nodes as ghosts; edges with
// problems. Pure: the same inputs give the same (and, where nothing changed, identical) objects,
// so React Flow re-renders only the nodes that changed.
import { isErrorEdge } from "./document.js";

/** The line under a node's id: what it runs ("agent: writer", "tool: send_email", "until ..."). */
export function summary(kind, config) {
  if (kind === "agent") return config.agent ? `agent: ${config.agent}` : "";
  if (kind === "tool") return config.tool ? `tool: ${config.tool}` : "";
  if (kind === "loop") return config.until ? `until ${config.until}` : "";
  return "";
}

/** A run's steps by node id (a node run several times: its last step). */
export function stepsByNode(run) {
  const out = {};
  for (const s of run?.data?.steps || []) out[s.node_id] = s;
  return out;
}

function sameLoad(a, b) {
  return a === b || Boolean(a && b && a.active === b.active && a.waiting === b.waiting);
}

/**
 * The nodes as drawn. ``typeByName``: node types by name (``error_edges: false`` means no error
 * handle, unless an error edge already leaves the node); ``problems.byNode``: messages by node id;
 * ``steps``: the test run's steps by node id; ``marks``: ``diffMarks`` of a version diff (or
 * null); ``load``: the live load answer (or null).
 */
export function decorateNodes({ nodes, edges, typeByName, problems, steps, marks, load }) {
  const errorSources = new Set(edges.filter(isErrorEdge).map((e) => e.source));
  const shown = nodes.map((n) => {
    const errorHandle = typeByName[n.data.kind]?.error_edges !== false || errorSources.has(n.id);
    const extra = {
      problems: problems.byNode[n.id],
      state: steps[n.id]?.status,
      summary: summary(n.data.kind, n.data.config),
      diff: marks?.status[n.id],
      load: load?.nodes?.[n.id],
      errorHandle,
    };
    const d = n.data;
    if (d.problems === extra.problems && d.state === extra.state && d.summary === extra.summary
      && d.diff === extra.diff && sameLoad(d.load, extra.load) && d.errorHandle === errorHandle) return n;
    return { ...n, data: { ...d, ...extra } };
  });
  for (const r of marks?.removed || []) {
    shown.push({
      id: `removed:${r.id}`, type: "ghost", position: r.position || { x: 0, y: 0 },
      width: 180, height: 56, draggable: false, selectable: false, connectable: false,
      data: { kind: r.type, label: r.id },
    });
  }
  return shown;
}

/** The edges as drawn: one with a problem gets the class ``edge-problem``. */
export function decorateEdges(edges, problems) {
  return edges.map((e) => {
    const bad = Boolean(problems.byEdge[e.id]);
    const cls = `${e.className || ""}${bad ? " edge-problem" : ""}`.trim();
    return cls === (e.className || "") ? e : { ...e, className: cls };
  });
}
