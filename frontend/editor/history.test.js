import assert from "node:assert/strict";
import { test } from "node:test";
import { TYPING_PAUSE_MS, createHistory, startsUndoStep } from "./history.js";

test("undo goes back and redo forward through the recorded states", () => {
  const h = createHistory();
  h.record("a");
  h.record("b");
  assert.equal(h.undo("c"), "b");
  assert.equal(h.undo("b"), "a");
  assert.equal(h.undo("a"), null);
  assert.equal(h.redo("a"), "b");
  assert.equal(h.redo("b"), "c");
  assert.equal(h.redo("c"), null);
});

test("a new change drops what could be redone", () => {
  const h = createHistory();
  h.record("a");
  assert.equal(h.undo("b"), "a");
  h.record("a2");
  assert.equal(h.redo("x"), null);
});

test("only the newest steps are kept", () => {
  const h = createHistory(2);
  for (const s of ["a", "b", "c"]) h.record(s);
  assert.equal(h.undo("d"), "c");
  assert.equal(h.undo("c"), "b");
  assert.equal(h.undo("b"), null);
});

test("typing in one field is one step per pause", () => {
  const last = { key: "node:write", at: 1000 };
  assert.equal(startsUndoStep(last, "node:write", 1000 + TYPING_PAUSE_MS), false);
  assert.equal(startsUndoStep(last, "node:write", 1001 + TYPING_PAUSE_MS), true);
  assert.equal(startsUndoStep(last, "node:done", 1001), true);
  assert.equal(startsUndoStep(last, null, 1001), true);
});
