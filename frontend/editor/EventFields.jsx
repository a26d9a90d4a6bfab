// The event trigger: what starts a run (another flow's run finishing, or an outcome recorded),
// the flow and statuses to watch or the metric and its optional threshold, and the run's input
// (the event's facts are added to it under ``event``).
import { useEffect, useState } from "react";
import { Field, JsonObjectField, problemsAt } from "./triggerParts.jsx";

const STATUSES = ["succeeded", "failed", "cancelled"];
// What choosing a source drops: the other source's fields.
const OTHER_SOURCE = {
  "run.finished": { metric: undefined, threshold: undefined },
  "outcome.recorded": { flow: undefined, status: undefined },
};
const SOURCES = {
  "run.finished": "Another flow's run finished",
  "outcome.recorded": "An outcome was recorded",
};

// The other flows, for the "flow to watch" choice (GET /api/flows).
function useFlows(api, slug) {
  const [flows, setFlows] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    let current = true;
    api.flows().then(
      (data) => current && setFlows((data.items || []).filter((f) => f.slug !== slug)),
      (e) => current && setError(`Could not list the flows: ${e.message}`),
    );
    return () => { current = false; };
  }, [api, slug]);
  return { flows, error };
}

function WatchedRun({ trigger, set, readOnly, api, slug, problems }) {
  const { flows, error } = useFlows(api, slug);
  const chosen = trigger.status?.length ? trigger.status : ["succeeded"];
  const known = !trigger.flow || !flows || flows.some((f) => f.slug === trigger.flow);
  const statusProblems = problemsAt(problems, "/trigger/status");
  const tick = (status, on) => set("status", STATUSES.filter((s) => (s === status ? on : chosen.includes(s))));
  return (
    <>
      <Field id="trigger-flow" label="Flow to watch" problems={[...(error ? [error] : []), ...problemsAt(problems, "/trigger/flow")]}
        help="A run of this flow that ends with a status ticked below starts a run here."
        control={(a11y) => (
          <select id="trigger-flow" value={trigger.flow || ""} disabled={readOnly} onChange={(e) => set("flow", e.target.value)} {...a11y}>
            <option value="">{flows ? "— choose a flow —" : "Loading the flows…"}</option>
            {!known && <option value={trigger.flow}>{trigger.flow} (no such flow)</option>}
            {(flows || []).map((f) => <option key={f.slug} value={f.slug}>{f.name} ({f.slug})</option>)}
          </select>
        )} />
      <fieldset className="field-group" aria-describedby={`trigger-status-help${statusProblems.length ? " trigger-status-problem" : ""}`}>
        <legend>When its run ends</legend>
        <div className="policy-choices">
          {STATUSES.map((status) => {
            const on = chosen.includes(status);
            return (
              <label key={status} className="policy-choice">
                <input id={`trigger-status-${status}`} type="checkbox" checked={on}
                  disabled={readOnly || (on && chosen.length === 1)} onChange={(e) => tick(status, e.target.checked)} />
                {" "}{status}
              </label>
            );
          })}
        </div>
        <span id="trigger-status-help" className="field-note">At least one; a run that ends otherwise starts nothing.</span>
        {statusProblems.length > 0 && <span id="trigger-status-problem" className="field-problem">{statusProblems.join("; ")}</span>}
      </fieldset>
    </>
  );
}

function WatchedMetric({ trigger, set, readOnly, problems }) {
  return (
    <>
      <Field id="trigger-metric" label="Metric to watch" problems={problemsAt(problems, "/trigger/metric")}
        help="The metric name outcomes are recorded under, e.g. invoice_paid."
        control={(a11y) => (
          <input id="trigger-metric" type="text" placeholder="e.g. invoice_paid" value={trigger.metric ?? ""} disabled={readOnly}
            onChange={(e) => set("metric", e.target.value)} {...a11y} />
        )} />
      <Field id="trigger-threshold" label="Threshold (optional)" problems={problemsAt(problems, "/trigger/threshold")}
        help="Empty: every outcome of the metric starts a run. A number: one run, when the metric's running total first reaches it."
        control={(a11y) => (
          <input id="trigger-threshold" type="number" step="any" value={trigger.threshold ?? ""} disabled={readOnly}
            onChange={(e) => set("threshold", e.target.value === "" ? undefined : Number(e.target.value))} {...a11y} />
        )} />
    </>
  );
}

export function EventFields({ trigger, set, readOnly, api, slug, problems }) {
  return (
    <>
      <Field id="trigger-on" label="Starts when" problems={problemsAt(problems, "/trigger/on")}
        help="Runs it starts carry the event's facts under input.event."
        control={(a11y) => (
          <select id="trigger-on" value={trigger.on || ""} disabled={readOnly} onChange={(e) => set({ on: e.target.value, ...OTHER_SOURCE[e.target.value] })} {...a11y}>
            <option value="">— choose the event —</option>
            {Object.entries(SOURCES).map(([value, words]) => <option key={value} value={value}>{words}</option>)}
          </select>
        )} />
      {trigger.on === "run.finished" && (
        <WatchedRun trigger={trigger} set={set} readOnly={readOnly} api={api} slug={slug} problems={problems} />
      )}
      {trigger.on === "outcome.recorded" && <WatchedMetric trigger={trigger} set={set} readOnly={readOnly} problems={problems} />}
      <JsonObjectField id="trigger-input" label="Run input (JSON)" value={trigger.input} disabled={readOnly}
        help="Every run this event starts begins with this input, plus the event under event."
        problems={problemsAt(problems, "/trigger/input")} onChange={(v) => set("input", v)} />
    </>
  );
}
