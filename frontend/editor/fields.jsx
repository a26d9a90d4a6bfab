// The controls a generated form (SchemaForm.jsx) is made of besides plain inputs: the server's
// preview of a template, a JSON box, and a box for "one template or a JSON object".
import { createContext, useContext, useEffect, useRef, useState } from "react";

// What template and condition fields preview against: ``{ run(kind, text) -> Promise<value> }``
// built by the editor from the sample input and the last test run's step outputs.
export const PreviewContext = createContext(null);

// A property name as words: "max_attempts" -> "Max attempts", "sampleOneIn" -> "Sample one in".
export function readable(name) {
  const words = String(name).replace(/([a-z0-9])([A-Z])/g, "$1 $2").replace(/[_\-.]+/g, " ").trim().toLowerCase();
  return words ? words[0].toUpperCase() + words.slice(1) : String(name);
}

// As the engine sees it (agents/tools ``is_template``): text it renders, whose value is unknown
// until the run.
export function isTemplate(value) {
  return typeof value === "string" && /{{|{%/.test(value);
}

function show(value) {
  return typeof value === "string" ? value : JSON.stringify(value);
}

// The field's value rendered by the server's sandboxed engine, a moment after typing stops.
export function Preview({ kind, text, id }) {
  const preview = useContext(PreviewContext);
  const [state, setState] = useState(null);
  useEffect(() => {
    if (!preview || typeof text !== "string" || !text || (kind === "template" && !isTemplate(text))) {
      setState(null);
      return undefined;
    }
    let live = true;
    const timer = setTimeout(() => {
      preview.run(kind, text).then(
        (value) => live && setState({ ok: true, text: show(value) }),
        (err) => live && setState({ ok: false, text: err.message }),
      );
    }, 300);
    return () => { live = false; clearTimeout(timer); };
  }, [preview, kind, text]);
  if (!state) return null;
  return (
    <output id={id} className={`field-preview${state.ok ? "" : " is-error"}`} aria-live="polite"
      data-preview={state.ok ? "ok" : "error"}>
      <span className="field-preview-label">{state.ok ? "Preview with the sample input: " : "Cannot preview: "}</span>
      <span className="mono">{state.text}</span>
    </output>
  );
}

// Text typed in a box that stands for ``value``: the box keeps what the user typed (an edit is
// not reformatted under the cursor) and is rewritten only when the value changes from elsewhere
// (undo, the form beside it). ``parse(text)`` gives ``{value}`` to pass on or ``{error}`` to
// show; while the text is in error the last good value stays and ``onValidity`` hears why.
function useTypedText(value, format, parse, onChange, onValidity) {
  const [text, setText] = useState(() => format(value));
  const [error, setError] = useState(null);
  const key = JSON.stringify(value);
  const emitted = useRef(key);
  const report = (message) => {
    setError(message);
    onValidity?.(message);
  };
  useEffect(() => {
    if (key === emitted.current) return;
    emitted.current = key;
    setText(format(value));
    report(null);
  }, [key]);
  const edit = (next) => {
    setText(next);
    const result = next.trim() ? parse(next) : { value: undefined };
    if (result.error) { report(result.error); return; }
    report(null);
    emitted.current = JSON.stringify(result.value);
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

// A JSON value typed as text; ``validate(value)`` may refuse a parsed value with a message.
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
