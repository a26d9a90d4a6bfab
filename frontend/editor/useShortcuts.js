// Keyboard paths of the canvas: undo/redo, copy/paste (outside text fields).
import { useEffect, useEffectEvent } from "react";

/** @param {{undo: () => void, redo: () => void, copy: () => void, paste: () => void}} actions */
export function useShortcuts(actions) {
  const onKey = useEffectEvent((ev) => {
    const t = ev.target;
    if (t.closest && t.closest("input, textarea, select")) return;
    if (!(ev.ctrlKey || ev.metaKey)) return;
    const k = ev.key.toLowerCase();
    if (k === "z" && !ev.shiftKey) { ev.preventDefault(); actions.undo(); }
    else if ((k === "z" && ev.shiftKey) || k === "y") { ev.preventDefault(); actions.redo(); }
    else if (k === "c") actions.copy();
    else if (k === "v") { ev.preventDefault(); actions.paste(); }
  });
  useEffect(() => {
    const listener = (ev) => onKey(ev);
    window.addEventListener("keydown", listener);
    return () => window.removeEventListener("keydown", listener);
  }, []);
}
