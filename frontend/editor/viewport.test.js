import assert from "node:assert/strict";
import { test } from "node:test";
import { READABLE_ZOOM, readableViewport } from "./viewport.js";

const box = { width: 1000, height: 600 };
const rect = (x, y) => ({ x, y, width: 180, height: 64 });

test("nothing to show, or no canvas yet: no viewport", () => {
  assert.equal(readableViewport([], box), null);
  assert.equal(readableViewport([rect(0, 0)], {}), null);
});

test("a small graph is centred at zoom 1 at most", () => {
  const view = readableViewport([rect(0, 0), rect(260, 0)], box);
  assert.equal(view.zoom, 1);
  assert.equal(view.x, 500 - 220); // the graph's centre (220) at the canvas's centre
  assert.equal(view.y, 300 - 32);
});

test("a graph that fits only below the readable zoom starts at its left edge at that zoom", () => {
  const rects = Array.from({ length: 20 }, (_, i) => rect(i * 260, 0));
  const view = readableViewport(rects, box);
  assert.equal(view.zoom, READABLE_ZOOM);
  assert.equal(view.x, 32); // the padding, the graph's left edge at x = 0
});

test("a graph too tall for the canvas shows the top of the nodes in view", () => {
  const rects = [...Array.from({ length: 30 }, (_, i) => rect(0, i * 100)), rect(5000, 0)];
  const view = readableViewport(rects, box);
  assert.equal(view.zoom, READABLE_ZOOM);
  assert.equal(view.y, 32);
});
