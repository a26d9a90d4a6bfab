// A tool call's arguments (a tool node's ``args``, an approval's ``arguments``) as a form
// generated from the tool's JSON Schema: GET /api/tools ``args_schema``, for an MCP tool the
// input schema stored at its server's last refresh. Any value may be a template, as the
// validator (flows/document.py ``_tool_problems``) accepts one wherever a value goes; nested
// objects and arrays are JSON boxes. "Raw JSON" edits the whole object as text and goes back to
// the form without loss (keys the tool does not have stay, listed as such); JSON that does not
// parse keeps the box open with the reason. A tool with no argument list is edited as JSON.
import { useId, useState } from "react";
import { ObjectFields } from "./SchemaForm.jsx";
import { JsonField } from "./fields.jsx";

const OBJECT_NEEDED = 'The arguments must be a JSON object, e.g. { "to": "{{ input.email }}" }';

function isObject(value) {
  return Boolean(value) && typeof value === "object" && !Array.isArray(value);
}

function shownPath(path) {
  return path.length ? `${path.join("/")}: ` : "";
}

function Intro({ toolName, tool, toolsLoaded, hasForm }) {
  if (!toolName) return <p className="field-note">Choose the tool first: its arguments appear here.</p>;
  if (!toolsLoaded) return <p className="field-note">Loading the arguments of {toolName}…</p>;
  if (!tool) return <p className="field-note">No tool {toolName} is known here: write its arguments as a JSON object.</p>;
  return (
    <>
      {tool.description && <p className="field-note tool-description">{tool.description}</p>}
      {hasForm ? (
        <p className="field-note">
          * required. Any value may be a template, e.g. <code>{"{{ input.email }}"}</code>;
          {" "}<code>{"{{ }}"}</code> turns a number, choice or yes/no field into one.
        </p>
      ) : (
        <p className="field-note">{toolName} publishes no argument list: write its arguments as a JSON object.</p>
      )}
    </>
  );
}

export function ToolArgs({ name, schema, value, onChange, disabled, problems, toolName, tool, toolsLoaded }) {
  const id = useId();
  const argsSchema = tool?.args_schema;
  const hasForm = Boolean(argsSchema && Object.keys(argsSchema.properties || {}).length);
  const [raw, setRaw] = useState(false);
  const [rawError, setRawError] = useState(null);
  const [blocked, setBlocked] = useState(null);
  // No form to show, or a value no form can hold (not an object): the JSON box.
  const showRaw = raw || !hasForm || (value !== undefined && !isObject(value));
  const args = isObject(value) ? value : {};
  // Problems the form shows by their field; the others (about the whole object) above it.
  const fielded = new Set(showRaw ? [] : [...Object.keys(argsSchema?.properties || {}), ...Object.keys(args)]);
  const general = problems.filter((p) => !fielded.has(p.path[0]));
  const emit = (next) => onChange(isObject(next) && !Object.keys(next).length ? undefined : next);
  const toggle = () => {
    if (raw && rawError) {
      setBlocked(`Still raw JSON: ${rawError}. Fix it to go back to the form.`);
      return;
    }
    setBlocked(null);
    setRaw(!raw);
  };
  const title = schema?.title || name;
  return (
    <fieldset className="field-group tool-args" data-field={name} data-tool-args={toolName || ""}
      data-mode={showRaw ? "raw" : "form"} aria-describedby={`${id}-about`}>
      <legend>{title}{toolName ? <span className="field-note"> for <span className="mono">{toolName}</span></span> : null}</legend>
      <div id={`${id}-about`}>
        <Intro toolName={toolName} tool={tool} toolsLoaded={toolsLoaded} hasForm={hasForm} />
      </div>
      {hasForm && (raw || !showRaw) && (
        <button type="button" className="btn btn-small raw-toggle" aria-pressed={raw ? "true" : "false"}
          aria-describedby={blocked ? `${id}-blocked` : undefined} onClick={toggle}>Raw JSON</button>
      )}
      {blocked && <p id={`${id}-blocked`} className="field-problem" role="alert">{blocked}</p>}
      {general.length > 0 && (
        <ul className="field-problem tool-args-problems" data-problem-for={name}>
          {general.map((p, i) => <li key={i}>{showRaw ? shownPath(p.path) : ""}{p.message}</li>)}
        </ul>
      )}
      {showRaw && (toolName || value !== undefined) && (
        <div className="field">
          <label htmlFor={`${id}-raw`}>Arguments as JSON</label>
          <JsonField id={`${id}-raw`} value={value} rows={8} disabled={disabled} invalid={problems.length > 0}
            validate={(v) => (isObject(v) ? null : OBJECT_NEEDED)}
            onValidity={(message) => { setRawError(message); if (!message) setBlocked(null); }}
            onChange={emit} />
        </div>
      )}
      {!showRaw && hasForm && (
        <ObjectFields schema={argsSchema} value={args} disabled={disabled} problems={problems} templates flat showUnknown
          unknownNote={`${toolName} has no such argument: remove it, or rename it in Raw JSON.`} onChange={emit} />
      )}
    </fieldset>
  );
}
