// How SchemaForm.jsx reads a JSON Schema: which control a property gets, and the conversions
// between a control's text and the value in the document. Pure.
import { isTemplate } from "./template.js";

export const LONG_FORMATS = new Set(["template", "condition"]);
export const PLACEHOLDERS = {
  template: "Text; {{ input.name }} puts in a value",
  condition: "e.g. steps.check.output.score >= 70",
};

/** The problems about property ``name``, relative to it (``{path, message}``, path in segments). */
export function problemsUnder(problems, name) {
  return problems.filter((p) => p.path[0] === name).map((p) => ({ ...p, path: p.path.slice(1) }));
}

function typesOf(schema) {
  return Array.isArray(schema.type) ? schema.type : schema.type ? [schema.type] : [];
}

/**
 * The control for property schema ``schema``: "enum" (a select), "templateOrJson", "boolean",
 * "number", "long" (a text area: templates, conditions, long strings), "text" (also for a
 * string-or-number), "choices" (an array of enum values: checkboxes), "list" (an array of strings:
 * comma-separated text), "object" (a group of fields) or "json" (a JSON box). ``flat`` (a tool's
 * arguments): objects and arrays are JSON boxes, as any value there may be a template.
 */
export function kindOf(schema, flat = false) {
  if (schema.enum) return "enum";
  const options = (schema.oneOf || []).map((o) => o.format);
  if (options.includes("template") && options.includes("template-object")) return "templateOrJson";
  const types = typesOf(schema);
  if (types.length === 1 && types[0] === "boolean") return "boolean";
  if (types.length === 1 && (types[0] === "number" || types[0] === "integer")) return "number";
  if (types.includes("string") && types.every((t) => ["string", "number", "integer"].includes(t))) {
    return LONG_FORMATS.has(schema.format) || (schema.maxLength || 0) > 500 ? "long" : "text";
  }
  if (!flat && types.length === 1 && types[0] === "array") {
    const items = schema.items || {};
    if (Array.isArray(items.enum)) return "choices";
    if (typesOf(items).join() === "string") return "list";
  }
  if (types.length === 1 && types[0] === "object" && schema.properties && !schema.format && !flat) return "object";
  return "json";
}

/**
 * Back from a template to the field's own control: the value ``text`` stands for in a control of
 * ``kind``, or undefined when it is a template or not a value of that kind.
 */
export function fromText(schema, kind, value) {
  if (typeof value !== "string" || isTemplate(value)) return typeof value === "string" ? undefined : value;
  if (kind === "number") return value.trim() !== "" && Number.isFinite(Number(value)) ? Number(value) : undefined;
  if (kind === "boolean") return value === "true" ? true : value === "false" ? false : undefined;
  if (kind === "enum") return schema.enum.find((v) => String(v) === value);
  try {
    return JSON.parse(value);
  } catch {
    return undefined;
  }
}

/**
 * ``{"oneOf": [{"type": "number", ...}, {"type": "string", "format": "template"}]}`` (a wait's
 * seconds): the typed option's schema (with the outer title and description), whose control may
 * switch to a template; null for any other schema.
 */
export function typedOrTemplate(schema) {
  const options = schema.oneOf || [];
  const typed = options.filter((o) => o.type && o.type !== "string" && o.type !== "object");
  if (typed.length !== 1 || !options.some((o) => o.format === "template")) return null;
  const { oneOf: _oneOf, ...rest } = schema;
  return { ...typed[0], ...rest };
}

/** A comma-separated list as typed: its items trimmed, empty ones and repeats dropped (undefined for none). */
export function parseList(text) {
  const items = [...new Set(text.split(",").map((s) => s.trim()).filter(Boolean))];
  return { value: items.length ? items : undefined };
}

/** A schema description as plain text: the server writes code as ``code``. */
export function plainText(text) {
  return text ? text.replace(/``/g, "") : text;
}
