// The controls a generated form (SchemaForm.jsx) is made of besides plain inputs: the server's
// preview of a template, a JSON box, a box for "one template or a JSON object", a select of enum
// values, checkboxes for a list of enum values and a comma-separated list of names.
import { createContext, useContext, useEffect, useState } from "react";
import { parseList } from "./schema.js";
import { isTemplate } from "./template.js";

export { isTemplate, readable } from "./template.js";

// What template and condition fields preview against: ``{ run(kind, text) -> Promise<value> }``
// built by the editor from the sample input and the last test run's step outputs.
/** @type {import("react").Context<{run: (kind: string, text: string) => Promise<any>} | null>} */
export const PreviewContext = createContext(null);

function show(value) {
  return typeof value === "string" ? value : JSON.stringify(value);
}

// The field's value rendered by the server's sandboxed engine, a moment after typing stops. While
// the text changes the last answer stays shown; a field with nothing to preview shows none.
export function Preview({ kind, text, id }) {
  const preview = useContext(PreviewContext);
  const [answer, setAnswer] = useState(null);
  const wanted = Boolean(preview) && typeof text === "string" && text !== "" && (kind !== "template" || isTemplate(text));
  const [wasWanted, setWasWanted] = useState(wanted);
  if (wanted !== wasWanted) {
    setWasWanted(wanted);
    if (!wanted) setAnswer(null);
  }
  useEffect(() => {
    if (!wanted) return undefined;
    let live = true;
    const timer = setTimeout(() => {
      preview.run(kind, text).then(
        (value) => live && setAnswer({ ok: true, text: show(value) }),
        (err) => live && setAnswer({ ok: false, text: err.message }),
      );
    }, 300);
    return () => { live = false; clearTimeout(timer); };
  }, [wanted, preview, kind, text]);
  const state = wanted ? answer : null;
  if (!state) return null;
  return (
    <output id={id} className={`field-preview${state.ok ? "" : " is-error"}`} aria-live="polite"
      data-preview={state.ok ? "ok" : "error"}>
      <span className="field-preview-label">{state.ok ? "Preview with the sample input: " : "Cannot preview: "}</span>
      <span className="mono">{state.text}</span>
    </output>
  );
}

/**
 * Text typed in a box that stands for ``value``: the box keeps what the user typed (an edit is
 * not reformatted under the cursor) and is rewritten only when the value changes from elsewhere
 * (undo, the form beside it). ``parse(text)`` gives ``{value}`` to pass on or ``{error}`` to
 * show; while the text is in error the last good value stays and ``onValidity`` hears why (and
 * hears null once it is good again).
 * @param {any} value
 * @param {(value: any) => string} format
 * @param {(text: string) => {value?: any, error?: string}} parse
 * @param {(value: any) => void} onChange
 * @param {(error: string | null) => void} [onValidity]
 */
export function useTypedText(value, format, parse, onChange, onValidity) {
  const key = JSON.stringify(value ?? null);
  // ``key``: the value the text stands for (the last one it gave, or the one it was reset to).
  const [draft, setDraft] = useState(() => ({ text: format(value), key }));
  let text = draft.text;
  if (draft.key !== key) {
    text = format(value);
    setDraft({ text, key });
  }
  const error = (text.trim() ? parse(text) : {}).error || null;
  useEffect(() => {
    onValidity?.(error);
  }, [error, onValidity]);
  const edit = (next) => {
    const result = next.trim() ? parse(next) : { value: undefined };
    if (result.error) {
      setDraft({ text: next, key });
      return;
    }
    setDraft({ text: next, key: JSON.stringify(result.value ?? null) });
    onChange(result.value);
  };
  return { text, error, edit };
}

function parseJson(text, validate) {
  let value;
  try {
    value = JSON.parse(text);
  } catch (e) {
    return { error: `Not valid JSON: ${e.message}` };
  }
  const refused = validate?.(value);
  return refused ? { error: refused } : { value };
}

/**
 * A JSON value typed as text; ``validate(value)`` may refuse a parsed value with a message.
 * @param {{id: string, value: any, onChange: (value: any) => void, disabled?: boolean,
 *   validate?: (value: any) => string | null, onValidity?: (error: string | null) => void, rows?: number,
 *   describedBy?: string, invalid?: boolean}} props
 */
export function JsonField({ id, value, onChange, disabled, validate, onValidity, rows = 4, describedBy, invalid }) {
  const format = (v) => (v === undefined ? "" : JSON.stringify(v, null, 2));
  const { text, error, edit } = useTypedText(value, format, (t) => parseJson(t, validate), onChange, onValidity);
  const errorId = `${id}-json`;
  return (
    <>
      <textarea id={id} className="mono" rows={rows} value={text} disabled={disabled} spellCheck={false}
        aria-invalid={error || invalid ? "true" : undefined}
        aria-describedby={[describedBy, error && errorId].filter(Boolean).join(" ") || undefined}
        onChange={(ev) => edit(ev.target.value)} />
      {error && <span id={errorId} className="field-problem" data-json-error="true">{error}</span>}
    </>
  );
}

const OPENS_OBJECT = /^{(?![{%])/;

// One template (text), or a JSON object whose values may be templates (an end node's output,
// a subflow's input): text that opens with "{" (not "{{") is read as the object, anything else
// is the template.
export function TemplateOrJson({ id, value, onChange, disabled, describedBy, invalid }) {
  const format = (v) => (v === undefined ? "" : typeof v === "string" ? v : JSON.stringify(v, null, 2));
  const parse = (t) => {
    if (!OPENS_OBJECT.test(t.trim())) return { value: t };
    return parseJson(t, (v) => (v && typeof v === "object" && !Array.isArray(v) ? null : "Not a JSON object"));
  };
  const { text, error, edit } = useTypedText(value, format, parse, onChange);
  const errorId = `${id}-json`;
  return (
    <>
      <textarea id={id} className="mono" rows={4} value={text} disabled={disabled} spellCheck={false}
        placeholder={"{{ steps.write.output }}  or  { \"reply\": \"{{ steps.write.output }}\" }"}
        aria-invalid={error || invalid ? "true" : undefined}
        aria-describedby={[describedBy, error && errorId].filter(Boolean).join(" ") || undefined}
        onChange={(ev) => edit(ev.target.value)} />
      {error && <span id={errorId} className="field-problem" data-json-error="true">{error}</span>}
      {typeof value === "string" && <Preview kind="template" text={value} id={`${id}-preview`} />}
    </>
  );
}

// A choice among ``schema.enum`` (the values keep their type); a value outside it stays shown.
export function EnumSelect({ id, schema, value, set, ...rest }) {
  const listed = schema.enum.some((v) => String(v) === String(value));
  return (
    <select id={id} value={value === undefined ? "" : String(value)} {...rest}
      onChange={(e) => set(schema.enum.find((v) => String(v) === e.target.value) ?? (e.target.value || undefined))}>
      <option value="">{schema.default !== undefined ? `(default: ${schema.default})` : "—"}</option>
      {schema.enum.map((v) => <option key={String(v)} value={String(v)}>{String(v)}</option>)}
      {value !== undefined && !listed && <option value={String(value)}>{String(value)} (not a choice)</option>}
    </select>
  );
}

/**
 * Names typed comma-separated (repeats dropped); an empty box is no value.
 * @param {{id: string, value: any, onChange: (value: any) => void, disabled?: boolean,
 *   describedBy?: string, invalid?: boolean, required?: boolean}} props
 */
export function ListInput({ id, value, onChange, disabled, describedBy, invalid, required }) {
  const { text, edit } = useTypedText(value, (v) => (Array.isArray(v) ? v.join(", ") : ""), parseList, onChange);
  return (
    <input id={id} type="text" value={text} disabled={disabled} aria-describedby={describedBy}
      aria-invalid={invalid || undefined} aria-required={required || undefined} onChange={(e) => edit(e.target.value)} />
  );
}

/**
 * Checkboxes for the values of ``options`` (kept in their order); none ticked is no value.
 * @param {{options: any[], value: any, onChange: (value: any) => void, disabled?: boolean}} props
 */
export function ChoiceList({ options, value, onChange, disabled }) {
  const chosen = new Set(Array.isArray(value) ? value : []);
  return (
    <div className="field-choices">
      {options.map((option) => (
        <label key={String(option)} className="field-choice">
          <input type="checkbox" checked={chosen.has(option)} disabled={disabled}
            onChange={(e) => {
              const next = options.filter((o) => (o === option ? e.target.checked : chosen.has(o)));
              onChange(next.length ? next : undefined);
            }} />
          {" "}{String(option)}
        </label>
      ))}
    </div>
  );
}
