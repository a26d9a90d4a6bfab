// The trigger's own fields, under the trigger type select of the Launch checklist: what each
// type needs (schedule, webhook, form, event, manual), the input fields every run may see, and
// the validator's problems pinned at /trigger/... next to the field they are about.
import { EventFields } from "./EventFields.jsx";
import { ScheduleFields } from "./ScheduleFields.jsx";
import { WebhookFields } from "./WebhookFields.jsx";
import { CopyButton, ListField, problemsAt, useTriggerInfo } from "./triggerParts.jsx";
import "./triggers.css";

// Problems about the block as a whole ("a schedule trigger needs a cron expression").
function blockProblems(problems) {
  return problems.filter((p) => p.pointer === "/trigger").map((p) => p.message);
}

function FormFields({ saved, trigger }) {
  if (!saved.version) {
    return <p className="small" data-trigger-note="unsaved">Save the flow to get its public form link.</p>;
  }
  if (trigger.error) return <p className="field-problem">{trigger.error}</p>;
  if (!trigger.info) return <p className="muted small">Loading the form link…</p>;
  const link = trigger.info.urls?.form || trigger.info.url;
  return (
    <div className="field">
      <label htmlFor="trigger-form-url">Public form link</label>
      <input id="trigger-form-url" type="text" className="mono" readOnly value={link} aria-describedby="trigger-form-help" />
      <span className="trigger-actions">
        <a className="btn btn-small" href={link} target="_blank" rel="noopener noreferrer">Open the public form</a>
        <CopyButton text={link} label="Copy link" />
      </span>
      <span id="trigger-form-help" className="field-note">
        Anyone with the link can fill it in, no login; its fields come from the input schema. A submission starts a
        run of the live version{saved.live ? ` (v${saved.live})` : ""}, so publish for changes here to reach the
        form{trigger.info.type === "form" ? "" : " (until a version with this form trigger is live, the link shows no form)"}.
      </span>
    </div>
  );
}

function ManualNote({ slug }) {
  return (
    <p className="small" data-trigger-note="manual">
      Runs start by hand: <a href={`/flows/${slug}/start/`}>the start form</a> (fields from the input schema, for
      operators and designers), <code>POST /api/flows/{slug}/runs</code>, or “Run draft” below.
    </p>
  );
}

// ``trigger``: the document's trigger block (undefined: none chosen yet); ``onChange(block)``
// replaces it. ``saved``: {version, live} of the flow as saved. ``sample``: the sample input text
// (the webhook's curl command sends it).
export function TriggerFields({ trigger, onChange, readOnly, api, slug, saved, problems, sample }) {
  const block = trigger || {};
  const type = block.type;
  const info = useTriggerInfo(api, slug, saved, type === "webhook" || type === "form");
  // ``set(field, value)``, or ``set({field: value...})`` for several at once; an empty value
  // removes the field.
  const set = (field, value) => {
    const next = { ...block };
    for (const [name, v] of Object.entries(typeof field === "string" ? { [field]: value } : field)) {
      if (v === undefined || v === "") delete next[name]; else next[name] = v;
    }
    onChange(next);
  };
  const top = blockProblems(problems);
  const shared = { trigger: block, set, readOnly, api, problems };
  return (
    <div className="trigger-fields" data-trigger-type={type || "none"}>
      {top.length > 0 && <p id="trigger-problem" className="field-problem">{top.join("; ")}</p>}
      {type === "schedule" && <ScheduleFields {...shared} />}
      {type === "webhook" && (
        <WebhookFields slug={slug} saved={saved} trigger={info} readOnly={readOnly} api={api} sample={sample} />
      )}
      {type === "form" && <FormFields saved={saved} trigger={info} />}
      {type === "event" && <EventFields {...shared} slug={slug} />}
      {type === "manual" && <ManualNote slug={slug} />}
      {type && (
        <ListField id="trigger-snapshot" label="Input fields the run may see" value={block.snapshot} disabled={readOnly}
          placeholder="e.g. email, company" problems={problemsAt(problems, "/trigger/snapshot")}
          help="Comma-separated. Empty: the whole input. Other fields are dropped before the run starts (the run notes which)."
          onChange={(v) => set("snapshot", v)} />
      )}
    </div>
  );
}
