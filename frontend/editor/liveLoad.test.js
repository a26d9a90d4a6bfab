import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { FOLLOW_RUNS_MAX, OVERFLOW_POLL_MS, REFRESH_WAIT_MS, followFlowLoad } from "./liveLoad.js";
import { fakeTimers, settle } from "./testing.js";

/** A socket whose events and statuses the test sends; it records what is followed. */
function fakeSocket() {
  const followers = new Map(); // group -> {onEvent, onStatus}
  return {
    followers,
    follow(group, onEvent, onStatus) {
      followers.set(group, { onEvent, onStatus });
      onStatus?.("connecting");
      return () => followers.delete(group);
    },
    emit(group, event) { followers.get(group)?.onEvent(event); },
    /** @returns {import("./socket.js").LinkStatus | undefined} */
    status: (group) => (followers.has(group) ? "live" : undefined),
    setStatus(group, status) { followers.get(group)?.onStatus?.(status); },
    runs: () => [...followers.keys()].filter((g) => g.startsWith("run.")).sort(),
  };
}

function setUp(runningIds = []) {
  const timers = fakeTimers();
  const socket = fakeSocket();
  let loads = 0;
  const answers = [];
  const stop = followFlowLoad({
    socket, flowId: 7, timers,
    load: async () => ({ read: ++loads }),
    running: async () => runningIds,
    onLoad: (a) => answers.push(a),
  });
  return { timers, socket, stop, answers, loads: () => loads };
}

const runChanged = (id, status) => ({ type: "run.changed", groups: [`run.${id}`, "flow.7"], data: { run_id: id, status } });

describe("followFlowLoad", () => {
  test("once live: reads the load and follows the running runs listed", async () => {
    const { timers, socket, answers } = setUp(["a", "b"]);
    assert.deepEqual([...socket.followers.keys()], ["flow.7"]);
    socket.setStatus("flow.7", "live");
    await settle();
    assert.deepEqual(socket.runs(), ["run.a", "run.b"]);
    timers.run(REFRESH_WAIT_MS);
    await settle();
    assert.deepEqual(answers, [{ read: 1 }]);
  });

  test("a step moving in a followed run reads the load again; no timer is left without cause", async () => {
    const { timers, socket, loads } = setUp(["a"]);
    socket.setStatus("flow.7", "live");
    await settle();
    timers.run(REFRESH_WAIT_MS);
    await settle();
    assert.equal(timers.count, 0); // no poll while every running run is followed
    socket.emit("run.a", { type: "step.changed", groups: ["run.a"] });
    timers.run(REFRESH_WAIT_MS);
    await settle();
    assert.equal(loads(), 2);
  });

  test("runs are followed while running and let go when they stop", async () => {
    const { timers, socket, loads } = setUp([]);
    socket.setStatus("flow.7", "live");
    await settle();
    socket.emit("flow.7", runChanged("c", "running"));
    assert.deepEqual(socket.runs(), ["run.c"]);
    socket.emit("flow.7", runChanged("c", "waiting_approval"));
    assert.deepEqual(socket.runs(), []);
    timers.run(REFRESH_WAIT_MS);
    await settle();
    assert.equal(loads(), 1); // the live status and two events: one read
  });

  test("past the socket's room the runs not followed are polled for, and only while they run", async () => {
    const ids = Array.from({ length: FOLLOW_RUNS_MAX + 1 }, (_, i) => `r${i}`);
    const { timers, socket, loads } = setUp(ids);
    socket.setStatus("flow.7", "live");
    await settle();
    assert.equal(socket.runs().length, FOLLOW_RUNS_MAX);
    timers.run(REFRESH_WAIT_MS);
    await settle();
    const before = loads();
    timers.run(OVERFLOW_POLL_MS + REFRESH_WAIT_MS);
    await settle();
    assert.equal(loads(), before + 1);
    // A followed run ends: the one waiting for room is followed, and the poll stops.
    socket.emit("flow.7", runChanged("r0", "succeeded"));
    assert.equal(socket.runs().includes(`run.r${FOLLOW_RUNS_MAX}`), true);
    assert.equal(socket.runs().length, FOLLOW_RUNS_MAX);
    timers.run(REFRESH_WAIT_MS);
    await settle();
    assert.equal(timers.count, 0);
  });

  test("a reconnection lists the running runs again", async () => {
    const running = ["a"];
    const timers = fakeTimers();
    const socket = fakeSocket();
    followFlowLoad({ socket, flowId: 7, timers, load: async () => ({}), running: async () => [...running], onLoad: () => {} });
    socket.setStatus("flow.7", "live");
    await settle();
    running.splice(0, 1, "b"); // a ended and b started while the socket was down
    socket.setStatus("flow.7", "reconnecting");
    socket.setStatus("flow.7", "live");
    await settle();
    assert.deepEqual(socket.runs(), ["run.b"]);
  });

  test("stop unfollows everything and applies no later answer", async () => {
    const { timers, socket, stop, answers } = setUp(["a"]);
    socket.setStatus("flow.7", "live");
    await settle();
    stop();
    timers.run(REFRESH_WAIT_MS);
    await settle();
    assert.equal(socket.followers.size, 0);
    assert.deepEqual(answers, []);
    assert.equal(timers.count, 0);
  });
});
