// The schedule trigger: a cron expression with the server's preview of the next runs (in the
// schedule's zone and the viewer's), the time zone, the missed-run policy and the run's input.
import { useEffect, useState } from "react";
import { Field, JsonObjectField, problemsAt } from "./triggerParts.jsx";

const ZONES = (() => {
  let zones = [];
  try {
    zones = Intl.supportedValuesOf("timeZone");
  } catch {
    zones = [];
  }
  return zones.includes("UTC") ? zones : ["UTC", ...zones];
})();
const LOCAL_ZONE = Intl.DateTimeFormat().resolvedOptions().timeZone;

const MISSED = {
  skip: "Skip: due times passed while the scheduler was down start nothing; the next one runs as usual.",
  catch_up_once: "Catch up once: when the scheduler is back, one run starts for all the missed due times, then the schedule goes on.",
};

function moment(iso, zone) {
  // The column heads name the zones.
  /** @type {Intl.DateTimeFormatOptions} */
  const options = { weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" };
  try {
    return new Intl.DateTimeFormat(undefined, zone ? { ...options, timeZone: zone } : options).format(new Date(iso));
  } catch {
    return iso; // a zone the server knows and this browser does not
  }
}

// POST /api/triggers/schedule-preview a moment after typing stops; only the newest answer shows.
function usePreview(api, cron, zone, enabled) {
  const [state, setState] = useState(null);
  const active = Boolean(enabled && cron?.trim());
  useEffect(() => {
    if (!active) return undefined;
    let current = true;
    const timer = setTimeout(() => {
      api.schedulePreview({ cron, timezone: zone }).then(
        (answer) => current && setState({ ...answer, cron, zone }),
        (e) => current && setState({ error: e.message, cron, zone }),
      );
    }, 300);
    return () => { current = false; clearTimeout(timer); };
  }, [api, cron, zone, active]);
  return active ? state : null;
}

function SchedulePreview({ state, zone }) {
  if (!state) return null;
  if (state.error) {
    return <p className="field-problem" data-preview="error">No preview: {state.error}</p>;
  }
  const sameZone = zone === LOCAL_ZONE;
  return (
    <section className="trigger-preview" aria-label="Next runs" data-preview="ok" data-cron={state.cron}
      data-zone={state.timezone}>
      {state.description && <p className="small"><strong>{state.description}</strong> ({state.timezone} time)</p>}
      <table className="trigger-times small">
        <caption className="visually-hidden">The next {state.next.length} runs</caption>
        <thead>
          <tr><th scope="col">In {state.timezone}</th>{!sameZone && <th scope="col">Your time ({LOCAL_ZONE})</th>}</tr>
        </thead>
        <tbody>
          {state.next.map((iso) => (
            <tr key={iso} data-at={iso}>
              <td>{moment(iso, state.timezone)}</td>
              {!sameZone && <td>{moment(iso)}</td>}
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

export function ScheduleFields({ trigger, set, readOnly, api, problems }) {
  const zone = trigger.timezone || "UTC";
  const missed = trigger.missed || "skip";
  const preview = usePreview(api, trigger.cron, zone, !readOnly);
  const zones = ZONES.includes(zone) ? ZONES : [zone, ...ZONES];
  return (
    <>
      <Field id="trigger-cron" label="Cron expression"
        help="Five fields: minute, hour, day of month, month, day of week. 0 9 * * 1-5 is 09:00 Monday to Friday."
        problems={problemsAt(problems, "/trigger/cron")}
        control={(a11y) => (
          <input id="trigger-cron" type="text" className="mono" placeholder="0 9 * * 1-5" value={trigger.cron ?? ""}
            disabled={readOnly} spellCheck={false} onChange={(e) => set("cron", e.target.value)} {...a11y} />
        )} />
      {readOnly
        ? <p className="muted small">Designers see the next run times here.</p>
        : <SchedulePreview state={preview} zone={zone} />}
      <Field id="trigger-timezone" label="Time zone"
        help="The cron's times are wall-clock times in this zone: 09:00 stays 09:00 across daylight saving."
        problems={problemsAt(problems, "/trigger/timezone")}
        control={(a11y) => (
          <select id="trigger-timezone" value={zone} disabled={readOnly} onChange={(e) => set("timezone", e.target.value)} {...a11y}>
            {zones.map((z) => <option key={z} value={z}>{z}</option>)}
          </select>
        )} />
      <Field id="trigger-missed" label="Missed runs" help={MISSED[missed]} problems={problemsAt(problems, "/trigger/missed")}
        control={(a11y) => (
          <select id="trigger-missed" value={missed} disabled={readOnly} onChange={(e) => set("missed", e.target.value)} {...a11y}>
            <option value="skip">Skip them</option>
            <option value="catch_up_once">Catch up once</option>
          </select>
        )} />
      <JsonObjectField id="trigger-input" label="Run input (JSON)" value={trigger.input} disabled={readOnly}
        help="Every scheduled run starts with this input (checked against the input schema)."
        problems={problemsAt(problems, "/trigger/input")} onChange={(v) => set("input", v)} />
    </>
  );
}
