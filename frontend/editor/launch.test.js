import assert from "node:assert/strict";
import { test } from "node:test";
import { fieldFor, launchState, numberOrText, withBlock, withKey, withTriggerType } from "./launch.js";

test("publishing needs the checklist in, complete, and answering the canvas", () => {
  const done = [{ key: "trigger", ok: true, title: "Trigger" }, { key: "roi", ok: true, title: "ROI" }];
  assert.equal(launchState(done, true).ready, true);
  assert.equal(launchState(done, false).ready, false);
  assert.equal(launchState(null, true).ready, false);
  const missing = launchState([...done, { key: "feedback", ok: false, title: "Feedback" }], true);
  assert.equal(missing.ready, false);
  assert.deepEqual(missing.missing.map((m) => m.key), ["feedback"]);
});

test("a checklist pointer leads to its field, and an unknown one to the trigger", () => {
  assert.equal(fieldFor("/roi/hourly_cost"), "roi-hourly");
  assert.equal(fieldFor("/trigger/cron"), "trigger-cron");
  assert.equal(fieldFor("/nowhere"), "launch-trigger");
});

test("withBlock sets a field, and an emptied block goes away", () => {
  const meta = { roi: { hourly_cost: 40 } };
  assert.deepEqual(withBlock(meta, "roi", "baseline_minutes", 15), { roi: { hourly_cost: 40, baseline_minutes: 15 } });
  assert.deepEqual(withBlock(meta, "roi", "hourly_cost", ""), {});
  assert.deepEqual(meta, { roi: { hourly_cost: 40 } });
});

test("withKey removes a key set to nothing", () => {
  assert.deepEqual(withKey({ subject: "x" }, "subject", ""), {});
  assert.deepEqual(withKey({}, "policies", undefined), {});
  assert.deepEqual(withKey({}, "subject", "{{ input.email }}"), { subject: "{{ input.email }}" });
});

test("changing the trigger's type keeps its other fields; none removes it", () => {
  const meta = { trigger: { type: "schedule", cron: "0 9 * * *" } };
  assert.deepEqual(withTriggerType(meta, "webhook"), { trigger: { type: "webhook", cron: "0 9 * * *" } });
  assert.deepEqual(withTriggerType(meta, ""), {});
});

test("a number field keeps numbers as numbers and other text as typed", () => {
  assert.equal(numberOrText("15"), 15);
  assert.equal(numberOrText("1.5"), 1.5);
  assert.equal(numberOrText("  "), "");
  assert.equal(numberOrText("abc"), "abc");
});
