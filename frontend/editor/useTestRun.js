// The test run: the run started from the editor, followed over the websocket (each step or run
// event reads it again), and the preview context its step outputs feed.
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { createRefresher } from "./refresh.js";

/** A test run is read again this long after an event (events of one step come in bursts). */
export const RUN_REFRESH_MS = 60;

/**
 * ``run``: ``{id, data, live}`` — ``data`` the API's run with its steps (null until read),
 * ``live`` the socket's word on the run's group (socket.js LinkStatus); ``follow(runId)``
 * follows a new run (and stops following the previous one). Overlapping reads can be answered
 * out of order, and once the run has ended no event corrects the canvas, so an older answer is
 * never applied after a newer one (refresh.js).
 */
export function useTestRun({ api, socket }) {
  const [run, setRun] = useState(null);
  const stop = useRef(null);
  useEffect(() => () => stop.current?.(), []);
  const follow = useCallback((runId) => {
    stop.current?.();
    const update = (change) => setRun((cur) => (cur?.id === runId ? { ...cur, ...change } : cur));
    setRun({ id: runId, data: null, live: "connecting" });
    const refresher = createRefresher(() => api.run(runId), (data) => update({ data }), { wait: RUN_REFRESH_MS });
    const unfollow = socket.follow(
      `run.${runId}`,
      (event) => (event.type === "step.changed" || event.type === "run.changed") && refresher.poke(),
      (live) => {
        update({ live });
        if (live === "live") refresher.poke(); // (re)subscribed: whatever happened before is read now
      },
    );
    refresher.poke();
    stop.current = () => {
      unfollow();
      refresher.cancel();
    };
  }, [api, socket]);
  return { run, follow };
}

/**
 * What template and condition fields preview against (fields.jsx ``PreviewContext``): the
 * sample input (``{}`` while it is not valid JSON) and the outputs of the test run's succeeded
 * steps.
 */
export function useSamplePreview(api, sample, runData) {
  return useMemo(() => {
    let input = {};
    try {
      input = JSON.parse(sample || "{}");
    } catch {
      input = {};
    }
    const steps = {};
    for (const s of runData?.steps || []) if (s.status === "succeeded") steps[s.node_id] = s.output;
    return { run: (kind, text) => api.preview({ kind, text, input, steps }) };
  }, [sample, runData, api]);
}
