import assert from "node:assert/strict";
import { test } from "node:test";
import { STARTERS, entryProblems, fieldProblems, problemsOf, uniqueSlug } from "./policies.js";

test("every starting point has its own key and a complete entry", () => {
  assert.equal(new Set(STARTERS.map((s) => s.key)).size, STARTERS.length);
  for (const { entry } of STARTERS) {
    for (const field of ["slug", "name", "kind", "verdict", "reason", "config"]) assert.ok(entry[field], `${entry.slug}: ${field}`);
  }
});

test("a slug already taken gets the first free number", () => {
  assert.equal(uniqueSlug("quiet", new Set()), "quiet");
  assert.equal(uniqueSlug("quiet", new Set(["quiet", "quiet-2"])), "quiet-3");
});

test("an entry's problems are those at or under its pointer, with where they are inside it", () => {
  const problems = [
    { pointer: "/policies/1/config/window", message: "a number and a unit" },
    { pointer: "/policies/1", message: "unknown kind" },
    { pointer: "/policies/10/slug", message: "not entry 1" },
    { pointer: "/policies", message: "not a list" },
  ];
  assert.deepEqual(problemsOf(problems, 1).map((p) => p.where), ["/config/window", "/"]);
});

test("config problems go to their field; the rest that no field shows go on top", () => {
  const mine = problemsOf([
    { pointer: "/policies/0/config/window", message: "a number and a unit" },
    { pointer: "/policies/0/config/patterns/1/regex", message: "does not compile" },
    { pointer: "/policies/0/config/a~1b", message: "escaped" },
    { pointer: "/policies/0/config", message: "missing required field 'max'" },
    { pointer: "/policies/0/slug", message: "taken" },
  ], 0);
  const split = entryProblems(mine, { window: {}, patterns: {}, "a/b": {} });
  assert.deepEqual(split.config, [
    { path: ["window"], message: "a number and a unit" },
    { path: ["patterns", "1", "regex"], message: "does not compile" },
    { path: ["a/b"], message: "escaped" },
  ]);
  assert.deepEqual(split.other.map((p) => p.message), ["missing required field 'max'"]);
  assert.deepEqual(fieldProblems(mine, "/slug"), ["taken"]);
});
