// The launch checklist (Trigger → Action → Feedback → ROI, from the validator), each item a way
// to where it is filled in, and the settings it needs: the trigger (TriggerFields.jsx), the
// feedback outcome, the subject, and the ROI baseline.
import { TriggerFields } from "./TriggerFields.jsx";
import { numberOrText, withBlock, withKey, withTriggerType } from "./launch.js";

const TRIGGER_TYPES = ["manual", "webhook", "schedule", "form", "event"];

/**
 * @param {{id: string, label: string, note?: string, value: any, placeholder?: string, mono?: boolean,
 *   type?: string, readOnly: boolean, onChange: (text: string) => void}} props
 */
function TextField({ id, label, note, value, placeholder, mono, type = "text", readOnly, onChange }) {
  return (
    <div className="field">
      <label htmlFor={id}>{label}{note && <> <span className="field-note">{note}</span></>}</label>
      <input id={id} type={type} className={mono ? "mono" : undefined} placeholder={placeholder} value={value ?? ""}
        min={type === "number" ? "0" : undefined} step={type === "number" ? "any" : undefined}
        disabled={readOnly} onChange={(e) => onChange(e.target.value)} />
    </div>
  );
}

/**
 * @typedef {{meta: any, setMeta: (change: (meta: any) => any) => void, readOnly: boolean, api: any, slug: string,
 *   saved: {version: number | null, live: number | null}, problems: any[], sample: string}} SettingsProps
 */

/**
 * The document fields a flow needs to go live. ``setMeta(fn)`` changes the document's meta.
 * @param {SettingsProps} props
 */
function LaunchSettings({ meta, setMeta, readOnly, api, slug, saved, problems, sample }) {
  const block = (key, field, value) => setMeta((m) => withBlock(m, key, field, value));
  return (
    <>
      <div className="field">
        <label htmlFor="launch-trigger">Trigger: how runs start</label>
        <select id="launch-trigger" value={meta.trigger?.type || ""} disabled={readOnly}
          onChange={(e) => setMeta((m) => withTriggerType(m, e.target.value))}>
          <option value="">— none —</option>
          {TRIGGER_TYPES.map((t) => <option key={t} value={t}>{t}</option>)}
        </select>
      </div>
      <TriggerFields trigger={meta.trigger} readOnly={readOnly} api={api} slug={slug} saved={saved}
        problems={problems} sample={sample} onChange={(trigger) => setMeta((m) => ({ ...m, trigger }))} />
      <TextField id="launch-outcome" label="Feedback: outcome metric reported back" note="(or add an approval node)"
        placeholder="e.g. meeting_booked" value={meta.feedback?.outcome} readOnly={readOnly}
        onChange={(v) => block("feedback", "outcome", v)} />
      <TextField id="launch-subject" label="Subject: who or what each run is about"
        note="(a template; outcomes find their run by it)" mono placeholder="e.g. {{ input.email }}" value={meta.subject}
        readOnly={readOnly} onChange={(v) => setMeta((m) => withKey(m, "subject", v))} />
      <fieldset className="field-group">
        <legend>ROI</legend>
        <TextField id="roi-baseline" type="number" label="Baseline minutes per case" note="(a person's time, by hand)"
          value={meta.roi?.baseline_minutes} readOnly={readOnly} onChange={(v) => block("roi", "baseline_minutes", numberOrText(v))} />
        <TextField id="roi-hourly" type="number" label="Hourly cost of that work" value={meta.roi?.hourly_cost}
          readOnly={readOnly} onChange={(v) => block("roi", "hourly_cost", numberOrText(v))} />
        <TextField id="roi-success" label="Success outcome" note="(the outcome metric that counts a case as won)"
          placeholder="e.g. meeting_booked" value={meta.roi?.success_outcome} readOnly={readOnly}
          onChange={(v) => block("roi", "success_outcome", v)} />
      </fieldset>
    </>
  );
}

/**
 * ``launch``: the checklist (null until validated); ``missing`` and ``ready`` from launch.js
 * ``launchState``; ``nav``: useLaunchNavigation (``goTo``, the settings' open state); the rest
 * goes to the settings.
 * @param {SettingsProps & {launch: any[] | null, missing: any[], ready: boolean, nav: any}} props
 */
export function LaunchPanel({ launch, missing, ready, nav, ...settings }) {
  return (
    <section className="editor-launch" aria-labelledby="launch-heading" data-launch-ready={ready ? "true" : "false"}>
      <h2 id="launch-heading">Launch checklist <span className="count" data-count={missing.length}>{launch === null ? "…" : `${4 - missing.length}/4`}</span></h2>
      <p className="muted small">A flow goes live only when it closes the loop Trigger → Action → Feedback → ROI.</p>
      <ul className="launch-list">
        {(launch || []).map((item) => (
          <li key={item.key} data-launch-item={item.key} data-ok={item.ok ? "true" : "false"}>
            <button type="button" className="linkish" onClick={() => nav.goTo(item.where)}>
              <span className="launch-mark" aria-hidden="true">{item.ok ? "✓" : "✗"}</span>
              <strong>{item.title}</strong> <span className="launch-word">{item.ok ? "done" : "missing"}</span>
              <span className="launch-message">{item.message}</span>
            </button>
          </li>
        ))}
      </ul>
      <details className="launch-settings" open={nav.settingsOpen} onToggle={(e) => nav.setSettingsOpen(e.currentTarget.open)}>
        <summary>Trigger, feedback and ROI</summary>
        <LaunchSettings {...settings} />
      </details>
    </section>
  );
}
