// The launch checklist's way to each place to fill in what is missing: a node (selected and
// centred), the palette, or a field of the Launch panel (opened, scrolled to, focused). The flow
// page's checklist links here with ?launch=<item>: that place opens once, when the checklist is in.
import { useEffect, useEffectEvent, useRef, useState } from "react";
import { fieldFor } from "./launch.js";

/**
 * ``launch``: the checklist (null until validated); ``select`` and ``centreOn`` from
 * useGraphEditing. Returns whether the Launch panel's settings are open, its setter, and
 * ``goTo(where)`` for a checklist item's ``where`` (``{panel, node?, pointer?}``).
 */
export function useLaunchNavigation({ launch, select, centreOn }) {
  const [settingsOpen, setSettingsOpen] = useState(false);
  const deepLink = useRef(new URLSearchParams(window.location.search).get("launch"));
  const goTo = (where) => {
    if (where.panel === "node" && where.node) {
      select({ node: where.node, edge: null });
      centreOn(where.node);
      return;
    }
    if (where.panel === "palette") {
      /** @type {HTMLElement | null} */ (document.querySelector('.palette-item[data-node-type="agent"]'))?.focus();
      return;
    }
    setSettingsOpen(true);
    const id = fieldFor(where.pointer);
    setTimeout(() => { // once the settings are open
      const el = document.getElementById(id);
      if (el) { el.scrollIntoView({ block: "nearest" }); el.focus(); }
    }, 30);
  };
  const openDeepLink = useEffectEvent((items) => {
    const item = items.find((i) => i.key === deepLink.current);
    deepLink.current = null;
    if (item) goTo(item.where);
  });
  useEffect(() => {
    if (launch && deepLink.current) openDeepLink(launch);
  }, [launch]);
  return { settingsOpen, setSettingsOpen, goTo };
}
