import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { BACKOFF, backoffDelay, createSocket } from "./socket.js";
import { fakeTimers, fakeWebSocket } from "./testing.js";

function setUp() {
  const { FakeSocket, sockets } = fakeWebSocket();
  const timers = fakeTimers();
  const socket = createSocket({ url: "ws://host/ws/?format=json", WebSocketImpl: FakeSocket, timers, random: () => 0.5 });
  return { socket, sockets, timers };
}

function listener() {
  const events = [];
  const statuses = [];
  return { events, statuses, onEvent: (e) => events.push(e), onStatus: (s) => statuses.push(s) };
}

describe("backoffDelay", () => {
  test("doubles from the first wait up to the longest, with jitter in the upper half", () => {
    assert.equal(backoffDelay(0, () => 0), BACKOFF.first / 2);
    assert.equal(backoffDelay(0, () => 0.999999), BACKOFF.first);
    assert.equal(backoffDelay(3, () => 0), (BACKOFF.first * 8) / 2);
    assert.equal(backoffDelay(30, () => 0), BACKOFF.max / 2);
    assert.ok(backoffDelay(30, () => 0.999999) <= BACKOFF.max);
  });
});

describe("createSocket", () => {
  test("one connection for every group, each subscribed once", () => {
    const { socket, sockets } = setUp();
    const a = listener();
    socket.follow("run.1", a.onEvent, a.onStatus);
    socket.follow("run.1", () => {});
    assert.equal(sockets.length, 1);
    sockets[0].open();
    socket.follow("flow.7", () => {});
    assert.deepEqual(sockets[0].sent, [
      { type: "subscribe", groups: ["run.1"] },
      { type: "subscribe", groups: ["flow.7"] },
    ]);
    assert.equal(sockets.length, 1);
  });

  test("a group is live once the server says subscribed, and events reach its listeners once", () => {
    const { socket, sockets } = setUp();
    const run = listener();
    const flow = listener();
    socket.follow("run.1", run.onEvent, run.onStatus);
    socket.follow("flow.7", flow.onEvent, flow.onStatus);
    sockets[0].open();
    sockets[0].receive({ type: "subscribed", groups: ["run.1", "flow.7"] });
    assert.deepEqual(run.statuses, ["connecting", "live"]);
    const event = { type: "run.changed", groups: ["run.1", "flow.7", "runs"], data: { status: "running" } };
    sockets[0].receive(event);
    sockets[0].receive({ type: "step.changed", groups: ["run.2"] });
    sockets[0].receive("not json");
    assert.deepEqual(run.events, [event]);
    assert.deepEqual(flow.events, [event]);
  });

  test("a refused group says so; an unsubscribed frame is no event", () => {
    const { socket, sockets } = setUp();
    const run = listener();
    socket.follow("run.x", run.onEvent, run.onStatus);
    sockets[0].open();
    sockets[0].receive({ type: "error", code: "subscription_refused", message: "no", groups: ["run.x"] });
    sockets[0].receive({ type: "unsubscribed", groups: ["run.x"] });
    assert.deepEqual(run.statuses, ["connecting", "refused"]);
    assert.deepEqual(run.events, []);
  });

  test("a dropped connection reconnects with growing waits and subscribes every group again", () => {
    const { socket, sockets, timers } = setUp();
    const run = listener();
    socket.follow("run.1", run.onEvent, run.onStatus);
    socket.follow("flow.7", () => {});
    sockets[0].open();
    sockets[0].receive({ type: "subscribed", groups: ["run.1", "flow.7"] });

    sockets[0].drop();
    assert.deepEqual(run.statuses, ["connecting", "live", "reconnecting"]);
    assert.deepEqual(timers.delays(), [backoffDelay(0, () => 0.5)]);
    timers.run(backoffDelay(0, () => 0.5));
    assert.equal(sockets.length, 2);
    sockets[1].drop(); // the server is still down: the next wait is longer
    assert.deepEqual(timers.delays(), [backoffDelay(1, () => 0.5)]);
    timers.run(backoffDelay(1, () => 0.5));
    sockets[2].open();
    assert.deepEqual(sockets[2].sent, [{ type: "subscribe", groups: ["run.1", "flow.7"] }]);
    sockets[2].receive({ type: "subscribed", groups: ["run.1", "flow.7"] });
    assert.deepEqual(run.statuses, ["connecting", "live", "reconnecting", "live"]);

    sockets[2].drop(); // back to the first wait once the server took the socket back
    assert.deepEqual(timers.delays(), [backoffDelay(0, () => 0.5)]);
  });

  test("a session that ended is not reconnected", () => {
    const { socket, sockets, timers } = setUp();
    const run = listener();
    socket.follow("run.1", run.onEvent, run.onStatus);
    sockets[0].open();
    sockets[0].drop(4401);
    assert.equal(run.statuses.at(-1), "closed");
    assert.equal(timers.count, 0);
  });

  test("the last follower gone: unsubscribed and closed, with no reconnect", () => {
    const { socket, sockets, timers } = setUp();
    const stopRun = socket.follow("run.1", () => {});
    const stopFlow = socket.follow("flow.7", () => {});
    sockets[0].open();
    stopRun();
    assert.deepEqual(sockets[0].sent.at(-1), { type: "unsubscribe", groups: ["run.1"] });
    assert.equal(socket.status("run.1"), undefined);
    stopFlow();
    stopFlow(); // twice is harmless
    assert.equal(sockets[0].closed, true);
    assert.equal(timers.count, 0);
    socket.follow("run.2", () => {}); // a new follower opens a new connection
    assert.equal(sockets.length, 2);
  });

  test("following during a reconnect wait joins the next connection's subscription", () => {
    const { socket, sockets, timers } = setUp();
    socket.follow("run.1", () => {});
    sockets[0].open();
    sockets[0].drop();
    const late = listener();
    socket.follow("run.2", late.onEvent, late.onStatus);
    assert.deepEqual(late.statuses, ["reconnecting"]);
    assert.equal(sockets.length, 1);
    timers.run(BACKOFF.max);
    sockets[1].open();
    assert.deepEqual(sockets[1].sent, [{ type: "subscribe", groups: ["run.1", "run.2"] }]);
  });
});
