import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  connectionToEdge, describeChange, diffMarks, docToGraph, documentKeys, ERROR_HANDLE, freshId, graphToDoc,
  isErrorEdge, markBackEdges, pinProblems, sectionTitle, toFlowNode, withOnError,
} from "./document.js";

const DOC = {
  schema: "controlroom.flow/v1",
  slug: "outreach",
  name: "Outreach",
  trigger: { type: "manual" },
  nodes: [
    { id: "write", type: "agent", config: { agent: "writer", prompt: "Hi" }, position: { x: 0, y: 0 } },
    { id: "review", type: "approval", on_error: "continue", position: { x: 260.4, y: 10.6 } },
    { id: "done", type: "end", position: { x: 520, y: 0 } },
  ],
  edges: [
    { from: "write", to: "review" },
    { from: "review", to: "done", when: "steps.review.output.ok" },
    { from: "write", to: "done", on: "error" },
  ],
};

function graphOf(doc) {
  const { nodes, edges, ...meta } = doc;
  return { meta, ...docToGraph({ nodes, edges }) };
}

describe("docToGraph and graphToDoc", () => {
  test("a document survives the round trip through the canvas", () => {
    const { meta, nodes, edges } = graphOf(DOC);
    const back = graphToDoc(meta, nodes, edges);
    assert.deepEqual(back.edges, DOC.edges);
    assert.deepEqual(back.nodes.map((n) => n.id), ["write", "review", "done"]);
    assert.deepEqual(back.nodes[0], DOC.nodes[0]);
    assert.equal(back.nodes[1].on_error, "continue");
    assert.deepEqual(back.trigger, { type: "manual" });
  });

  test("positions are whole pixels and a node without one is stacked by its index", () => {
    const { meta, nodes, edges } = graphOf(DOC);
    assert.deepEqual(graphToDoc(meta, nodes, edges).nodes[1].position, { x: 260, y: 11 });
    assert.deepEqual(toFlowNode({ id: "late", type: "end" }, 2).position, { x: 0, y: 240 });
  });

  test("an empty config is left out of the document and kept as {} on the canvas", () => {
    const node = toFlowNode({ id: "done", type: "end" });
    assert.deepEqual(node.data.config, {});
    assert.equal("config" in graphToDoc({}, [node], []).nodes[0], false);
  });

  test("an error edge leaves the error handle and is drawn as one", () => {
    const { edges } = graphOf(DOC);
    const error = edges.find((e) => isErrorEdge(e));
    assert.equal(error.sourceHandle, ERROR_HANDLE);
    assert.match(error.className, /edge-error/);
    assert.equal(error.label, "on error");
    assert.equal(edges.find((e) => e.target === "review").sourceHandle, null);
  });
});

describe("documentKeys", () => {
  test("moving a node changes the layout key, not the content key", () => {
    const moved = { ...DOC, nodes: DOC.nodes.map((n) => (n.id === "done" ? { ...n, position: { x: 9, y: 9 } } : n)) };
    const before = documentKeys(DOC);
    const after = documentKeys(moved);
    assert.equal(after.content, before.content);
    assert.notEqual(after.layout, before.layout);
  });

  test("editing a config changes the content key", () => {
    const edited = { ...DOC, nodes: [{ ...DOC.nodes[0], config: { agent: "writer", prompt: "Hello" } }, ...DOC.nodes.slice(1)] };
    assert.notEqual(documentKeys(edited).content, documentKeys(DOC).content);
  });

  test("the content key holds no position", () => {
    assert.equal(documentKeys(DOC).content.includes("position"), false);
  });
});

describe("markBackEdges", () => {
  const node = (id, kind = "agent") => ({ id, data: { kind } });
  const edge = (id, source, target, extra = {}) => ({ id, source, target, data: { extra } });

  test("the edge that closes a cycle is the back-edge, drawn dashed and labelled loop", () => {
    const nodes = [node("a"), node("b", "loop"), node("c")];
    const edges = [edge("ab", "a", "b"), edge("bc", "b", "c"), edge("cb", "c", "b")];
    const marked = markBackEdges(nodes, edges);
    assert.deepEqual(marked.map((e) => e.className), ["", "", "edge-back"]);
    assert.equal(marked[2].animated, true);
    assert.equal(marked[2].label, "loop");
  });

  test("an unchanged edge is returned as the same object", () => {
    const nodes = [node("a"), node("b")];
    const once = markBackEdges(nodes, [edge("ab", "a", "b")]);
    assert.equal(markBackEdges(nodes, once)[0], once[0]);
  });

  test("edges out of a router and conditional edges are branches", () => {
    const nodes = [node("r", "router"), node("x"), node("y")];
    const marked = markBackEdges(nodes, [edge("rx", "r", "x"), edge("xy", "x", "y", { when: "ok" })]);
    assert.equal(marked[0].className, "edge-branch");
    assert.equal(marked[1].className, "edge-branch");
    assert.equal(marked[1].label, "ok");
  });
});

describe("pinProblems", () => {
  test("a pointer into a node or an edge pins the problem to it; others stay global", () => {
    const { nodes, edges } = graphOf(DOC);
    const pinned = pinProblems([
      { pointer: "/nodes/1/config/title", message: "title missing" },
      { pointer: "/edges/2", message: "bad edge" },
      { pointer: "/trigger", message: "no trigger" },
      { pointer: "/nodes/9", message: "no such node" },
    ], nodes, edges);
    assert.deepEqual(pinned.byNode, { review: ["title missing"] });
    assert.deepEqual(pinned.byEdge, { [edges[2].id]: ["bad edge"] });
    assert.deepEqual(pinned.pinned.map((p) => p.target), [{ node: "review" }, { edge: edges[2].id }, null, null]);
  });

  test("/nodes/10 is node 10, not node 1", () => {
    const nodes = Array.from({ length: 11 }, (_, i) => ({ id: `n${i}` }));
    assert.deepEqual(pinProblems([{ pointer: "/nodes/10/id", message: "m" }], nodes, []).byNode, { n10: ["m"] });
  });
});

describe("small helpers", () => {
  test("freshId takes the first free number of the kind", () => {
    assert.equal(freshId("agent", new Set()), "agent_1");
    assert.equal(freshId("agent", new Set(["agent_1", "agent_2", "agent_4"])), "agent_3");
  });

  test("withOnError writes continue and removes the default", () => {
    assert.deepEqual(withOnError({ retry: 2 }, "continue"), { retry: 2, on_error: "continue" });
    assert.deepEqual(withOnError({ on_error: "continue" }, "fail"), {});
  });

  test("a connection from the error handle becomes an error edge", () => {
    assert.deepEqual(connectionToEdge({ source: "a", target: "b", sourceHandle: ERROR_HANDLE }).data, { extra: { on: "error" } });
    assert.deepEqual(connectionToEdge({ source: "a", target: "b", sourceHandle: null }).data, { extra: {} });
  });

  test("sectionTitle names known sections and passes others through", () => {
    assert.equal(sectionTitle("policies"), "Guardrails");
    assert.equal(sectionTitle("custom"), "custom");
  });
});

describe("diffMarks", () => {
  test("added and changed nodes are marked; removed ones come back from the base version", () => {
    const diff = { sections: [{ section: "nodes", changes: [
      { item: "write", change: "changed" }, { item: "extra", change: "added" }, { item: "done", change: "removed" },
    ] }] };
    const marks = diffMarks(diff, DOC);
    assert.deepEqual(marks.status, { write: "changed", extra: "added" });
    assert.deepEqual(marks.removed.map((n) => n.id), ["done"]);
  });

  test("no nodes section: nothing marked", () => {
    assert.deepEqual(diffMarks({ sections: [] }, DOC), { status: {}, removed: [] });
  });
});

describe("describeChange", () => {
  test("keys changed are listed", () => {
    assert.equal(describeChange("nodes", { item: "review", change: "changed", keys: ["config.prompt", "on_error"] }),
      "review changed: config.prompt, on_error");
  });

  test("edges read with arrows and no values", () => {
    assert.equal(describeChange("edges", { item: "write -> done on error", change: "added", after: {} }),
      "write → done on error added");
  });

  test("values before and after are quoted and long ones cut", () => {
    assert.equal(describeChange("trigger", { item: "type", change: "changed", before: "manual", after: "webhook" }),
      "type changed: “manual” → “webhook”");
    const long = describeChange("name", { item: "name", change: "added", after: "x".repeat(200) });
    assert.ok(long.endsWith("…"));
    assert.ok(long.length < 100);
    assert.equal(describeChange("roi", { item: "hourly_cost", change: "removed", before: 40 }), "hourly_cost removed (was 40)");
  });
});
