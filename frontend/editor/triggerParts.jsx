// Pieces the trigger fields share (TriggerFields.jsx and its per-type parts): a labelled field
// with its help line and the validator's problems beside it, a copy button, a JSON object box,
// a comma-separated list box, and the saved flow's trigger facts from the API.
import { useEffect, useState } from "react";

// The validator's messages pinned at ``pointer`` or below it (``/trigger/status/0`` belongs to
// ``/trigger/status``).
export function problemsAt(problems, pointer) {
  return problems
    .filter((p) => p.pointer === pointer || (p.pointer || "").startsWith(`${pointer}/`))
    .map((p) => p.message);
}

// A label, the control, a help line and the problems. ``control(a11y)`` renders the control with
// the attributes that tie it to its help and problems.
export function Field({ id, label, help, problems = [], control }) {
  const helpId = help ? `${id}-help` : undefined;
  const problemId = problems.length ? `${id}-problem` : undefined;
  const a11y = {
    "aria-describedby": [helpId, problemId].filter(Boolean).join(" ") || undefined,
    "aria-invalid": problems.length ? "true" : undefined,
  };
  return (
    <div className="field" data-trigger-field={id} data-problems={problems.length}>
      <label htmlFor={id}>{label}</label>
      {control(a11y)}
      {help && <span id={helpId} className="field-note">{help}</span>}
      {problemId && <span id={problemId} className="field-problem">{problems.join("; ")}</span>}
    </div>
  );
}

// Copies ``text`` and says so; where the browser refuses the clipboard, says to copy by hand.
export function CopyButton({ text, label }) {
  const [said, setSaid] = useState("");
  useEffect(() => {
    if (!said) return undefined;
    const timer = setTimeout(() => setSaid(""), 2500);
    return () => clearTimeout(timer);
  }, [said]);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text);
      setSaid("Copied.");
    } catch {
      setSaid("The browser refused: select the text and copy it.");
    }
  };
  return (
    <span className="copy-wrap">
      <button type="button" className="btn btn-small" onClick={copy} disabled={!text}>{label}</button>
      <span className="copy-said small" role="status" aria-live="polite">{said}</span>
    </span>
  );
}

// A text box whose parsed value goes into the document: typing keeps the text as written (a
// half-typed value is not reformatted under the cursor), and a change made elsewhere (undo,
// import) replaces the text unless it already says the same.
function useDraft(value, show, parse) {
  const [text, setText] = useState(() => show(value));
  const [error, setError] = useState(null);
  const key = JSON.stringify(value ?? null);
  useEffect(() => {
    setText((current) => {
      const parsed = parse(current);
      return !parsed.error && JSON.stringify(parsed.value ?? null) === key ? current : show(value);
    });
  }, [key]);
  const change = (next, onChange) => {
    setText(next);
    const parsed = parse(next);
    setError(parsed.error || null);
    if (!parsed.error) onChange(parsed.value);
  };
  return { text, error, change };
}

function parseObject(text) {
  if (!text.trim()) return { value: undefined };
  let value;
  try {
    value = JSON.parse(text);
  } catch {
    return { error: "not valid JSON yet" };
  }
  if (!value || typeof value !== "object" || Array.isArray(value)) return { error: 'must be a JSON object: {"field": value}' };
  return { value };
}

// A JSON object typed as text; an empty box removes the field from the trigger.
export function JsonObjectField({ id, label, help, value, onChange, disabled, problems = [] }) {
  const draft = useDraft(value, (v) => (v === undefined ? "" : JSON.stringify(v, null, 2)), parseObject);
  return (
    <Field id={id} label={label} help={help} problems={[...(draft.error ? [draft.error] : []), ...problems]}
      control={(a11y) => (
        <textarea id={id} className="mono" rows={3} value={draft.text} disabled={disabled}
          onChange={(e) => draft.change(e.target.value, onChange)} {...a11y} />
      )} />
  );
}

function parseList(text) {
  const items = [...new Set(text.split(",").map((s) => s.trim()).filter(Boolean))];
  return { value: items.length ? items : undefined };
}

// A list of names typed comma-separated (duplicates dropped); an empty box removes the field.
export function ListField({ id, label, help, value, onChange, disabled, problems = [], placeholder }) {
  const draft = useDraft(value, (v) => (v || []).join(", "), parseList);
  return (
    <Field id={id} label={label} help={help} problems={problems}
      control={(a11y) => (
        <input id={id} type="text" value={draft.text} placeholder={placeholder} disabled={disabled}
          onChange={(e) => draft.change(e.target.value, onChange)} {...a11y} />
      )} />
  );
}

// The saved flow's trigger as the API reports it (GET /api/flows/<slug>/trigger: URLs, webhook
// secrets), read again after each save or publish and on ``reload()``. Nothing before the first
// save: the flow does not exist yet.
export function useTriggerInfo(api, slug, saved, wanted) {
  const [info, setInfo] = useState(null);
  const [error, setError] = useState(null);
  const [asked, setAsked] = useState(0);
  useEffect(() => {
    if (!wanted || !saved.version) { setInfo(null); return undefined; }
    let current = true;
    api.trigger(slug).then(
      (data) => { if (current) { setInfo(data); setError(null); } },
      (e) => current && setError(`Could not load the trigger: ${e.message}`),
    );
    return () => { current = false; };
  }, [api, slug, saved.version, saved.live, wanted, asked]);
  return { info, error, reload: () => setAsked((n) => n + 1) };
}

// A moment as the viewer reads it, in their own time zone (or ``zone``).
export function when(iso, zone) {
  const options = { dateStyle: "medium", timeStyle: "short", ...(zone ? { timeZone: zone } : {}) };
  try {
    return new Intl.DateTimeFormat(undefined, options).format(new Date(iso));
  } catch {
    return iso; // a zone this browser does not know
  }
}
