// The view: readable when the flow opens (viewport.js), once its nodes are measured; after that
// only the user moves it (a node dropped or added never re-fits the canvas).
import { useCallback, useEffect, useRef, useState } from "react";
import { useNodesInitialized } from "@xyflow/react";
import { readableViewport } from "./viewport.js";

/**
 * ``wrapper``: the ref for the canvas's box; ``viewSet``: the opening view is set (at once for
 * an empty flow); ``showReadable(duration)`` moves the view to the readable one now (false when
 * there is nothing to show yet).
 * @param {any} flow React Flow's instance
 * @param {boolean} openedEmpty
 */
export function useReadableView(flow, openedEmpty) {
  const wrapper = useRef(/** @type {HTMLDivElement | null} */ (null));
  const nodesReady = useNodesInitialized();
  const [viewSet, setViewSet] = useState(openedEmpty);
  const showReadable = useCallback((duration = 0) => {
    const rects = flow.getNodes().filter((n) => n.type !== "ghost").map((n) => flow.getNodesBounds([n]));
    const view = readableViewport(rects, wrapper.current?.getBoundingClientRect() || {});
    if (view) flow.setViewport(view, { duration });
    return Boolean(view);
  }, [flow]);
  useEffect(() => {
    // Sets the view of an external system (React Flow's), then records that it did.
    if (!viewSet && nodesReady && showReadable()) setViewSet(true); // eslint-disable-line react-hooks/set-state-in-effect
  }, [nodesReady, viewSet, showReadable]);
  return { wrapper, viewSet, showReadable };
}
