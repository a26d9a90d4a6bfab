// A form generated from a JSON Schema: a node type's config (GET /api/node-types) and a tool's
// arguments (GET /api/tools, ToolArgs.jsx). One field per property, required ones first and
// marked; the label is the property's ``title`` (else its name made readable), the help its
// ``description``; enums are selects, booleans checkboxes, numbers number inputs, objects with
// properties a group of fields (``flat``: a JSON box, as other objects and arrays are).
// ``problems`` are the validator's, ``{path: [segments], message}`` relative to the object the
// form edits, each shown by the field it concerns.
import { Fragment, useEffect, useId, useState } from "react";
import { EnumSelect, JsonField, Preview, TemplateOrJson, isTemplate, readable } from "./fields.jsx";

export { PreviewContext, readable } from "./fields.jsx";

const LONG_FORMATS = new Set(["template", "condition"]);
const PLACEHOLDERS = {
  template: "Text; {{ input.name }} puts in a value",
  condition: "e.g. steps.check.output.score >= 70",
};

// The problems about property ``name``, relative to it.
export function problemsUnder(problems, name) {
  return problems.filter((p) => p.path[0] === name).map((p) => ({ ...p, path: p.path.slice(1) }));
}

function kindOf(schema, flat) {
  if (schema.enum) return "enum";
  const options = (schema.oneOf || []).map((o) => o.format);
  if (options.includes("template") && options.includes("template-object")) return "templateOrJson";
  if (schema.type === "boolean") return "boolean";
  if (schema.type === "number" || schema.type === "integer") return "number";
  if (schema.type === "string") {
    return LONG_FORMATS.has(schema.format) || (schema.maxLength || 0) > 500 ? "long" : "text";
  }
  if (schema.type === "object" && schema.properties && !schema.format && !flat) return "object";
  return "json";
}

// Back from a template to the field's own control: the text if it is a value of that kind.
function fromText(schema, kind, value) {
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

// ``{"oneOf": [{"type": "number", ...}, {"type": "string", "format": "template"}]}`` (a wait's
// seconds): the typed option's control, which may switch to a template.
function typedOrTemplate(schema) {
  const options = schema.oneOf || [];
  const typed = options.filter((o) => o.type && o.type !== "string" && o.type !== "object");
  if (typed.length !== 1 || !options.some((o) => o.format === "template")) return null;
  const { oneOf, ...rest } = schema;
  return { ...typed[0], ...rest };
}

function Field({ name, schema: given, value, onChange, disabled, suggestions, required, problems, templates: any, flat, note, onRemove }) {
  const id = useId();
  const union = typedOrTemplate(given);
  const schema = union || given;
  const templates = any || Boolean(union);
  const title = schema.title || readable(name);
  const kind = kindOf(schema, flat);
  // Every tool argument may be a template (the validator accepts one wherever a value goes):
  // fields whose own control cannot hold one switch to text.
  const canTemplate = templates && !["text", "long", "templateOrJson", "object"].includes(kind);
  const [chosen, setTemplated] = useState(false);
  // A string where the control takes another kind (a template, or text put in as raw JSON)
  // is shown as text, so nothing in the value is hidden.
  const templated = canTemplate && (chosen || (typeof value === "string" && !(schema.enum || []).includes(value)));
  const hint = [schema.description, note].filter(Boolean).join(" ");
  const messages = problems.map((p) => p.message);
  const hintId = hint ? `${id}-hint` : undefined;
  const errorId = messages.length ? `${id}-problem` : undefined;
  const previewId = `${id}-preview`;
  const mayPreview = templated || kind === "templateOrJson"
    || ((kind === "long" || kind === "text") && (LONG_FORMATS.has(schema.format) || templates));
  const describedBy = [hintId, errorId, mayPreview && previewId].filter(Boolean).join(" ") || undefined;
  const set = (v) => onChange(v === "" ? undefined : v);
  const a11y = {
    id, disabled, "aria-describedby": describedBy, "aria-invalid": messages.length ? "true" : undefined,
    "aria-required": required ? "true" : undefined,
  };
  // The mark stays outside the label: the field's name is its title alone (aria-required says it).
  const label = (
    <>
      <label htmlFor={id}>{title}</label>
      {required && <span className="field-required" aria-hidden="true" title="required">*</span>}
    </>
  );
  const extras = (
    <>
      {hint && <span id={hintId} className="field-note">{hint}</span>}
      {errorId && <span id={errorId} className="field-problem" data-problem-for={name}>{messages.join("; ")}</span>}
    </>
  );
  if (kind === "object") {
    return (
      <fieldset className="field-group" data-field={name} aria-describedby={describedBy}>
        <legend>{title}</legend>
        {hint && <p id={hintId} className="field-note">{hint}</p>}
        <ObjectFields schema={schema} value={value || {}} disabled={disabled}
          problems={problems.filter((p) => p.path.length)}
          onChange={(v) => onChange(Object.keys(v).length ? v : undefined)} />
        {problems.some((p) => !p.path.length) && (
          <span id={errorId} className="field-problem">{problems.filter((p) => !p.path.length).map((p) => p.message).join("; ")}</span>
        )}
      </fieldset>
    );
  }
  const toggle = canTemplate && !disabled && (
    <button type="button" className="template-toggle" aria-pressed={templated ? "true" : "false"}
      aria-label={`${title}: use a template`} title="Use a template, e.g. {{ input.count }}"
      onClick={() => {
        if (templated) onChange(fromText(schema, kind, value));
        setTemplated(!templated);
      }}>{"{{ }}"}</button>
  );
  let control;
  if (templated) {
    control = (
      <>
        <input type="text" className="mono" value={typeof value === "string" ? value : value === undefined ? "" : JSON.stringify(value)}
          placeholder="{{ input.name }}" {...a11y} onChange={(e) => set(e.target.value)} />
        <Preview kind="template" text={value} id={previewId} />
      </>
    );
  } else if (kind === "boolean") {
    // Unticked is "absent" (the default) unless the field is required or defaults to true.
    const off = required || schema.default === true ? false : undefined;
    return (
      <div className="field field-check" data-field={name}>
        <input type="checkbox" checked={value === true} {...a11y} onChange={(e) => onChange(e.target.checked ? true : off)} />
        {label}
        {toggle}
        {extras}
      </div>
    );
  } else if (kind === "enum") {
    control = <EnumSelect schema={schema} value={value} set={set} {...a11y} />;
  } else if (kind === "number") {
    control = (
      <input type="number" value={value ?? ""} step={schema.type === "integer" ? 1 : "any"} min={schema.minimum}
        max={schema.maximum} placeholder={schema.default !== undefined ? String(schema.default) : undefined} {...a11y}
        onChange={(e) => set(e.target.value === "" ? undefined : Number(e.target.value))} />
    );
  } else if (kind === "long" || kind === "text") {
    const previewKind = schema.format === "condition" ? "condition" : "template";
    const previews = LONG_FORMATS.has(schema.format) || templates;
    const placeholder = PLACEHOLDERS[schema.format] || (templates ? "Text, or a template: {{ input.name }}" : undefined);
    const listId = suggestions?.length ? `${id}-list` : undefined;
    control = (
      <>
        {kind === "long" ? (
          <textarea rows={schema.format === "condition" ? 2 : 4} className="mono" value={value ?? ""}
            placeholder={placeholder} {...a11y} onChange={(e) => set(e.target.value)} />
        ) : (
          <input type="text" value={value ?? ""} list={listId} placeholder={placeholder} {...a11y}
            onChange={(e) => set(e.target.value)} />
        )}
        {listId && <datalist id={listId}>{suggestions.map((s) => <option key={s} value={s} />)}</datalist>}
        {previews && <Preview kind={previewKind} text={value} id={previewId} />}
      </>
    );
  } else if (kind === "templateOrJson") {
    control = <TemplateOrJson id={id} value={value} onChange={onChange} disabled={disabled} describedBy={describedBy} invalid={messages.length > 0} />;
  } else {
    control = <JsonField id={id} value={value} onChange={onChange} disabled={disabled} describedBy={describedBy} invalid={messages.length > 0} />;
  }
  return (
    <div className="field" data-field={name} data-invalid={messages.length ? "true" : undefined}>
      <div className="field-label-row">
        {label}
        {toggle}
        {onRemove && !disabled && (
          <button type="button" className="linkish field-remove" onClick={onRemove} aria-label={`Remove ${title}`}>Remove</button>
        )}
      </div>
      {control}
      {extras}
    </div>
  );
}

// The fields of ``advanced`` (and ``extra``, the node's failure choice) folded away, closed:
// its summary says how many are set; a problem in one opens it.
function Advanced({ note, set, problems, children }) {
  const [open, setOpen] = useState(false);
  useEffect(() => {
    if (problems > 0) setOpen(true);
  }, [problems]);
  return (
    <details className="field-advanced" open={open} onToggle={(e) => setOpen(e.currentTarget.open)} data-set={set}>
      <summary>
        Advanced
        {set > 0 && <span className="field-note"> · {set} set</span>}
        {problems > 0 && <span className="field-problem"> · {problems} problem{problems > 1 ? "s" : ""}</span>}
      </summary>
      {note && <p className="field-note advanced-note">{note}</p>}
      {children}
    </details>
  );
}

// ``custom[name](props)`` renders that property itself (a tool call's arguments); ``showUnknown``
// also lists keys the schema does not have (removable), so nothing in the value is hidden.
export function ObjectFields({
  schema, value, onChange, disabled, suggestions = {}, problems = [], advanced = [], advancedNote,
  advancedExtra, advancedExtraSet = false, custom = {}, templates = false, flat = false, showUnknown = false,
  unknownNote,
}) {
  const props = schema.properties || {};
  const required = new Set(schema.required || []);
  const current = value || {};
  const names = Object.keys(props).sort((a, b) => (required.has(b) ? 1 : 0) - (required.has(a) ? 1 : 0));
  const put = (name, v) => {
    const next = { ...current };
    if (v === undefined) delete next[name];
    else next[name] = v;
    onChange(next);
  };
  const field = (name, spec = props[name], extra = {}) => {
    const common = {
      name, schema: spec, value: current[name], disabled, required: required.has(name),
      problems: problemsUnder(problems, name), onChange: (v) => put(name, v),
    };
    if (custom[name]) return <Fragment key={name}>{custom[name](common)}</Fragment>;
    return <Field key={name} {...common} suggestions={suggestions[name]} templates={templates} flat={flat} {...extra} />;
  };
  const unknown = showUnknown ? Object.keys(current).filter((k) => !(k in props)) : [];
  const later = advanced.filter((n) => n in props); // in the order the node type gives them
  const setLater = later.filter((n) => current[n] !== undefined).length + (advancedExtraSet ? 1 : 0);
  return (
    <>
      {names.filter((n) => !advanced.includes(n)).map((n) => field(n))}
      {unknown.map((k) => field(k, {}, { note: unknownNote, onRemove: () => put(k, undefined) }))}
      {(later.length > 0 || advancedExtra) && (
        <Advanced note={advancedNote} set={setLater} problems={problems.filter((p) => later.includes(p.path[0])).length}>
          {later.map((n) => field(n))}
          {advancedExtra}
        </Advanced>
      )}
    </>
  );
}
