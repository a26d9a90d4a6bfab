// Comparing the canvas with a saved version: the whole-document diff comes from the API (the
// same function as GET /api/flows/<slug>/diff), answered for the canvas's newest document only,
// and marked on the canvas (changed nodes tagged, removed ones drawn as ghosts).
import { useEffect, useEffectEvent, useMemo, useRef, useState } from "react";
import { diffMarks } from "./document.js";

export const DIFF_AFTER_MS = 250;

/**
 * ``compare``: ``{version, doc}`` of the chosen version (null: no comparison); ``choose(value)``
 * picks one ("" for none); ``diff``: the API's answer for that version (null while the first
 * one is due); ``fresh``: it answers the document on the canvas now; ``marks``: its canvas marks.
 */
export function useCompare({ api, slug, doc, contentKey, onStatus }) {
  const [compare, setCompare] = useState(null);
  const [answer, setAnswer] = useState(null); // {version, key, diff}
  const newest = useRef(0);
  const key = compare ? `${compare.version}\n${contentKey}` : null;
  const request = useEffectEvent((seq) => {
    const asked = { version: compare.version, key };
    api.diff(slug, compare.version, doc)
      .then((diff) => seq === newest.current && setAnswer({ ...asked, diff }))
      .catch((e) => seq === newest.current && onStatus(`Could not compare: ${e.message}`));
  });
  useEffect(() => {
    if (key === null) return undefined;
    const seq = ++newest.current;
    const timer = setTimeout(() => request(seq), DIFF_AFTER_MS);
    return () => clearTimeout(timer);
  }, [key]);
  const choose = async (value) => {
    if (!value) {
      setCompare(null);
      return;
    }
    try {
      setCompare({ version: Number(value), doc: await api.exportVersion(slug, value) });
    } catch (e) {
      onStatus(`Could not load version ${value}: ${e.message}`);
    }
  };
  const diff = compare && answer?.version === compare.version ? answer.diff : null;
  const marks = useMemo(() => (diff ? diffMarks(diff, compare.doc) : null), [diff, compare]);
  return { compare, choose, diff, fresh: Boolean(diff && answer.key === key), marks };
}
