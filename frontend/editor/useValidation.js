// Validation as you go, with the API's own validator (POST /api/flows/validate): the problems
// pinned to the nodes and edges they concern, and the launch checklist.
import { useEffect, useEffectEvent, useRef, useState } from "react";
import { pinProblems } from "./document.js";

const NO_PROBLEMS = { pinned: [], byNode: {}, byEdge: {} };
export const VALIDATE_AFTER_MS = 350;

/**
 * Validates ``doc`` a moment after its content (``contentKey``) stops changing. Under ASGI the
 * server answers overlapping requests in parallel, so answers can arrive out of order: only the
 * answer to the newest document is applied, and an older one (a stale "valid" after a newer
 * "1 problem") is dropped. ``answered``: the problems shown answer the document on the canvas
 * (not an earlier one, not none yet); ``checking``: its answer is still to come.
 * ``showProblems(details)`` pins problems that came another way (a refused save).
 */
export function useValidation({ api, doc, contentKey, nodes, edges, onStatus }) {
  const [answer, setAnswer] = useState({ key: null, problems: NO_PROBLEMS, launch: null });
  const [failedKey, setFailedKey] = useState(null);
  const newest = useRef(0);
  const validate = useEffectEvent((seq) => {
    const key = contentKey;
    api.validate(doc)
      .then((r) => {
        if (seq === newest.current) setAnswer({ key, problems: pinProblems(r.errors || [], nodes, edges), launch: r.launch || [] });
      })
      .catch((e) => {
        if (seq !== newest.current) return;
        setFailedKey(key);
        onStatus(`Validation unavailable: ${e.message}`);
      });
  });
  useEffect(() => {
    const seq = ++newest.current;
    const timer = setTimeout(() => validate(seq), VALIDATE_AFTER_MS);
    return () => clearTimeout(timer);
  }, [contentKey]);
  const showProblems = (details) => setAnswer((a) => ({ ...a, problems: pinProblems(details, nodes, edges) }));
  return {
    problems: answer.problems,
    launch: answer.launch,
    answered: answer.key === contentKey,
    checking: answer.key !== contentKey && failedKey !== contentKey,
    showProblems,
  };
}
