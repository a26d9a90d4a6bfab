// The document on the canvas: React Flow's nodes and edges plus ``meta`` (everything else:
// trigger, feedback, roi, policies...), joined into the controlroom.flow/v1 document once per
// change, with its keys (document.js ``documentKeys``) and whether it differs from the saved one.
import { useCallback, useMemo, useState } from "react";
import { docToGraph, documentKeys, graphToDoc } from "./document.js";
import { withKey } from "./launch.js";

/** @param {{nodes?: any[], edges?: any[]} & Record<string, any>} initial the document the page was opened with */
export function useFlowDocument(initial) {
  const [first] = useState(() => docToGraph(initial));
  const [meta, setMeta] = useState(() => {
    const { nodes: _nodes, edges: _edges, ...rest } = initial;
    return rest;
  });
  const [nodes, setNodes] = useState(first.nodes);
  const [edges, setEdges] = useState(first.edges);
  const doc = useMemo(() => graphToDoc(meta, nodes, edges), [meta, nodes, edges]);
  const keys = useMemo(() => documentKeys(doc), [doc]);
  const [savedKeys, setSavedKeys] = useState(keys);
  const setPolicies = useCallback((policies) => setMeta((m) => withKey(m, "policies", policies)), []);
  return {
    meta, setMeta, nodes, setNodes, edges, setEdges, doc, keys,
    /** Whether the canvas differs from the version last saved (or opened). */
    dirty: keys.content !== savedKeys.content || keys.layout !== savedKeys.layout,
    /** The document now on the canvas is the saved one. */
    markSaved: () => setSavedKeys(keys),
    /** Sets the flow's own policies (none for undefined). */
    setPolicies,
    /** Whether the flow opened with no node (nothing to fit the view to). */
    openedEmpty: first.nodes.length === 0,
  };
}
