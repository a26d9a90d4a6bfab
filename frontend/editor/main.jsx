// The flow editor island: React Flow on a Django page (templates/flows/editor.html).
import { createRoot } from "react-dom/client";
import {
  ReactFlow, ReactFlowProvider, Background, Controls, MiniMap, Handle, Position,
  addEdge, applyNodeChanges, applyEdgeChanges, useReactFlow, useNodesInitialized,
} from "@xyflow/react";
import { memo, useCallback, useEffect, useMemo, useRef, useState } from "react";
import dagre from "@dagrejs/dagre";
import "@xyflow/react/dist/style.css";
import "./editor.css";
import { makeApi, followRun, followGroup } from "./api.js";
import {
  docToGraph, graphToDoc, markBackEdges, pinProblems, freshId, edgeId, connectionToEdge, withOnError, diffMarks,
  describeChange, sectionTitle, isErrorEdge, ERROR_HANDLE,
} from "./document.js";
import { PreviewContext } from "./SchemaForm.jsx";
import { Guardrails } from "./Guardrails.jsx";
import { NodePanel } from "./NodePanel.jsx";
import { readableViewport } from "./viewport.js";
import { crumbsSaved } from "./crumbs.js";
import { TriggerFields } from "./TriggerFields.jsx";

const STATE_WORDS = {
  queued: "queued", running: "running", succeeded: "succeeded", failed: "failed",
  skipped: "skipped", waiting: "waiting", cancelled: "cancelled",
};

const StepNode = memo(function StepNode({ id, data, selected }) {
  const problems = data.problems || [];
  return (
    <div
      className={`step-node kind-${data.kind}${selected ? " is-selected" : ""}${problems.length ? " has-problems" : ""}`}
      data-node={id}
      data-kind={data.kind}
      data-state={data.state || undefined}
      data-problems={problems.length}
      data-diff={data.diff || undefined}
      data-on-error={data.extra?.on_error || undefined}
      title={problems.join("\n") || undefined}
    >
      <Handle type="target" position={Position.Left} />
      <div className="step-kind">{data.kind}{data.diff && <span className="diff-tag"> · {data.diff}</span>}</div>
      <div className="step-id">{id}</div>
      {data.summary && <div className="step-summary">{data.summary}</div>}
      {data.state && <div className="step-state">{STATE_WORDS[data.state] || data.state}</div>}
      {data.load && (
        <div className={`step-load${data.load.waiting ? " is-waiting" : ""}`} data-load-active={data.load.active}
          data-load-waiting={data.load.waiting}>
          {data.load.active > 0 && `${data.load.active} in progress`}
          {data.load.active > 0 && data.load.waiting > 0 && " · "}
          {data.load.waiting > 0 && `${data.load.waiting} waiting`}
        </div>
      )}
      {problems.length > 0 && (
        <div className="step-problems" role="note">{problems.length} problem{problems.length > 1 ? "s" : ""}</div>
      )}
      {data.extra?.on_error === "continue" && <div className="step-on-error">on error: continue</div>}
      <Handle type="source" position={Position.Right} title="Next (on success)" />
      {/* Dragging from here makes an error edge: taken only when this node fails for good. */}
      {data.errorHandle !== false && (
        <Handle type="source" id={ERROR_HANDLE} position={Position.Bottom} className="handle-error"
          title="On error: drag to the node that handles this node's failure" />
      )}
    </div>
  );
});
const GhostNode = memo(function GhostNode({ data }) {
  return (
    <div className={`step-node kind-${data.kind} ghost`} data-diff="removed">
      <div className="step-kind">{data.kind}<span className="diff-tag"> · removed</span></div>
      <div className="step-id">{data.label}</div>
    </div>
  );
});
const nodeTypes = { step: StepNode, ghost: GhostNode };

function summary(kind, config) {
  if (kind === "agent") return config.agent ? `agent: ${config.agent}` : "";
  if (kind === "tool") return config.tool ? `tool: ${config.tool}` : "";
  if (kind === "loop") return config.until ? `until ${config.until}` : "";
  return "";
}

export function autoLayout(nodes, edges) {
  const g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir: "LR", nodesep: 30, ranksep: 70 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const n of nodes) g.setNode(n.id, { width: 180, height: 64 });
  for (const e of edges) if (!e.className?.includes("edge-back")) g.setEdge(e.source, e.target);
  dagre.layout(g);
  return nodes.map((n) => {
    const p = g.node(n.id);
    return { ...n, position: { x: p.x - 90, y: p.y - 32 } };
  });
}

// The document as the validator and the diff see it: positions are layout, not content.
function docKeyOf(doc) {
  return JSON.stringify({ ...doc, nodes: doc.nodes.map(({ position, ...n }) => n) });
}

function Editor({ boot, api }) {
  const { document: initial } = boot;
  // Everything but the graph: trigger, feedback, roi... (the Launch panel edits some of it).
  const [meta, setMeta] = useState(() => {
    const { nodes, edges, ...rest } = initial;
    return rest;
  });
  const first = useMemo(() => docToGraph(initial), [initial]);
  const [nodes, setNodes] = useState(first.nodes);
  const [edges, setEdges] = useState(first.edges);
  const [types, setTypes] = useState([]);
  const [agents, setAgents] = useState((initial.agents || []).map((a) => a.slug));
  const [tools, setTools] = useState(null); // the tool registry (GET /api/tools), once loaded
  const [problems, setProblems] = useState({ pinned: [], byNode: {}, byEdge: {} });
  const [launch, setLaunch] = useState(null); // the launch checklist, from the validator
  const [launchOpen, setLaunchOpen] = useState(false);
  const [policyFocus, setPolicyFocus] = useState(null); // {index, at}: open that guardrail
  const [checking, setChecking] = useState(true); // the first validation is due at mount
  const [checkedKey, setCheckedKey] = useState(null); // the document the shown problems answer
  const [status, setStatus] = useState("");
  const [saved, setSaved] = useState({ version: boot.version, live: boot.live_version });
  const [savedKey, setSavedKey] = useState(() => JSON.stringify(graphToDoc(meta, first.nodes, first.edges)));
  const wantFocus = useRef(null);
  const [run, setRun] = useState(null);
  const [versions, setVersions] = useState([]);
  const [compare, setCompare] = useState(null); // {version, doc}
  const [sample, setSample] = useState(JSON.stringify(initial.sample_input || {}, null, 2));
  const readOnly = !boot.can_edit;
  const flow = useReactFlow();
  const wrapper = useRef(null);
  const history = useRef({ past: [], future: [] });
  const clipboard = useRef(null);

  // The view: readable when the flow opens (viewport.js), once its nodes are measured; after
  // that only the user moves it (a node dropped or added never re-fits the canvas).
  const nodesReady = useNodesInitialized();
  const [viewSet, setViewSet] = useState(first.nodes.length === 0);
  const showReadable = useCallback((duration = 0) => {
    const rects = flow.getNodes().filter((n) => n.type !== "ghost").map((n) => flow.getNodesBounds([n]));
    const view = readableViewport(rects, wrapper.current?.getBoundingClientRect() || {});
    if (view) flow.setViewport(view, { duration });
    return Boolean(view);
  }, [flow]);
  useEffect(() => {
    if (!viewSet && nodesReady && showReadable()) setViewSet(true);
  }, [nodesReady, viewSet, showReadable]);

  const typeByName = useMemo(() => Object.fromEntries(types.map((t) => [t.type, t])), [types]);
  const doc = useMemo(() => graphToDoc(meta, nodes, edges), [meta, nodes, edges]);
  const docText = useMemo(() => JSON.stringify(doc), [doc]);
  const dirty = docText !== savedKey;
  const selectedNodes = nodes.filter((n) => n.selected);
  const selectedEdges = edges.filter((e) => e.selected);

  useEffect(() => {
    api.nodeTypes().then(setTypes).catch((e) => setStatus(`Could not load node types: ${e.message}`));
    api.agents().then((data) => {
      const slugs = (data.items || []).map((a) => a.slug);
      setAgents((prev) => [...new Set([...prev, ...slugs])]);
    });
    api.tools().then((data) => setTools(data.items || []));
    api.flow(boot.slug).then((f) => setVersions(f.versions || [])).catch(() => {});
  }, [api]);

  const chooseCompare = async (value) => {
    if (!value) { setCompare(null); return; }
    try {
      setCompare({ version: Number(value), doc: await api.exportVersion(boot.slug, value) });
    } catch (e) {
      setStatus(`Could not load version ${value}: ${e.message}`);
    }
  };
  // The whole-document diff against the chosen version comes from the API (the same function
  // as GET /api/flows/<slug>/diff), answered for the canvas's newest document only.
  const [diffAnswer, setDiffAnswer] = useState(null); // {version, key, diff}
  const diffSeq = useRef(0);
  const diffKey = compare ? JSON.stringify([compare.version, docKeyOf(doc)]) : null;
  useEffect(() => {
    if (!compare) { setDiffAnswer(null); return undefined; }
    const seq = ++diffSeq.current;
    const timer = setTimeout(() => {
      api.diff(boot.slug, compare.version, doc)
        .then((d) => seq === diffSeq.current && setDiffAnswer({ key: diffKey, diff: d }))
        .catch((e) => seq === diffSeq.current && setStatus(`Could not compare: ${e.message}`));
    }, 250);
    return () => clearTimeout(timer);
  }, [diffKey]);
  const diff = compare && diffAnswer ? diffAnswer.diff : null;
  const diffFresh = Boolean(diff && diffAnswer.key === diffKey);
  const marks = useMemo(() => (diff && compare ? diffMarks(diff, compare.doc) : null), [diff, compare]);
  const restore = () => {
    if (!compare) return;
    snapshot();
    const g = docToGraph(compare.doc);
    setNodes(g.nodes);
    setEdges(g.edges);
    setStatus(`Restored version ${compare.version} on the canvas; save to make it a new version.`);
  };

  // --- history: a snapshot before each change the user makes --------------------------------
  // The graph and the flow's own policies (the Guardrails section) are undoable.
  const setPolicies = (policies) => setMeta((m) => {
    const next = { ...m };
    if (policies === undefined) delete next.policies; else next.policies = policies;
    return next;
  });
  const snapshot = useCallback(() => {
    history.current.past.push({ nodes, edges, policies: meta.policies });
    if (history.current.past.length > 100) history.current.past.shift();
    history.current.future = [];
  }, [nodes, edges, meta.policies]);
  const undo = useCallback(() => {
    const prev = history.current.past.pop();
    if (!prev) return;
    history.current.future.push({ nodes, edges, policies: meta.policies });
    setNodes(prev.nodes);
    setEdges(prev.edges);
    setPolicies(prev.policies);
  }, [nodes, edges, meta.policies]);
  const redo = useCallback(() => {
    const next = history.current.future.pop();
    if (!next) return;
    history.current.past.push({ nodes, edges, policies: meta.policies });
    setNodes(next.nodes);
    setEdges(next.edges);
    setPolicies(next.policies);
  }, [nodes, edges, meta.policies]);

  // --- validation as you go, with the API's own validator -----------------------------------
  // Under ASGI the server answers overlapping requests in parallel, so answers can arrive out of
  // order: only the answer to the newest document is applied, and an older one (a stale "valid"
  // after a newer "1 problem") is dropped.
  const docKey = docKeyOf(doc);
  const validation = useRef(0);
  useEffect(() => {
    const seq = ++validation.current;
    const newest = () => seq === validation.current;
    setChecking(true);
    const timer = setTimeout(() => {
      api.validate(doc)
        .then((r) => {
          if (!newest()) return;
          setProblems(pinProblems(r.errors || [], nodes, edges));
          setLaunch(r.launch || []);
          setCheckedKey(docKey);
        })
        .catch((e) => newest() && setStatus(`Validation unavailable: ${e.message}`))
        .finally(() => newest() && setChecking(false));
    }, 350);
    return () => clearTimeout(timer);
  }, [docKey]);
  // The problems shown answer the document on the canvas (not an earlier one, not none yet).
  const answered = !checking && checkedKey === docKey;

  // Template and condition fields preview against the sample input and the outputs of the
  // last test run's succeeded steps.
  const preview = useMemo(() => {
    let input = {};
    try {
      input = JSON.parse(sample || "{}");
    } catch {
      input = {};
    }
    const steps = {};
    for (const s of run?.data?.steps || []) if (s.status === "succeeded") steps[s.node_id] = s.output;
    return { run: (kind, text) => api.preview({ kind, text, input, steps }) };
  }, [sample, run, api]);

  // The live overlay: where the live version's unfinished runs are now. Refreshed when a run
  // of this flow changes (the websocket) and every few seconds (steps move inside runs).
  const [showLoad, setShowLoad] = useState(true);
  const [load, setLoad] = useState(null);
  useEffect(() => {
    if (!showLoad || !saved.live || !boot.flow_id) { setLoad(null); return undefined; }
    let live = true;
    let pending = null;
    const refresh = () => api.load(boot.slug).then((data) => live && setLoad(data)).catch(() => {});
    const soon = () => { clearTimeout(pending); pending = setTimeout(refresh, 300); };
    refresh();
    const timer = setInterval(refresh, 3000);
    const stop = followGroup(`flow.${boot.flow_id}`, soon);
    return () => { live = false; clearInterval(timer); clearTimeout(pending); stop(); };
  }, [showLoad, saved.live, api]);

  // Problems, step states and summaries are shown on the nodes themselves.
  const stepsByNode = useMemo(() => {
    const out = {};
    for (const s of run?.data?.steps || []) out[s.node_id] = s;
    return out;
  }, [run]);
  const shownNodes = useMemo(() => {
    const errorSources = new Set(edges.filter(isErrorEdge).map((e) => e.source));
    const shown = nodes.map((n) => {
      // The error handle where the node type may route errors (or an error edge already leaves).
      const eh = typeByName[n.data.kind]?.error_edges !== false || errorSources.has(n.id);
      const p = problems.byNode[n.id];
      const state = stepsByNode[n.id]?.status;
      const sum = summary(n.data.kind, n.data.config);
      const d = marks?.status[n.id];
      const l = load?.nodes?.[n.id];
      const same = n.data.load === l || (n.data.load && l && n.data.load.active === l.active && n.data.load.waiting === l.waiting);
      if (n.data.problems === p && n.data.state === state && n.data.summary === sum && n.data.diff === d && same && n.data.errorHandle === eh) return n;
      return { ...n, data: { ...n.data, problems: p, state, summary: sum, diff: d, load: l, errorHandle: eh } };
    });
    for (const r of marks?.removed || []) {
      shown.push({
        id: `removed:${r.id}`, type: "ghost", position: r.position || { x: 0, y: 0 },
        width: 180, height: 56, draggable: false, selectable: false, connectable: false,
        data: { kind: r.type, label: r.id },
      });
    }
    return shown;
  }, [nodes, edges, typeByName, problems, stepsByNode, marks, load]);
  const shownEdges = useMemo(
    () => edges.map((e) => {
      const bad = Boolean(problems.byEdge[e.id]);
      const cls = `${e.className || ""}${bad ? " edge-problem" : ""}`.trim();
      return cls === (e.className || "") ? e : { ...e, className: cls };
    }),
    [edges, problems],
  );

  // --- graph changes -----------------------------------------------------------------------
  const onNodesChange = useCallback((changes) => {
    if (readOnly) changes = changes.filter((c) => c.type === "select" || c.type === "dimensions");
    if (changes.some((c) => c.type === "remove")) snapshot();
    setNodes((ns) => applyNodeChanges(changes, ns));
    if (changes.some((c) => c.type === "remove")) {
      const gone = new Set(changes.filter((c) => c.type === "remove").map((c) => c.id));
      setEdges((es) => markBackEdges(nodes.filter((n) => !gone.has(n.id)), es.filter((e) => !gone.has(e.source) && !gone.has(e.target))));
    }
  }, [readOnly, snapshot, nodes]);
  const onEdgesChange = useCallback((changes) => {
    if (readOnly) changes = changes.filter((c) => c.type === "select");
    if (changes.some((c) => c.type === "remove")) snapshot();
    setEdges((es) => markBackEdges(nodes, applyEdgeChanges(changes, es)));
  }, [readOnly, snapshot, nodes]);
  const onConnect = useCallback((conn) => {
    if (readOnly || conn.source === conn.target) return;
    snapshot();
    setEdges((es) => markBackEdges(nodes, addEdge(connectionToEdge(conn), es)));
  }, [readOnly, snapshot, nodes]);

  const addNode = useCallback((kind, position) => {
    snapshot();
    const taken = new Set(nodes.map((n) => n.id));
    const id = freshId(kind, taken);
    const node = { id, type: "step", position, selected: true, data: { kind, config: {}, extra: {} } };
    setNodes((ns) => [...ns.map((n) => (n.selected ? { ...n, selected: false } : n)), node]);
    return id;
  }, [nodes, snapshot]);

  const onDrop = useCallback((ev) => {
    ev.preventDefault();
    const kind = ev.dataTransfer.getData("application/x-controlroom-node");
    if (!kind || readOnly) return;
    const p = flow.screenToFlowPosition({ x: ev.clientX, y: ev.clientY });
    addNode(kind, { x: p.x - 90, y: p.y - 28 });
  }, [flow, addNode, readOnly]);
  const addAtCentre = (kind) => {
    const box = wrapper.current.getBoundingClientRect();
    const p = flow.screenToFlowPosition({ x: box.left + box.width / 2, y: box.top + box.height / 3 });
    addNode(kind, { x: p.x - 90 + nodes.length * 8, y: p.y + nodes.length * 8 });
  };

  // Typing in a panel is one undo step per node and pause, not one per keystroke.
  const lastEdit = useRef({ id: null, at: 0 });
  const updateNode = (id, fn) => {
    const now = Date.now();
    if (lastEdit.current.id !== id || now - lastEdit.current.at > 1500) snapshot();
    lastEdit.current = { id, at: now };
    setNodes((ns) => ns.map((n) => (n.id === id ? fn(n) : n)));
  };
  // ``key``: typing in one policy's form is one undo step per pause; null: always a step.
  const changePolicies = (next, key) => {
    const now = Date.now();
    if (!key || lastEdit.current.id !== key || now - lastEdit.current.at > 1500) snapshot();
    lastEdit.current = { id: key, at: now };
    setPolicies(next.length ? next : undefined);
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
    clipboard.current = {
      nodes: selectedNodes,
      edges: edges.filter((e) => ids.has(e.source) && ids.has(e.target)),
    };
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

  // Keyboard paths: undo/redo, copy/paste (outside text fields).
  useEffect(() => {
    const onKey = (ev) => {
      const t = ev.target;
      if (t.closest && t.closest("input, textarea, select")) return;
      const mod = ev.ctrlKey || ev.metaKey;
      if (!mod) return;
      const k = ev.key.toLowerCase();
      if (k === "z" && !ev.shiftKey) { ev.preventDefault(); undo(); }
      else if ((k === "z" && ev.shiftKey) || k === "y") { ev.preventDefault(); redo(); }
      else if (k === "c") copy();
      else if (k === "v") { ev.preventDefault(); paste(); }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  });

  // --- save, publish, import/export ------------------------------------------------------------
  const save = async () => {
    setStatus("Saving…");
    try {
      const r = await api.save(doc, { createOnly: boot.is_new && !saved.version });
      setSaved({ version: r.version, live: r.live_version });
      setSavedKey(docText);
      setVersions((vs) => [...new Set([...vs, r.version])]);
      // A flow started from the gallery exists from its first save: give it its own address.
      if (boot.is_new) window.history.replaceState(null, "", `/flows/${r.slug}/edit/`);
      crumbsSaved({ slug: r.slug, name: doc.name || boot.name });
      setStatus(`Saved as version ${r.version}.`);
      return r.version;
    } catch (e) {
      setStatus(`Not saved: ${e.message}`);
      if (e.details?.length) setProblems(pinProblems(e.details, nodes, edges));
      return null;
    }
  };
  const publish = async () => {
    const version = dirty || !saved.version ? await save() : saved.version;
    if (!version) return;
    try {
      const r = await api.publish(boot.slug, version);
      setSaved((s) => ({ ...s, live: r.live_version }));
      setStatus(`Version ${r.live_version} is live.`);
    } catch (e) {
      setStatus(`Not published: ${e.message}`);
    }
  };
  const exportJson = () => {
    const blob = new Blob([JSON.stringify(doc, null, 2)], { type: "application/json" });
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = `${boot.slug}.flow.json`;
    a.click();
    URL.revokeObjectURL(a.href);
  };
  // JSON or YAML, read by the API's own parser: a syntax error names its line and column.
  const importFile = async (file) => {
    const yamlFile = /\.ya?ml$/i.test(file.name) || /yaml/.test(file.type);
    try {
      const data = await api.parse(await file.text(), yamlFile ? "application/yaml" : "application/json");
      snapshot();
      const { nodes: _n, edges: _e, ...rest } = data;
      setMeta({ ...rest, slug: boot.slug, name: rest.name || meta.name, schema: rest.schema || meta.schema });
      const g = docToGraph(data);
      setNodes(g.nodes);
      setEdges(g.edges);
      setStatus(`Imported ${file.name}; save to keep it.`);
      setTimeout(() => showReadable(), 80);
    } catch (e) {
      const where = e.details?.[0]?.message;
      setStatus(`Could not import ${file.name}: ${where || e.message}`);
    }
  };

  // --- test run -----------------------------------------------------------------------------------
  const stopFollowing = useRef(null);
  useEffect(() => () => stopFollowing.current?.(), []);
  const testRun = async () => {
    let input;
    try {
      input = JSON.parse(sample || "{}");
    } catch {
      setStatus("Sample input is not valid JSON.");
      return;
    }
    const version = dirty || !saved.version ? await save() : saved.version;
    if (!version) return;
    try {
      const r = await api.runStart(boot.slug, version, input);
      setRun({ id: r.run_id, data: null, live: "connecting" });
      setStatus(`Test run started on version ${version}.`);
      stopFollowing.current?.();
      // Refreshes may overlap, and under ASGI their answers can arrive out of order; an older
      // answer applied last would leave stale step states once the run has ended (no later event
      // corrects them). Each request is numbered and an answer older than one applied is dropped:
      // the newest request is sent after the newest event, so its answer always lands.
      let pending = null;
      let sent = 0;
      let applied = 0;
      const refresh = () => {
        if (pending) return;
        pending = setTimeout(() => {
          pending = null;
          const seq = ++sent;
          api.run(r.run_id).then((data) => {
            if (seq < applied) return;
            applied = seq;
            setRun((cur) => (cur?.id === r.run_id ? { ...cur, data } : cur));
          });
        }, 60);
      };
      stopFollowing.current = followRun(r.run_id, refresh, (live) => {
        setRun((cur) => (cur?.id === r.run_id ? { ...cur, live } : cur));
        if (live === "live") refresh();
      });
      refresh();
    } catch (e) {
      setStatus(`Run not started: ${e.message}`);
    }
  };

  // --- launch checklist: what is missing, and a way to each place to fill it in ---------------
  const missing = (launch || []).filter((item) => !item.ok);
  const launchReady = launch !== null && missing.length === 0 && answered;
  const FIELD_FOR = {
    "/trigger": "launch-trigger", "/feedback/outcome": "launch-outcome", "/feedback/approval_node": "launch-outcome",
    "/roi": "roi-baseline", "/roi/baseline_minutes": "roi-baseline", "/roi/hourly_cost": "roi-hourly",
    "/roi/success_outcome": "roi-success", "/subject": "launch-subject",
    // TriggerFields.jsx
    "/trigger/cron": "trigger-cron", "/trigger/timezone": "trigger-timezone", "/trigger/missed": "trigger-missed",
    "/trigger/input": "trigger-input", "/trigger/on": "trigger-on", "/trigger/flow": "trigger-flow",
    "/trigger/status": "trigger-status-succeeded", "/trigger/metric": "trigger-metric",
    "/trigger/threshold": "trigger-threshold", "/trigger/snapshot": "trigger-snapshot",
  };
  const goTo = (where) => {
    if (where.panel === "node" && where.node) {
      setNodes((ns) => ns.map((n) => ({ ...n, selected: n.id === where.node })));
      setEdges((es) => es.map((e) => (e.selected ? { ...e, selected: false } : e)));
      const target = nodes.find((n) => n.id === where.node);
      if (target) flow.setCenter(target.position.x + 90, target.position.y + 32, { zoom: flow.getZoom(), duration: 200 });
      return;
    }
    if (where.panel === "palette") {
      document.querySelector('.palette-item[data-node-type="agent"]')?.focus();
      return;
    }
    wantFocus.current = FIELD_FOR[where.pointer] || "launch-trigger";
    setLaunchOpen(true);
    setTimeout(() => {
      const el = wantFocus.current && document.getElementById(wantFocus.current);
      if (el) { el.scrollIntoView({ block: "nearest" }); el.focus(); }
      wantFocus.current = null;
    }, 30);
  };
  // The flow page's checklist links here with ?launch=<item>: open where to fill it in, once.
  const deepLink = useRef(new URLSearchParams(window.location.search).get("launch"));
  useEffect(() => {
    if (!launch || !deepLink.current) return;
    const item = launch.find((i) => i.key === deepLink.current);
    deepLink.current = null;
    if (item) goTo(item.where);
  }, [launch]);
  const setBlock = (key, field, value) => {
    setMeta((m) => {
      const block = { ...(m[key] || {}) };
      if (value === "" || value === undefined) delete block[field]; else block[field] = value;
      const next = { ...m };
      if (Object.keys(block).length) next[key] = block; else delete next[key];
      return next;
    });
  };
  const setSubject = (value) => {
    setMeta((m) => {
      const next = { ...m };
      if (value === "") delete next.subject; else next.subject = value;
      return next;
    });
  };
  const setTrigger = (type) => {
    setMeta((m) => {
      const next = { ...m };
      if (!type) delete next.trigger; else next.trigger = { ...(m.trigger || {}), type };
      return next;
    });
  };
  const numberOrText = (text) => (text.trim() === "" ? "" : Number.isFinite(Number(text)) ? Number(text) : text);

  // --- panels -----------------------------------------------------------------------------------
  const one = selectedNodes.length === 1 ? selectedNodes[0] : null;
  const edge = !one && selectedEdges.length === 1 ? selectedEdges[0] : null;
  const step = one ? stepsByNode[one.id] : null;

  return (
    <div className="editor">
      <div className="editor-toolbar" role="toolbar" aria-label="Editor">
        <span className="editor-version" role="status" aria-live="polite">
          {saved.version ? `v${saved.version}` : "no version"}
          {saved.live ? ` · v${saved.live} live` : " · not live"}
          {dirty ? " · unsaved changes" : ""}
        </span>
        <button type="button" className="btn btn-small" onClick={undo} disabled={readOnly} title="Undo (Ctrl+Z)">Undo</button>
        <button type="button" className="btn btn-small" onClick={redo} disabled={readOnly} title="Redo (Ctrl+Shift+Z)">Redo</button>
        <button type="button" className="btn btn-small" onClick={layout} disabled={readOnly}>Auto layout</button>
        <button type="button" className="btn btn-small" onClick={() => flow.fitView({ duration: 200 })}>Fit</button>
        <button type="button" className="btn btn-small" onClick={exportJson}>Export JSON</button>
        {saved.version && <a className="btn btn-small" href={`/api/flows/${boot.slug}/export?format=yaml&version=${saved.version}`}>Export YAML</a>}
        {!readOnly && (
          <label className="btn btn-small file-btn">
            Import JSON or YAML
            <input type="file" accept=".json,.yaml,.yml,application/json,application/yaml" className="visually-hidden"
              onChange={(e) => { if (e.target.files[0]) importFile(e.target.files[0]); e.target.value = ""; }} />
          </label>
        )}
        <label className="compare-label" htmlFor="compare-version">Compare with</label>
        <select id="compare-version" value={compare?.version || ""} onChange={(e) => chooseCompare(e.target.value)}>
          <option value="">—</option>
          {[...versions].reverse().map((v) => <option key={v} value={v}>version {v}{v === saved.live ? " (live)" : ""}</option>)}
        </select>
        {saved.live && (
          <label className="live-load-toggle small">
            <input type="checkbox" checked={showLoad} onChange={(e) => setShowLoad(e.target.checked)} />
            {" "}Live runs
            {load && <span className="muted" data-runs-in-flight={load.runs_in_flight}> (v{load.version}: {load.runs_in_flight} in flight)</span>}
          </label>
        )}
        <span className="toolbar-spacer" />
        {/* Save, test and publish stay together (they wrap to a new line as one). */}
        <span className="toolbar-actions">
          {!readOnly && <button type="button" className="btn btn-small" onClick={save}>Save draft</button>}
          {boot.can_operate && (
            <button type="button" className="btn btn-small" onClick={testRun} aria-describedby="run-note"
              title="Save the canvas if it changed and run it with the sample input">Run draft</button>
          )}
          {!readOnly && (
            <>
              {missing.length > 0 && (
                <span id="publish-blocked" className="publish-blocked small">Not launchable: {missing.map((m) => m.title).join(", ")} missing</span>
              )}
              <button type="button" className="btn btn-small btn-primary" onClick={publish}
                disabled={!launchReady} aria-describedby={missing.length ? "publish-blocked" : undefined}>Publish</button>
            </>
          )}
        </span>
      </div>
      <p className="editor-status" role="status" aria-live="polite">{status}</p>
      <div className="editor-body">
        <aside className="editor-palette" aria-label="Node types">
          <h2>Nodes</h2>
          {readOnly && <p className="muted small">Read-only: your role may view this flow.</p>}
          <ul>
            {types.map((t) => (
              <li key={t.type}>
                <button
                  type="button"
                  className={`palette-item kind-${t.type}`}
                  draggable={!readOnly}
                  disabled={readOnly}
                  data-node-type={t.type}
                  title={t.description}
                  onDragStart={(e) => {
                    e.dataTransfer.setData("application/x-controlroom-node", t.type);
                    e.dataTransfer.effectAllowed = "move";
                  }}
                  onClick={() => addAtCentre(t.type)}
                >
                  {t.title}
                </button>
              </li>
            ))}
          </ul>
          <p className="muted small">Drag onto the canvas, or press to add. Connect a node's right handle to another's left one; its red bottom handle makes an error edge (taken when the node fails).</p>
        </aside>
        <div className="editor-canvas" ref={wrapper} data-initial-view={viewSet ? "set" : "pending"} onDragOver={(e) => { e.preventDefault(); e.dataTransfer.dropEffect = "move"; }} onDrop={onDrop}>
          <ReactFlow
            nodes={shownNodes}
            edges={shownEdges}
            nodeTypes={nodeTypes}
            onNodesChange={onNodesChange}
            onEdgesChange={onEdgesChange}
            onConnect={onConnect}
            onNodeDragStart={() => snapshot()}
            nodesDraggable={!readOnly}
            nodesConnectable={!readOnly}
            deleteKeyCode={readOnly ? null : ["Delete", "Backspace"]}
            multiSelectionKeyCode={["Shift", "Meta", "Control"]}
            minZoom={0.1}
            onlyRenderVisibleElements={nodes.length > 100}
            aria-label="Flow canvas"
          >
            <Background gap={20} size={1} />
            <Controls showInteractive={false} />
            <MiniMap pannable zoomable ariaLabel="Minimap" nodeStrokeWidth={3} />
          </ReactFlow>
        </div>
        <aside className="editor-side" aria-label="Inspector">
          {one && (
            <PreviewContext.Provider value={preview}>
              <NodePanel key={one.id} node={one} spec={typeByName[one.data.kind]} readOnly={readOnly}
                agents={agents} tools={tools || []} toolsLoaded={tools !== null} api={api}
                problems={problems.pinned.filter((p) => p.target?.node === one.id)}
                onRename={(id) => renameNode(one.id, id)}
                onConfig={(config) => updateNode(one.id, (n) => ({ ...n, data: { ...n.data, config } }))}
                onOnError={(value) => updateNode(one.id, (n) => ({ ...n, data: { ...n.data, extra: withOnError(n.data.extra, value) } }))}
                onDelete={deleteSelected} step={step} />
            </PreviewContext.Provider>
          )}
          {edge && (
            <EdgePanel key={edge.id} edge={edge} readOnly={readOnly} problems={problems.byEdge[edge.id] || []}
              onChange={(extra) => setEdges((es) => markBackEdges(nodes, es.map((e) => (e.id === edge.id ? { ...e, data: { ...e.data, extra } } : e))))}
              onDelete={deleteSelected} />
          )}
          {!one && !edge && (
            <p className="muted small">{selectedNodes.length > 1 ? `${selectedNodes.length} nodes selected — Ctrl+C to copy, Delete to remove.` : "Select a node or an edge to edit it."}</p>
          )}
          {compare && (
            <section className="editor-diff" aria-labelledby="diff-heading" data-diff-fresh={diffFresh ? "true" : "false"}>
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
              {!readOnly && <button type="button" className="btn btn-small" onClick={restore}>Restore version {compare.version}</button>}
            </section>
          )}
          <section className="editor-launch" aria-labelledby="launch-heading" data-launch-ready={launchReady ? "true" : "false"}>
            <h2 id="launch-heading">Launch checklist <span className="count" data-count={missing.length}>{launch === null ? "…" : `${4 - missing.length}/4`}</span></h2>
            <p className="muted small">A flow goes live only when it closes the loop Trigger → Action → Feedback → ROI.</p>
            <ul className="launch-list">
              {(launch || []).map((item) => (
                <li key={item.key} data-launch-item={item.key} data-ok={item.ok ? "true" : "false"}>
                  <button type="button" className="linkish" onClick={() => goTo(item.where)}>
                    <span className="launch-mark" aria-hidden="true">{item.ok ? "✓" : "✗"}</span>
                    <strong>{item.title}</strong> <span className="launch-word">{item.ok ? "done" : "missing"}</span>
                    <span className="launch-message">{item.message}</span>
                  </button>
                </li>
              ))}
            </ul>
            <details className="launch-settings" open={launchOpen} onToggle={(e) => setLaunchOpen(e.currentTarget.open)}>
              <summary>Trigger, feedback and ROI</summary>
              <div className="field">
                <label htmlFor="launch-trigger">Trigger: how runs start</label>
                <select id="launch-trigger" value={meta.trigger?.type || ""} disabled={readOnly} onChange={(e) => setTrigger(e.target.value)}>
                  <option value="">— none —</option>
                  {["manual", "webhook", "schedule", "form", "event"].map((t) => <option key={t} value={t}>{t}</option>)}
                </select>
              </div>
              <TriggerFields trigger={meta.trigger} readOnly={readOnly} api={api} slug={boot.slug} saved={saved}
                problems={problems.pinned} sample={sample} onChange={(trigger) => setMeta((m) => ({ ...m, trigger }))} />
              <div className="field">
                <label htmlFor="launch-outcome">Feedback: outcome metric reported back <span className="field-note">(or add an approval node)</span></label>
                <input id="launch-outcome" type="text" placeholder="e.g. meeting_booked" value={meta.feedback?.outcome ?? ""}
                  disabled={readOnly} onChange={(e) => setBlock("feedback", "outcome", e.target.value)} />
              </div>
              <div className="field">
                <label htmlFor="launch-subject">Subject: who or what each run is about <span className="field-note">(a template; outcomes find their run by it)</span></label>
                <input id="launch-subject" type="text" className="mono" placeholder="e.g. {{ input.email }}" value={meta.subject ?? ""}
                  disabled={readOnly} onChange={(e) => setSubject(e.target.value)} />
              </div>
              <fieldset className="field-group">
                <legend>ROI</legend>
                <div className="field">
                  <label htmlFor="roi-baseline">Baseline minutes per case <span className="field-note">(a person's time, by hand)</span></label>
                  <input id="roi-baseline" type="number" min="0" step="any" value={meta.roi?.baseline_minutes ?? ""}
                    disabled={readOnly} onChange={(e) => setBlock("roi", "baseline_minutes", numberOrText(e.target.value))} />
                </div>
                <div className="field">
                  <label htmlFor="roi-hourly">Hourly cost of that work</label>
                  <input id="roi-hourly" type="number" min="0" step="any" value={meta.roi?.hourly_cost ?? ""}
                    disabled={readOnly} onChange={(e) => setBlock("roi", "hourly_cost", numberOrText(e.target.value))} />
                </div>
                <div className="field">
                  <label htmlFor="roi-success">Success outcome <span className="field-note">(the outcome metric that counts a case as won)</span></label>
                  <input id="roi-success" type="text" placeholder="e.g. meeting_booked" value={meta.roi?.success_outcome ?? ""}
                    disabled={readOnly} onChange={(e) => setBlock("roi", "success_outcome", e.target.value)} />
                </div>
              </fieldset>
            </details>
          </section>
          <Guardrails api={api} slug={boot.slug} policies={meta.policies} problems={problems.pinned}
            readOnly={readOnly} onChange={changePolicies} focus={policyFocus} />
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
                    <button type="button" className="linkish" onClick={() => {
                      if (p.target?.node) setNodes((ns) => ns.map((n) => ({ ...n, selected: n.id === p.target.node })));
                      if (p.target?.edge) setEdges((es) => es.map((e) => ({ ...e, selected: e.id === p.target.edge })));
                      const policy = /^\/policies\/(\d+)/.exec(p.pointer || "");
                      if (policy) setPolicyFocus({ index: Number(policy[1]), at: Date.now() });
                    }}>
                      <span className="mono">{p.pointer || "/"}</span> {p.message}
                    </button>
                  </li>
                ))}
              </ul>
            )}
          </section>
          <section className="editor-run" aria-labelledby="run-heading">
            <h2 id="run-heading">Test run</h2>
            <label htmlFor="sample-input">Sample input (JSON)</label>
            <textarea id="sample-input" className="mono" rows={4} value={sample} onChange={(e) => setSample(e.target.value)} />
            <p id="run-note" className="field-note">
              {boot.can_operate ? "Run draft (in the toolbar) saves the canvas if it changed and runs it with this input." : "Your role may not start runs."}
            </p>
            {run && (
              <p className="small" data-run={run.id} data-run-status={run.data?.status || "queued"}>
                Run <a href={`/runs/${run.id}/`}>{run.id.slice(0, 8)}</a>: {run.data?.status || "queued"}
                {run.data ? ` · ${run.data.tokens_in + run.data.tokens_out} tokens · $${run.data.cost}` : ""}
                <span className="muted"> ({run.live})</span>
              </p>
            )}
          </section>
        </aside>
      </div>
    </div>
  );
}

function EdgePanel({ edge, readOnly, problems, onChange, onDelete }) {
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

function mount() {
  const el = document.getElementById("flow-editor");
  const dataEl = document.getElementById("editor-data");
  if (!el || !dataEl) return;
  const boot = JSON.parse(dataEl.textContent);
  const api = makeApi(boot);
  window.__editorReady = false;
  createRoot(el).render(
    <ReactFlowProvider>
      <Editor boot={boot} api={api} />
    </ReactFlowProvider>,
  );
  el.dataset.mounted = "true";
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", mount);
else mount();
