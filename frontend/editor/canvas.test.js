import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { decorateEdges, decorateNodes, stepsByNode, summary } from "./canvas.js";

const node = (id, kind, config = {}) => ({ id, type: "step", position: { x: 0, y: 0 }, data: { kind, config, extra: {} } });
const NONE = { byNode: {}, byEdge: {} };
const base = { edges: [], typeByName: {}, problems: NONE, steps: {}, marks: null, load: null };

describe("summary", () => {
  test("names what an agent, a tool or a loop runs, and nothing for the others", () => {
    assert.equal(summary("agent", { agent: "writer" }), "agent: writer");
    assert.equal(summary("tool", { tool: "send_email" }), "tool: send_email");
    assert.equal(summary("loop", { until: "done" }), "until done");
    assert.equal(summary("agent", {}), "");
    assert.equal(summary("end", { output: "x" }), "");
  });
});

describe("decorateNodes", () => {
  test("puts problems, step state, diff mark and load on each node", () => {
    const nodes = [node("write", "agent", { agent: "writer" })];
    const [shown] = decorateNodes({
      ...base, nodes,
      problems: { byNode: { write: ["no prompt"] }, byEdge: {} },
      steps: stepsByNode({ data: { steps: [{ node_id: "write", status: "running" }] } }),
      marks: { status: { write: "changed" }, removed: [] },
      load: { nodes: { write: { active: 2, waiting: 0 } } },
    });
    assert.deepEqual(shown.data.problems, ["no prompt"]);
    assert.equal(shown.data.state, "running");
    assert.equal(shown.data.summary, "agent: writer");
    assert.equal(shown.data.diff, "changed");
    assert.deepEqual(shown.data.load, { active: 2, waiting: 0 });
    assert.equal(nodes[0].data.problems, undefined); // the edited graph is left alone
  });

  test("a node whose decorations did not change is the same object", () => {
    const once = decorateNodes({ ...base, nodes: [node("a", "end")], load: { nodes: { a: { active: 1, waiting: 0 } } } });
    const again = decorateNodes({ ...base, nodes: once, load: { nodes: { a: { active: 1, waiting: 0 } } } });
    assert.equal(again[0], once[0]);
    const moved = decorateNodes({ ...base, nodes: once, load: { nodes: { a: { active: 0, waiting: 1 } } } });
    assert.notEqual(moved[0], once[0]);
  });

  test("no error handle where the type routes no errors, unless an error edge leaves the node", () => {
    const typeByName = { approval: { error_edges: false } };
    const nodes = [node("review", "approval"), node("other", "approval"), node("write", "agent")];
    const edges = [{ id: "e", source: "other", target: "write", data: { extra: { on: "error" } } }];
    const shown = decorateNodes({ ...base, nodes, edges, typeByName });
    assert.deepEqual(shown.map((n) => n.data.errorHandle), [false, true, true]);
  });

  test("removed nodes of the compared version are ghosts where they stood", () => {
    const shown = decorateNodes({ ...base, nodes: [], marks: { status: {}, removed: [{ id: "old", type: "tool", position: { x: 5, y: 6 } }] } });
    assert.equal(shown.length, 1);
    assert.equal(shown[0].id, "removed:old");
    assert.equal(shown[0].type, "ghost");
    assert.deepEqual(shown[0].position, { x: 5, y: 6 });
    assert.equal(shown[0].selectable, false);
  });
});

describe("decorateEdges", () => {
  test("an edge with a problem gets edge-problem; the others stay the same objects", () => {
    const edges = [{ id: "a", className: "edge-back" }, { id: "b" }];
    const shown = decorateEdges(edges, { byNode: {}, byEdge: { a: ["bad"] } });
    assert.equal(shown[0].className, "edge-back edge-problem");
    assert.equal(shown[1], edges[1]);
  });
});

describe("stepsByNode", () => {
  test("the last step of each node; none without a run", () => {
    const run = { data: { steps: [{ node_id: "a", status: "failed" }, { node_id: "a", status: "succeeded" }] } };
    assert.equal(stepsByNode(run).a.status, "succeeded");
    assert.deepEqual(stepsByNode(null), {});
  });
});
