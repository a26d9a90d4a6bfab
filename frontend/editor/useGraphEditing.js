// Changes to the graph: React Flow's node and edge changes, connections, adding (from the palette,
// dropped under the pointer or at the centre), renaming, deleting, copy and paste, auto layout,
// selection and whole-graph replacement (a version restored, a file imported). Every change the
// user makes is one undo step (``snapshot`` before it); typing in a node's panel is one step
// per pause.
import { addEdge, applyEdgeChanges, applyNodeChanges } from "@xyflow/react";
import { useCallback, useRef } from "react";
import { connectionToEdge, docToGraph, edgeId, freshId, markBackEdges } from "./document.js";
import { autoLayout } from "./layout.js";

const NODE_MIME = "application/x-controlroom-node";

/**
 * @param {{nodes: any[], setNodes: Function, edges: any[], setEdges: Function, snapshot: () => void,
 *   snapshotTyping: (key: string) => void, readOnly: boolean, flow: any, wrapper: {current: HTMLElement | null},
 *   showReadable: (duration?: number) => boolean}} options ``flow``: React Flow's instance (useReactFlow)
 */
export function useGraphEditing({ nodes, setNodes, edges, setEdges, snapshot, snapshotTyping, readOnly, flow, wrapper, showReadable }) {
  const clipboard = useRef(null);
  const selectedNodes = nodes.filter((n) => n.selected);
  const selectedEdges = edges.filter((e) => e.selected);

  const onNodesChange = useCallback((changes) => {
    if (readOnly) changes = changes.filter((c) => c.type === "select" || c.type === "dimensions");
    const gone = new Set(changes.filter((c) => c.type === "remove").map((c) => c.id));
    if (gone.size) snapshot();
    setNodes((ns) => applyNodeChanges(changes, ns));
    if (gone.size) {
      setEdges((es) => markBackEdges(nodes.filter((n) => !gone.has(n.id)), es.filter((e) => !gone.has(e.source) && !gone.has(e.target))));
    }
  }, [readOnly, snapshot, nodes, setNodes, setEdges]);
  const onEdgesChange = useCallback((changes) => {
    if (readOnly) changes = changes.filter((c) => c.type === "select");
    if (changes.some((c) => c.type === "remove")) snapshot();
    setEdges((es) => markBackEdges(nodes, applyEdgeChanges(changes, es)));
  }, [readOnly, snapshot, nodes, setEdges]);
  const onConnect = useCallback((conn) => {
    if (readOnly || conn.source === conn.target) return;
    snapshot();
    setEdges((es) => markBackEdges(nodes, addEdge(connectionToEdge(conn), es)));
  }, [readOnly, snapshot, nodes, setEdges]);

  const addNode = useCallback((kind, position) => {
    snapshot();
    const id = freshId(kind, new Set(nodes.map((n) => n.id)));
    const node = { id, type: "step", position, selected: true, data: { kind, config: {}, extra: {} } };
    setNodes((ns) => [...ns.map((n) => (n.selected ? { ...n, selected: false } : n)), node]);
    return id;
  }, [nodes, snapshot, setNodes]);
  const onDrop = useCallback((ev) => {
    ev.preventDefault();
    const kind = ev.dataTransfer.getData(NODE_MIME);
    if (!kind || readOnly) return;
    const p = flow.screenToFlowPosition({ x: ev.clientX, y: ev.clientY });
    addNode(kind, { x: p.x - 90, y: p.y - 28 });
  }, [flow, addNode, readOnly]);
  const addAtCentre = (kind) => {
    const box = wrapper.current.getBoundingClientRect();
    const p = flow.screenToFlowPosition({ x: box.left + box.width / 2, y: box.top + box.height / 3 });
    addNode(kind, { x: p.x - 90 + nodes.length * 8, y: p.y + nodes.length * 8 });
  };

  const updateNode = (id, fn) => {
    snapshotTyping(`node:${id}`);
    setNodes((ns) => ns.map((n) => (n.id === id ? fn(n) : n)));
  };
  const changeEdge = (id, extra) => {
    setEdges((es) => markBackEdges(nodes, es.map((e) => (e.id === id ? { ...e, data: { ...e.data, extra } } : e))));
  };
  const renameNode = (oldId, newId) => {
    if (!newId || nodes.some((n) => n.id === newId)) return false;
    snapshot();
    setNodes((ns) => ns.map((n) => (n.id === oldId ? { ...n, id: newId } : n)));
    setEdges((es) => es.map((e) => ({
      ...e, source: e.source === oldId ? newId : e.source, target: e.target === oldId ? newId : e.target,
    })));
    return true;
  };
  const deleteSelected = () => {
    const gone = new Set(selectedNodes.map((n) => n.id));
    const goneEdges = new Set(selectedEdges.map((e) => e.id));
    if (!gone.size && !goneEdges.size) return;
    snapshot();
    const left = nodes.filter((n) => !gone.has(n.id));
    setNodes(left);
    setEdges((es) => markBackEdges(left, es.filter((e) => !goneEdges.has(e.id) && !gone.has(e.source) && !gone.has(e.target))));
  };

  const copy = () => {
    const ids = new Set(selectedNodes.map((n) => n.id));
    clipboard.current = { nodes: selectedNodes, edges: edges.filter((e) => ids.has(e.source) && ids.has(e.target)) };
  };
  const paste = () => {
    const clip = clipboard.current;
    if (!clip?.nodes.length || readOnly) return;
    snapshot();
    const taken = new Set(nodes.map((n) => n.id));
    const rename = {};
    const added = clip.nodes.map((n) => {
      const id = freshId(n.data.kind, taken);
      taken.add(id);
      rename[n.id] = id;
      return { ...n, id, selected: true, position: { x: n.position.x + 40, y: n.position.y + 40 },
        data: { ...n.data, config: structuredClone(n.data.config) } };
    });
    const addedEdges = clip.edges.map((e) => ({ ...e, id: edgeId(), source: rename[e.source], target: rename[e.target], selected: false }));
    const all = [...nodes.map((n) => ({ ...n, selected: false })), ...added];
    setNodes(all);
    setEdges((es) => markBackEdges(all, [...es, ...addedEdges]));
  };
  const layout = () => {
    snapshot();
    setNodes((ns) => autoLayout(ns, edges));
    setTimeout(() => showReadable(200), 50);
  };

  /** Select node ``node`` alone (undefined: node selection untouched; null: none), and edge ``edge`` the same way. */
  const select = ({ node, edge }) => {
    const only = (id) => (item) => (item.id === id) === Boolean(item.selected) ? item : { ...item, selected: item.id === id };
    if (node !== undefined) setNodes((ns) => ns.map(only(node)));
    if (edge !== undefined) setEdges((es) => es.map(only(edge)));
  };
  /** Centre the view on node ``id`` at the current zoom. */
  const centreOn = (id) => {
    const target = nodes.find((n) => n.id === id);
    if (target) flow.setCenter(target.position.x + 90, target.position.y + 32, { zoom: flow.getZoom(), duration: 200 });
  };
  /** Put the graph of document ``doc`` on the canvas (one undo step). */
  const replaceGraph = (doc) => {
    snapshot();
    const g = docToGraph(doc);
    setNodes(g.nodes);
    setEdges(g.edges);
  };

  return {
    selectedNodes, selectedEdges, onNodesChange, onEdgesChange, onConnect, onDrop, addAtCentre, updateNode,
    changeEdge, renameNode, deleteSelected, copy, paste, layout, select, centreOn, replaceGraph,
  };
}

/** Starts dragging palette entry ``kind`` (dropped on the canvas by ``onDrop``). */
export function startPaletteDrag(ev, kind) {
  ev.dataTransfer.setData(NODE_MIME, kind);
  ev.dataTransfer.effectAllowed = "move";
}
