import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { fromText, kindOf, parseList, plainText, problemsUnder, typedOrTemplate } from "./schema.js";
import { isTemplate, readable } from "./template.js";

describe("kindOf", () => {
  const cases = [
    [{ enum: ["run", "flow_day"] }, "enum"],
    [{ oneOf: [{ format: "template" }, { format: "template-object" }] }, "templateOrJson"],
    [{ type: "boolean" }, "boolean"],
    [{ type: "integer" }, "number"],
    [{ type: "string" }, "text"],
    [{ type: "string", format: "condition" }, "long"],
    [{ type: "string", maxLength: 4000 }, "long"],
    [{ type: ["string", "number"] }, "text"],
    [{ type: ["string", "number", "boolean"] }, "json"],
    [{ type: "array", items: { enum: ["mon", "tue"] } }, "choices"],
    [{ type: "array", items: { type: "string" } }, "list"],
    [{ type: "array", items: { type: "object" } }, "json"],
    [{ type: "object", properties: { a: {} } }, "object"],
    [{ type: "object" }, "json"],
    [{}, "json"],
  ];
  for (const [schema, kind] of cases) {
    test(`${JSON.stringify(schema)} is ${kind}`, () => assert.equal(kindOf(schema), kind));
  }
  test("flat (a tool's arguments): arrays and objects are JSON boxes", () => {
    assert.equal(kindOf({ type: "array", items: { type: "string" } }, true), "json");
    assert.equal(kindOf({ type: "object", properties: { a: {} } }, true), "json");
  });
});

describe("fromText", () => {
  test("a template stays nothing; a value of the control's kind comes back", () => {
    assert.equal(fromText({}, "number", "{{ input.n }}"), undefined);
    assert.equal(fromText({}, "number", "12"), 12);
    assert.equal(fromText({}, "number", "twelve"), undefined);
    assert.equal(fromText({}, "boolean", "false"), false);
    assert.equal(fromText({ enum: [1, 2] }, "enum", "2"), 2);
    assert.deepEqual(fromText({}, "json", '{"a": 1}'), { a: 1 });
    assert.equal(fromText({}, "number", 7), 7);
  });
});

describe("typedOrTemplate", () => {
  test("a number-or-template union is the number's schema with the outer title", () => {
    const schema = { title: "Seconds", oneOf: [{ type: "number", minimum: 0 }, { type: "string", format: "template" }] };
    assert.deepEqual(typedOrTemplate(schema), { type: "number", minimum: 0, title: "Seconds" });
    assert.equal(typedOrTemplate({ type: "number" }), null);
  });
});

describe("text helpers", () => {
  test("a list is trimmed, without empties or repeats", () => {
    assert.deepEqual(parseList(" a, b,,a , "), { value: ["a", "b"] });
    assert.deepEqual(parseList(" , "), { value: undefined });
  });
  test("problems under a property are relative to it", () => {
    assert.deepEqual(problemsUnder([{ path: ["args", "to"], message: "m" }, { path: ["x"], message: "n" }], "args"),
      [{ path: ["to"], message: "m" }]);
  });
  test("descriptions lose their code quotes; names read as words; templates are spotted", () => {
    assert.equal(plainText("Tool names (``*`` wildcards allowed)"), "Tool names (* wildcards allowed)");
    assert.equal(readable("max_loop_iterations"), "Max loop iterations");
    assert.equal(readable("sampleOneIn"), "Sample one in");
    assert.equal(isTemplate("Hi {{ input.name }}"), true);
    assert.equal(isTemplate("{% if x %}"), true);
    assert.equal(isTemplate("plain"), false);
  });
});
