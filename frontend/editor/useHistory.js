// Undo and redo in the editor (history.js): a snapshot of the graph and the flow's own policies
// before each change the user makes; typing in one field is one step per pause.
import { useCallback, useRef } from "react";
import { createHistory, startsUndoStep } from "./history.js";

/**
 * ``restore(state)`` puts a snapshot ``{nodes, edges, policies}`` back on the canvas. Returns
 * ``snapshot()`` (before a change), ``snapshotTyping(key)`` (before an edit of field ``key``:
 * a snapshot unless the same field was edited a moment ago), ``undo()`` and ``redo()``.
 */
export function useHistory({ nodes, edges, policies, restore }) {
  const history = useRef(null);
  const lastEdit = useRef({ key: null, at: 0 });
  const stack = () => (history.current ||= createHistory());
  const snapshot = useCallback(() => stack().record({ nodes, edges, policies }), [nodes, edges, policies]);
  const snapshotTyping = useCallback((key) => {
    const now = Date.now();
    if (startsUndoStep(lastEdit.current, key, now)) snapshot();
    lastEdit.current = { key, at: now };
  }, [snapshot]);
  const undo = useCallback(() => {
    const previous = stack().undo({ nodes, edges, policies });
    if (previous) restore(previous);
  }, [nodes, edges, policies, restore]);
  const redo = useCallback(() => {
    const next = stack().redo({ nodes, edges, policies });
    if (next) restore(next);
  }, [nodes, edges, policies, restore]);
  return { snapshot, snapshotTyping, undo, redo };
}
