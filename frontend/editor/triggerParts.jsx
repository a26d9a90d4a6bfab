// Pieces the trigger fields share (TriggerFields.jsx and its per-type parts): a labelled field
// with its help line and the validator's problems beside it, a copy button, a JSON object box,
// a comma-separated list box, and the saved flow's trigger facts from the API.
import { useEffect, useState } from "react";
import { useTypedText } from "./fields.jsx";
import { parseList } from "./schema.js";

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

// A JSON object typed as text (kept as typed, fields.jsx ``useTypedText``); an empty box removes
// the field from the trigger.
export function JsonObjectField({ id, label, help, value, onChange, disabled, problems = [] }) {
  const draft = useTypedText(value, (v) => (v === undefined ? "" : JSON.stringify(v, null, 2)), parseObject, onChange);
  return (
    <Field id={id} label={label} help={help} problems={[...(draft.error ? [draft.error] : []), ...problems]}
      control={(a11y) => (
        <textarea id={id} className="mono" rows={3} value={draft.text} disabled={disabled}
          onChange={(e) => draft.edit(e.target.value)} {...a11y} />
      )} />
  );
}

// A list of names typed comma-separated (duplicates dropped); an empty box removes the field.
export function ListField({ id, label, help, value, onChange, disabled, problems = [], placeholder }) {
  const draft = useTypedText(value, (v) => (v || []).join(", "), parseList, onChange);
  return (
    <Field id={id} label={label} help={help} problems={problems}
      control={(a11y) => (
        <input id={id} type="text" value={draft.text} placeholder={placeholder} disabled={disabled}
          onChange={(e) => draft.edit(e.target.value)} {...a11y} />
      )} />
  );
}

// The saved flow's trigger as the API reports it (GET /api/flows/<slug>/trigger: URLs, webhook
// secrets), read again after each save or publish and on ``reload()``. Nothing before the first
// save: the flow does not exist yet.
export function useTriggerInfo(api, slug, saved, wanted) {
  const [answer, setAnswer] = useState(null); // {info} or {error}
  const [asked, setAsked] = useState(0);
  const active = Boolean(wanted && saved.version);
  useEffect(() => {
    if (!active) return undefined;
    let current = true;
    api.trigger(slug).then(
      (data) => current && setAnswer({ info: data, error: null }),
      (e) => current && setAnswer((a) => ({ info: a?.info ?? null, error: `Could not load the trigger: ${e.message}` })),
    );
    return () => { current = false; };
  }, [api, slug, saved.version, saved.live, active, asked]);
  return {
    info: active ? answer?.info ?? null : null,
    error: active ? answer?.error ?? null : null,
    reload: () => setAsked((n) => n + 1),
  };
}

// A moment as the viewer reads it, in their own time zone (or ``zone``).
export function when(iso, zone) {
  /** @type {Intl.DateTimeFormatOptions} */
  const options = { dateStyle: "medium", timeStyle: "short", ...(zone ? { timeZone: zone } : {}) };
  try {
    return new Intl.DateTimeFormat(undefined, options).format(new Date(iso));
  } catch {
    return iso; // a zone this browser does not know
  }
}
