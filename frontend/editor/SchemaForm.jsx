// A form generated from a JSON Schema: a node type's config (GET /api/node-types) and a tool's
// arguments (GET /api/tools, ToolArgs.jsx). One field per property, required ones first and
// marked; the label is the property's ``title`` (else its name made readable), the help its
// ``description``; enums are selects, booleans checkboxes, numbers number inputs, lists of enum
// values checkboxes, lists of names comma-separated text, objects with properties a group of
// fields (``flat``: objects and arrays are JSON boxes). The flow's guardrails (Guardrails.jsx)
// use it for each policy kind's config (GET /api/policy-kinds).
// ``problems`` are the validator's, ``{path: [segments], message}`` relative to the object the
// form edits, each shown by the field it concerns.
import { Fragment, useId, useState } from "react";
import { ChoiceList, EnumSelect, JsonField, ListInput, Preview, TemplateOrJson, readable } from "./fields.jsx";
import {
  LONG_FORMATS, PLACEHOLDERS, fromText, kindOf, plainText, problemsUnder, typedOrTemplate,
} from "./schema.js";

export { PreviewContext, readable } from "./fields.jsx";
export { problemsUnder } from "./schema.js";

/**
 * @typedef {{path: string[], message: string}} FieldProblem
 * @typedef {{name: string, schema: any, value: any, onChange: (value: any) => void, disabled?: boolean,
 *   required?: boolean, problems: FieldProblem[]}} FieldProps what ``custom`` renderers get
 */

/**
 * One property's field; its control is chosen by ``kindOf`` (schema.js). ``id``: the control's
 * id (generated when not given).
 * @param {FieldProps & {id?: string, suggestions?: string[], templates?: boolean, flat?: boolean,
 *   note?: string, onRemove?: () => void}} props
 */
function Field({ id: givenId, name, schema: given, value, onChange, disabled, suggestions, required, problems, templates: any, flat, note, onRemove }) {
  const generated = useId();
  const id = givenId || generated;
  const union = typedOrTemplate(given);
  const schema = union || given;
  const templates = any || Boolean(union);
  const title = schema.title || readable(name);
  const kind = kindOf(schema, flat);
  // Every tool argument may be a template (the validator accepts one wherever a value goes):
  // fields whose own control cannot hold one switch to text.
  const canTemplate = templates && !["text", "long", "templateOrJson", "object", "choices", "list"].includes(kind);
  const [chosen, setTemplated] = useState(false);
  // A string where the control takes another kind (a template, or text put in as raw JSON)
  // is shown as text, so nothing in the value is hidden.
  const templated = canTemplate && (chosen || (typeof value === "string" && !(schema.enum || []).includes(value)));
  const hint = [plainText(schema.description), kind === "list" && "Comma-separated.", note].filter(Boolean).join(" ");
  const messages = problems.map((p) => p.message);
  const hintId = hint ? `${id}-hint` : undefined;
  const errorId = messages.length ? `${id}-problem` : undefined;
  const previewId = `${id}-preview`;
  const mayPreview = templated || kind === "templateOrJson"
    || ((kind === "long" || kind === "text") && (LONG_FORMATS.has(schema.format) || templates));
  const describedBy = [hintId, errorId, mayPreview && previewId].filter(Boolean).join(" ") || undefined;
  const invalid = messages.length > 0;
  const set = (v) => onChange(v === "" ? undefined : v);
  const a11y = {
    id, disabled, "aria-describedby": describedBy, "aria-invalid": invalid || undefined,
    "aria-required": required || undefined,
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
  if (kind === "object" || kind === "choices") {
    const own = problems.filter((p) => !p.path.length || kind === "choices");
    return (
      <fieldset className="field-group" data-field={name} aria-describedby={describedBy}>
        <legend>{title}</legend>
        {hint && <p id={hintId} className="field-note">{hint}</p>}
        {kind === "object" ? (
          <ObjectFields schema={schema} value={value || {}} disabled={disabled} idPrefix={givenId}
            problems={problems.filter((p) => p.path.length)}
            onChange={(v) => onChange(Object.keys(v).length ? v : undefined)} />
        ) : <ChoiceList options={schema.items.enum} value={value} disabled={disabled} onChange={onChange} />}
        {own.length > 0 && <span id={errorId} className="field-problem">{own.map((p) => p.message).join("; ")}</span>}
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
  } else if (kind === "list") {
    control = <ListInput id={id} value={value} onChange={onChange} disabled={disabled} describedBy={describedBy}
      invalid={invalid} required={required} />;
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
    control = <TemplateOrJson id={id} value={value} onChange={onChange} disabled={disabled} describedBy={describedBy} invalid={invalid} />;
  } else {
    control = <JsonField id={id} value={value} onChange={onChange} disabled={disabled} describedBy={describedBy} invalid={invalid} />;
  }
  return (
    <div className="field" data-field={name} data-invalid={invalid ? "true" : undefined}>
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
// its summary says how many are set; a problem in one opens it (a new problem opens it again).
function Advanced({ note, set, problems, children }) {
  const [open, setOpen] = useState(problems > 0);
  const [seenProblems, setSeenProblems] = useState(problems);
  if (problems !== seenProblems) {
    setSeenProblems(problems);
    if (problems > 0) setOpen(true);
  }
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

/**
 * The fields of an object schema. ``custom[name](props)`` renders that property itself (a tool
 * call's arguments); ``showUnknown`` also lists keys the schema does not have (removable), so
 * nothing in the value is hidden; ``idPrefix``: each control's id is ``<idPrefix>-<name>``
 * (generated ids otherwise).
 * @param {{schema: any, value: any, onChange: (value: any) => void, disabled?: boolean,
 *   suggestions?: Record<string, string[]>, problems?: FieldProblem[], advanced?: string[],
 *   advancedNote?: string, advancedExtra?: import("react").ReactNode, advancedExtraSet?: boolean,
 *   custom?: Record<string, (props: FieldProps) => import("react").ReactNode>, templates?: boolean,
 *   flat?: boolean, showUnknown?: boolean, unknownNote?: string, idPrefix?: string}} props
 */
export function ObjectFields({
  schema, value, onChange, disabled, suggestions = {}, problems = [], advanced = [], advancedNote,
  advancedExtra, advancedExtraSet = false, custom = {}, templates = false, flat = false, showUnknown = false,
  unknownNote, idPrefix,
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
    return <Field key={name} id={idPrefix ? `${idPrefix}-${name}` : undefined} {...common}
      suggestions={suggestions[name]} templates={templates} flat={flat} {...extra} />;
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
