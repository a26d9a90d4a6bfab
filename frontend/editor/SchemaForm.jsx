// A config form generated from a node type's JSON Schema (GET /api/node-types).
import { createContext, useContext, useId, useState, useEffect } from "react";

const LONG_FORMATS = new Set(["template", "condition"]);

// What template and condition fields preview against: ``{ run(kind, text) -> Promise<value> }``
// built by the editor from the sample input and the last test run's step outputs.
export const PreviewContext = createContext(null);

function show(value) {
  return typeof value === "string" ? value : JSON.stringify(value);
}

// The field's value rendered by the server's sandboxed engine, a moment after typing stops.
function Preview({ kind, text, id }) {
  const preview = useContext(PreviewContext);
  const [state, setState] = useState(null);
  useEffect(() => {
    if (!preview || !text || (kind === "template" && !/{{|{%/.test(text))) {
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

function label(name, schema) {
  return schema.title || name.replace(/_/g, " ");
}

function JsonField({ id, value, onChange, disabled }) {
  const [text, setText] = useState(() => (value === undefined ? "" : JSON.stringify(value, null, 2)));
  const [error, setError] = useState(null);
  useEffect(() => {
    setText(value === undefined ? "" : JSON.stringify(value, null, 2));
  }, [JSON.stringify(value)]);
  return (
    <>
      <textarea
        id={id}
        className="mono"
        rows={4}
        value={text}
        disabled={disabled}
        aria-invalid={error ? "true" : undefined}
        onChange={(ev) => {
          setText(ev.target.value);
          if (!ev.target.value.trim()) {
            setError(null);
            onChange(undefined);
            return;
          }
          try {
            onChange(JSON.parse(ev.target.value));
            setError(null);
          } catch {
            setError("not valid JSON yet");
          }
        }}
      />
      {error && <span className="field-note">{error}</span>}
    </>
  );
}

function Field({ name, schema, value, onChange, disabled, suggestions, path }) {
  const id = useId();
  const title = label(name, schema);
  const hint = schema.description;
  const set = (v) => onChange(v === "" || v === undefined ? undefined : v);
  let control;
  if (schema.enum) {
    control = (
      <select id={id} value={value ?? ""} disabled={disabled} onChange={(e) => set(e.target.value)}>
        <option value="">{schema.default !== undefined ? `(default: ${schema.default})` : "—"}</option>
        {schema.enum.map((v) => (
          <option key={String(v)} value={v}>{String(v)}</option>
        ))}
      </select>
    );
  } else if (schema.type === "boolean") {
    return (
      <div className="field field-check">
        <input id={id} type="checkbox" checked={Boolean(value)} disabled={disabled}
          onChange={(e) => onChange(e.target.checked)} />
        <label htmlFor={id}>{title}</label>
      </div>
    );
  } else if (schema.type === "number" || schema.type === "integer") {
    control = (
      <input id={id} type="number" value={value ?? ""} disabled={disabled}
        step={schema.type === "integer" ? 1 : "any"} min={schema.minimum} max={schema.maximum}
        placeholder={schema.default !== undefined ? String(schema.default) : undefined}
        onChange={(e) => set(e.target.value === "" ? undefined : Number(e.target.value))} />
    );
  } else if (schema.type === "string") {
    if (LONG_FORMATS.has(schema.format) || (schema.maxLength || 0) > 500) {
      control = (
        <>
          <textarea id={id} rows={schema.format === "condition" ? 2 : 4} className="mono"
            value={value ?? ""} disabled={disabled} onChange={(e) => set(e.target.value)}
            aria-describedby={LONG_FORMATS.has(schema.format) ? `${id}-preview` : undefined} />
          {LONG_FORMATS.has(schema.format) && <Preview kind={schema.format} text={value} id={`${id}-preview`} />}
        </>
      );
    } else {
      const listId = suggestions?.length ? `${id}-list` : undefined;
      control = (
        <>
          <input id={id} type="text" value={value ?? ""} disabled={disabled} list={listId}
            onChange={(e) => set(e.target.value)} />
          {listId && (
            <datalist id={listId}>
              {suggestions.map((s) => <option key={s} value={s} />)}
            </datalist>
          )}
        </>
      );
    }
  } else if (schema.type === "object" && schema.properties && !schema.format) {
    return (
      <fieldset className="field-group">
        <legend>{title}</legend>
        <ObjectFields schema={schema} value={value || {}} disabled={disabled} path={path}
          onChange={(v) => onChange(Object.keys(v).length ? v : undefined)} />
      </fieldset>
    );
  } else {
    control = <JsonField id={id} value={value} onChange={onChange} disabled={disabled} />;
  }
  return (
    <div className="field">
      <label htmlFor={id}>
        {title}
        {schema.format && <span className="field-format"> {schema.format}</span>}
      </label>
      {control}
      {hint && <span className="field-note">{hint}</span>}
    </div>
  );
}

export function ObjectFields({ schema, value, onChange, disabled, suggestions = {}, path = "", advanced = [] }) {
  const props = schema.properties || {};
  const required = new Set(schema.required || []);
  const names = Object.keys(props).sort((a, b) => (required.has(b) ? 1 : 0) - (required.has(a) ? 1 : 0));
  const field = (name) => (
    <Field
      key={name}
      name={name + (required.has(name) ? " *" : "")}
      schema={props[name]}
      value={value[name]}
      disabled={disabled}
      suggestions={suggestions[name]}
      path={`${path}/${name}`}
      onChange={(v) => {
        const next = { ...value };
        if (v === undefined) delete next[name];
        else next[name] = v;
        onChange(next);
      }}
    />
  );
  const later = names.filter((n) => advanced.includes(n));
  return (
    <>
      {names.filter((n) => !advanced.includes(n)).map(field)}
      {later.length > 0 && (
        <details className="field-advanced" open={later.some((n) => value[n] !== undefined)}>
          <summary>Retry and timeout</summary>
          {later.map(field)}
        </details>
      )}
    </>
  );
}
