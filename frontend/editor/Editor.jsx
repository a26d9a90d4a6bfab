// The flow editor: the document on the canvas (useFlowDocument), its history, validation,
// version comparison, test run and live overlay (one hook each), and the panels around the
// canvas. State lives in the hooks; the panels get what they show and what they may call.
import { useReactFlow } from "@xyflow/react";
import { useCallback, useMemo, useState } from "react";
import { Canvas } from "./Canvas.jsx";
import { ComparePanel } from "./ComparePanel.jsx";
import { Guardrails } from "./Guardrails.jsx";
import { LaunchPanel } from "./LaunchPanel.jsx";
import { Palette } from "./Palette.jsx";
import { ProblemsPanel } from "./ProblemsPanel.jsx";
import { SelectionPanel } from "./SelectionPanel.jsx";
import { TestRunPanel } from "./TestRunPanel.jsx";
import { Toolbar } from "./Toolbar.jsx";
import { decorateEdges, decorateNodes, stepsByNode } from "./canvas.js";
import { launchState } from "./launch.js";
import { useCatalog } from "./useCatalog.js";
import { useCompare } from "./useCompare.js";
import { useDocumentActions } from "./useDocumentActions.js";
import { useFlowDocument } from "./useFlowDocument.js";
import { useGraphEditing } from "./useGraphEditing.js";
import { useHistory } from "./useHistory.js";
import { useLaunchNavigation } from "./useLaunchNavigation.js";
import { useLiveLoad } from "./useLiveLoad.js";
import { useReadableView } from "./useReadableView.js";
import { useShortcuts } from "./useShortcuts.js";
import { useSamplePreview, useTestRun } from "./useTestRun.js";
import { useValidation } from "./useValidation.js";

/**
 * ``boot``: the page's data (templates/editor/editor.html ``editor-data``: the document, slug,
 * flow id, versions, the user's rights, CSRF token); ``api``: api.js ``makeApi``; ``socket``:
 * socket.js (one per page).
 */
export function Editor({ boot, api, socket }) {
  const readOnly = !boot.can_edit;
  const flow = useReactFlow();
  const [status, setStatus] = useState("");
  const [sample, setSample] = useState(() => JSON.stringify(boot.document.sample_input || {}, null, 2));
  const [policyFocus, setPolicyFocus] = useState(null); // {index, at}: open that guardrail
  const [showLoad, setShowLoad] = useState(true);

  const d = useFlowDocument(boot.document);
  const { nodes, edges, setNodes, setEdges, setPolicies } = d;
  const restore = useCallback((s) => {
    setNodes(s.nodes);
    setEdges(s.edges);
    setPolicies(s.policies);
  }, [setNodes, setEdges, setPolicies]);
  const history = useHistory({ nodes, edges, policies: d.meta.policies, restore });
  const view = useReadableView(flow, d.openedEmpty);
  const graph = useGraphEditing({
    nodes, setNodes, edges, setEdges, snapshot: history.snapshot, snapshotTyping: history.snapshotTyping,
    readOnly, flow, wrapper: view.wrapper, showReadable: view.showReadable,
  });
  useShortcuts({ undo: history.undo, redo: history.redo, copy: graph.copy, paste: graph.paste });

  const catalog = useCatalog({ api, slug: boot.slug, documentAgents: boot.document.agents, onStatus: setStatus });
  const validation = useValidation({ api, doc: d.doc, contentKey: d.keys.content, nodes, edges, onStatus: setStatus });
  const compare = useCompare({ api, slug: boot.slug, doc: d.doc, contentKey: d.keys.content, onStatus: setStatus });
  const testRun = useTestRun({ api, socket });
  const preview = useSamplePreview(api, sample, testRun.run?.data);
  const actions = useDocumentActions({
    api, boot, document: d, catalog, validation, graph, followRun: testRun.follow, showReadable: view.showReadable,
    sample, onStatus: setStatus,
  });
  const load = useLiveLoad({
    api, socket, slug: boot.slug, flowId: boot.flow_id, liveVersion: actions.saved.live,
    enabled: showLoad && Boolean(actions.saved.live) && Boolean(boot.flow_id),
  });
  const nav = useLaunchNavigation({ launch: validation.launch, select: graph.select, centreOn: graph.centreOn });
  const { missing, ready } = launchState(validation.launch, validation.answered);

  // Problems, step states, summaries, diff marks and the live load are shown on the nodes.
  const steps = useMemo(() => stepsByNode(testRun.run), [testRun.run]);
  const shownNodes = useMemo(
    () => decorateNodes({
      nodes, edges, typeByName: catalog.typeByName, problems: validation.problems, steps, marks: compare.marks, load,
    }),
    [nodes, edges, catalog.typeByName, validation.problems, steps, compare.marks, load],
  );
  const shownEdges = useMemo(() => decorateEdges(edges, validation.problems), [edges, validation.problems]);
  // ``key``: typing in one policy's form is one undo step per pause; null: always a step.
  const changePolicies = (next, key) => {
    history.snapshotTyping(key);
    setPolicies(next.length ? next : undefined);
  };

  return (
    <div className="editor">
      <Toolbar boot={boot} readOnly={readOnly} saved={actions.saved} dirty={d.dirty} history={history}
        onLayout={graph.layout} onFit={() => flow.fitView({ duration: 200 })} actions={actions}
        versions={catalog.versions} compare={compare} live={{ shown: showLoad, onShown: setShowLoad, load }}
        missing={missing} launchReady={ready} />
      <p className="editor-status" role="status" aria-live="polite">{status}</p>
      <div className="editor-body">
        <Palette types={catalog.types} readOnly={readOnly} onAdd={graph.addAtCentre} />
        <Canvas wrapper={view.wrapper} nodes={shownNodes} edges={shownEdges} graph={graph} snapshot={history.snapshot}
          readOnly={readOnly} viewSet={view.viewSet} manyNodes={nodes.length > 100} />
        <aside className="editor-side" aria-label="Inspector">
          <SelectionPanel api={api} graph={graph} catalog={catalog} problems={validation.problems} steps={steps}
            preview={preview} readOnly={readOnly} />
          <ComparePanel compare={compare} readOnly={readOnly} onRestore={() => actions.restoreVersion(compare.compare)} />
          <LaunchPanel launch={validation.launch} missing={missing} ready={ready} nav={nav} meta={d.meta}
            setMeta={d.setMeta} readOnly={readOnly} api={api} slug={boot.slug} saved={actions.saved}
            problems={validation.problems.pinned} sample={sample} />
          <Guardrails api={api} slug={boot.slug} policies={d.meta.policies} problems={validation.problems.pinned}
            readOnly={readOnly} onChange={changePolicies} focus={policyFocus} />
          <ProblemsPanel validation={validation} onSelect={graph.select}
            onPolicy={(index) => setPolicyFocus({ index, at: Date.now() })} />
          <TestRunPanel sample={sample} onSample={setSample} run={testRun.run} canOperate={boot.can_operate} />
        </aside>
      </div>
    </div>
  );
}
