import assert from "node:assert/strict";
import { test } from "node:test";
import { autoLayout } from "./layout.js";

const node = (id) => ({ id, position: { x: 0, y: 0 } });

test("left to right: each node after the one it follows; a back-edge does not fold the graph", () => {
  const edges = [
    { source: "a", target: "b" }, { source: "b", target: "c" }, { source: "c", target: "b", className: "edge-back" },
  ];
  const [a, b, c] = autoLayout([node("a"), node("b"), node("c")], edges);
  assert.ok(a.position.x < b.position.x && b.position.x < c.position.x);
  assert.equal(a.position.y, b.position.y);
});
