// The live overlay: where the live version's unfinished runs are now, kept current over the
// websocket (liveLoad.js says which events move it, and the one case still polled).
import { useEffect, useState } from "react";
import { followFlowLoad } from "./liveLoad.js";

/**
 * The load of flow ``flowId`` (slug ``slug``), live version ``liveVersion``, while ``enabled``;
 * null when not enabled or not read yet.
 */
export function useLiveLoad({ api, socket, slug, flowId, liveVersion, enabled }) {
  const [load, setLoad] = useState(null);
  useEffect(() => {
    if (!enabled) return undefined;
    const stop = followFlowLoad({
      socket,
      flowId,
      load: () => api.load(slug),
      running: () => api.runs({ flow: slug, status: "running", version: String(liveVersion), limit: "200" })
        .then((page) => (page.items || []).map((run) => run.id)),
      onLoad: setLoad,
    });
    return () => {
      stop();
      setLoad(null);
    };
  }, [api, socket, slug, flowId, liveVersion, enabled]);
  return enabled ? load : null;
}
