// The node inspector: the node's id, its config as a form generated from its type's schema
// (GET /api/node-types: titles, help, and which fields fold under "Advanced"), a tool call's
// arguments as a form from the tool's own schema (ToolArgs.jsx), the failure choice, the
// validator's problems by the field they concern, and the node's step in the last test run.
import { useState } from "react";
import { ObjectFields } from "./SchemaForm.jsx";
import { ToolArgs } from "./ToolArgs.jsx";
import { NodePolicies } from "./StoredPolicies.jsx";

// "/nodes/3/config/args/to" -> ["args", "to"] (JSON Pointer segments, unescaped); null for a
// pointer outside the node's config.
export function configPath(pointer) {
  const m = /^\/nodes\/\d+\/config(\/.*)?$/.exec(pointer || "");
  if (!m) return null;
  return (m[1] || "").split("/").slice(1).map((part) => part.replace(/~1/g, "/").replace(/~0/g, "~"));
}

function StepDetail({ step }) {
  return (
    <section className="step-detail" aria-label="Step of the test run" data-step-state={step.status}>
      <h3>Step: {step.status}</h3>
      <p className="small">{step.tokens_in} in / {step.tokens_out} out tokens · ${step.cost}{step.model ? ` · ${step.model}` : ""}</p>
      <h4>Input</h4>
      <pre className="mono" tabIndex={0} aria-label="Step input">{JSON.stringify(step.input, null, 2)}</pre>
      <h4>Output</h4>
      <pre className="mono" tabIndex={0} aria-label="Step output">{JSON.stringify(step.output, null, 2)}</pre>
      {step.error && <p className="callout callout-error small">{step.error}</p>}
    </section>
  );
}

function OnError({ value, readOnly, canContinue, onChange }) {
  return (
    <div className="field">
      <label htmlFor="node-on-error">On error</label>
      <select id="node-on-error" value={value} disabled={readOnly}
        aria-describedby="node-on-error-note" onChange={(e) => onChange(e.target.value)}>
        <option value="fail">Fail the run</option>
        {(canContinue || value === "continue") && <option value="continue">Continue with the error as output</option>}
      </select>
      <p id="node-on-error-note" className="field-note">
        When this step fails for good (after its retries). An error edge from the node&apos;s red handle
        takes the run elsewhere instead.
      </p>
    </div>
  );
}

// ``problems``: the validator's problems pinned to this node (``{pointer, message}``).
// ``tools``: the registry (GET /api/tools items), ``toolsLoaded`` once it answered.
export function NodePanel({
  node, spec, readOnly, agents, tools, toolsLoaded, problems, onRename, onConfig, onOnError, onDelete, step, api,
}) {
  const [id, setId] = useState(node.id);
  const config = node.data.config;
  const props = spec?.config_schema?.properties || {};
  const onError = node.data.extra?.on_error === "continue" ? "continue" : "fail";
  // The node type says which values it accepts (GET /api/node-types ``on_error``).
  const canContinue = !spec?.on_error || spec.on_error.includes("continue");
  const byField = [];
  const general = [];
  for (const p of problems) {
    let path = configPath(p.pointer);
    // The validator reports a missing field at the config (flows/document.py ``_schema_problems``):
    // it is shown by that field's input.
    const missing = /^missing required field '(.+)'$/.exec(p.message);
    if (path?.length === 0 && missing) path = [missing[1]];
    if (path?.length && path[0] in props) byField.push({ path, message: p.message });
    else general.push(p.message);
  }
  // A config that names a ``tool`` calls it with its template-object field: the tool's form.
  const toolByName = Object.fromEntries(tools.map((t) => [t.name, t]));
  const toolArgs = (field) => (
    <ToolArgs {...field} toolName={config.tool} tool={toolByName[config.tool]} toolsLoaded={toolsLoaded} />
  );
  const custom = props.tool
    ? Object.fromEntries(Object.keys(props).filter((k) => props[k].format === "template-object").map((k) => [k, toolArgs]))
    : {};
  return (
    <section className="node-panel" aria-labelledby="panel-heading" data-node-panel={node.id}>
      <h2 id="panel-heading">{spec?.title || node.data.kind} <span className="mono muted">{node.id}</span></h2>
      {spec?.description && <p className="muted small">{spec.description}</p>}
      {step && <StepDetail step={step} />}
      <div className="field">
        <label htmlFor="node-id">Node id</label>
        <input id="node-id" type="text" value={id} disabled={readOnly}
          onChange={(e) => setId(e.target.value)}
          onBlur={() => { if (id !== node.id && !onRename(id)) setId(node.id); }} />
      </div>
      {general.length > 0 && (
        <ul className="callout callout-error small" role="alert">{general.map((p, i) => <li key={i}>{p}</li>)}</ul>
      )}
      {spec ? (
        <ObjectFields schema={spec.config_schema} value={config} disabled={readOnly} problems={byField}
          suggestions={{ agent: agents, tool: tools.map((t) => t.name) }} custom={custom} onChange={onConfig}
          advanced={spec.advanced || []} advancedNote={spec.advanced_note} advancedExtraSet={onError === "continue"}
          advancedExtra={<OnError value={onError} readOnly={readOnly} canContinue={canContinue} onChange={onOnError} />} />
      ) : <p className="muted small">Loading the node type…</p>}
      <NodePolicies api={api} kind={node.data.kind} config={config} />
      {!readOnly && <button type="button" className="btn btn-small btn-danger" onClick={onDelete}>Delete node</button>}
    </section>
  );
}
