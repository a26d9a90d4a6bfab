// The live overlay's data: where the live version's unfinished runs are now (GET
// /api/flows/<slug>/load), read again when the websocket says something moved.
//
// What moves the counts, and the event that says so: a run starting, waiting for approval,
// pausing, resuming or ending publishes ``run.changed`` to ``flow.<id>``; a step moving inside a
// running run publishes ``step.changed`` to ``run.<id>`` only (flows/engine/transitions.py), so
// the runs that are running are followed one by one. A socket holds at most 20 subscriptions
// (controlroom/consumers.py MAX_SUBSCRIPTIONS): past ``FOLLOW_RUNS_MAX`` running runs the ones not
// followed have no event for their steps, and only then, while they run, the load is also read
// every ``OVERFLOW_POLL_MS`` — the one poll left, for what the server publishes no event for.

import { createRefresher } from "./refresh.js";

export const FOLLOW_RUNS_MAX = 16;
export const OVERFLOW_POLL_MS = 3000;
export const REFRESH_WAIT_MS = 300;

/**
 * Follow the load of flow ``flowId``. ``load()`` reads it; ``running()`` lists the ids of its
 * live version's running runs (read again at each (re)connection, as events may have been
 * missed while the socket was down); ``onLoad(answer)`` gets each newer answer. Returns the
 * function that stops everything (subscriptions, timers, pending answers).
 * @param {{socket: import("./socket.js").LiveSocket, flowId: number | string,
 *   load: () => Promise<any>, running: () => Promise<string[]>, onLoad: (answer: any) => void,
 *   timers?: {setTimeout: Function, clearTimeout: Function, setInterval: Function, clearInterval: Function}}} options
 */
export function followFlowLoad({ socket, flowId, load, running, onLoad, timers = globalThis }) {
  const refresh = createRefresher(load, onLoad, { wait: REFRESH_WAIT_MS, timers });
  /** @type {Map<string, () => void>} the followed running runs, with what stops each */
  const followed = new Map();
  /** @type {Set<string>} running runs there was no room to follow */
  const unfollowed = new Set();
  let poll = null;
  let stopped = false;

  const pollWhileUnfollowed = () => {
    if (unfollowed.size && poll === null) poll = timers.setInterval(() => refresh.poke(), OVERFLOW_POLL_MS);
    if (!unfollowed.size && poll !== null) {
      timers.clearInterval(poll);
      poll = null;
    }
  };
  const onStep = (event) => {
    if (event.type === "step.changed") refresh.poke();
  };
  const follow = (runId) => {
    if (followed.has(runId)) return;
    if (followed.size >= FOLLOW_RUNS_MAX) unfollowed.add(runId);
    else followed.set(runId, socket.follow(`run.${runId}`, onStep));
  };
  const forget = (runId) => {
    unfollowed.delete(runId);
    const stop = followed.get(runId);
    if (!stop) return;
    stop();
    followed.delete(runId);
    const next = unfollowed.values().next();
    if (!next.done) {
      unfollowed.delete(next.value);
      follow(next.value);
    }
  };
  const resync = () => {
    refresh.poke();
    running()
      .then((ids) => {
        if (stopped) return;
        const now = new Set(ids);
        for (const id of [...followed.keys(), ...unfollowed]) if (!now.has(id)) forget(id);
        for (const id of ids) follow(id);
        pollWhileUnfollowed();
      })
      .catch(() => {}); // the events still come; the next (re)connection lists the runs again
  };
  const onFlowEvent = (event) => {
    if (event.type !== "run.changed") return;
    const { run_id: runId, status } = event.data || {};
    if (runId) {
      if (status === "running") follow(runId);
      else forget(runId);
      pollWhileUnfollowed();
    }
    refresh.poke();
  };
  const stopFlow = socket.follow(`flow.${flowId}`, onFlowEvent, (status) => {
    if (status === "live") resync();
  });
  return () => {
    stopped = true;
    stopFlow();
    for (const stop of followed.values()) stop();
    followed.clear();
    unfollowed.clear();
    pollWhileUnfollowed();
    refresh.cancel();
  };
}
