import assert from "node:assert/strict";
import { test } from "node:test";
import { createRefresher } from "./refresh.js";
import { fakeTimers, settle } from "./testing.js";

/** A fetch whose answers the test hands out, in any order. */
function heldFetch() {
  const calls = [];
  const fetch = () => new Promise((resolve, reject) => calls.push({ resolve, reject }));
  return { calls, fetch };
}

test("a burst of pokes costs one request", async () => {
  const timers = fakeTimers();
  const { calls, fetch } = heldFetch();
  const refresher = createRefresher(fetch, () => {}, { wait: 60, timers });
  refresher.poke();
  refresher.poke();
  timers.run(30);
  refresher.poke();
  timers.run(30);
  await settle();
  assert.equal(calls.length, 1);
  refresher.poke(); // after the request left, a poke asks again
  timers.run(60);
  await settle();
  assert.equal(calls.length, 2);
});

test("an older answer arriving after a newer one is dropped", async () => {
  const timers = fakeTimers();
  const { calls, fetch } = heldFetch();
  const applied = [];
  const refresher = createRefresher(fetch, (a) => applied.push(a), { wait: 60, timers });
  refresher.poke();
  timers.run(60);
  refresher.poke();
  timers.run(60);
  await settle();
  calls[1].resolve("newer");
  await settle();
  calls[0].resolve("older");
  await settle();
  assert.deepEqual(applied, ["newer"]);
});

test("answers arriving in order are all applied", async () => {
  const timers = fakeTimers();
  const { calls, fetch } = heldFetch();
  const applied = [];
  const refresher = createRefresher(fetch, (a) => applied.push(a), { wait: 10, timers });
  refresher.poke();
  timers.run(10);
  refresher.poke();
  timers.run(10);
  await settle();
  calls[0].resolve("first");
  await settle();
  calls[1].resolve("second");
  await settle();
  assert.deepEqual(applied, ["first", "second"]);
});

test("after cancel nothing is fetched or applied, and failures go to onError", async () => {
  const timers = fakeTimers();
  const { calls, fetch } = heldFetch();
  const applied = [];
  const errors = [];
  const refresher = createRefresher(fetch, (a) => applied.push(a), { wait: 10, timers, onError: (e) => errors.push(e.message) });
  refresher.poke();
  timers.run(10);
  await settle();
  calls[0].reject(new Error("down"));
  await settle();
  assert.deepEqual(errors, ["down"]);
  refresher.poke();
  timers.run(10);
  await settle();
  refresher.cancel();
  calls[1].resolve("late");
  refresher.poke();
  timers.run(10);
  await settle();
  assert.deepEqual(applied, []);
  assert.equal(calls.length, 2);
});
