// How a node is drawn on the canvas: its kind, id and summary, and what canvas.js put on it
// (test run state, live load, problems, diff mark, failure choice); removed nodes of a compared
// version as ghosts.
// Handle through the namespace: @xyflow/react also exports a type named Handle, which TypeScript
// (tsconfig.json checkJs) takes for the import in a JavaScript file.
import * as xyflow from "@xyflow/react";
import { memo } from "react";
import { ERROR_HANDLE } from "./document.js";

const STATE_WORDS = {
  queued: "queued", running: "running", succeeded: "succeeded", failed: "failed",
  skipped: "skipped", waiting: "waiting", cancelled: "cancelled",
};

function Load({ load }) {
  return (
    <div className={`step-load${load.waiting ? " is-waiting" : ""}`} data-load-active={load.active}
      data-load-waiting={load.waiting}>
      {load.active > 0 && `${load.active} in progress`}
      {load.active > 0 && load.waiting > 0 && " · "}
      {load.waiting > 0 && `${load.waiting} waiting`}
    </div>
  );
}

/** @param {{id: string, data: any, selected?: boolean}} props */
function StepNodeView({ id, data, selected }) {
  const problems = data.problems || [];
  return (
    <div
      className={`step-node kind-${data.kind}${selected ? " is-selected" : ""}${problems.length ? " has-problems" : ""}`}
      data-node={id}
      data-kind={data.kind}
      data-state={data.state || undefined}
      data-problems={problems.length}
      data-diff={data.diff || undefined}
      data-on-error={data.extra?.on_error || undefined}
      title={problems.join("\n") || undefined}
    >
      <xyflow.Handle type="target" position={xyflow.Position.Left} />
      <div className="step-kind">{data.kind}{data.diff && <span className="diff-tag"> · {data.diff}</span>}</div>
      <div className="step-id">{id}</div>
      {data.summary && <div className="step-summary">{data.summary}</div>}
      {data.state && <div className="step-state">{STATE_WORDS[data.state] || data.state}</div>}
      {data.load && <Load load={data.load} />}
      {problems.length > 0 && (
        <div className="step-problems" role="note">{problems.length} problem{problems.length > 1 ? "s" : ""}</div>
      )}
      {data.extra?.on_error === "continue" && <div className="step-on-error">on error: continue</div>}
      <xyflow.Handle type="source" position={xyflow.Position.Right} title="Next (on success)" />
      {/* Dragging from here makes an error edge: taken only when this node fails for good. */}
      {data.errorHandle !== false && (
        <xyflow.Handle type="source" id={ERROR_HANDLE} position={xyflow.Position.Bottom} className="handle-error"
          title="On error: drag to the node that handles this node's failure" />
      )}
    </div>
  );
}

/** @param {{data: any}} props */
function GhostNodeView({ data }) {
  return (
    <div className={`step-node kind-${data.kind} ghost`} data-diff="removed">
      <div className="step-kind">{data.kind}<span className="diff-tag"> · removed</span></div>
      <div className="step-id">{data.label}</div>
    </div>
  );
}

export const nodeTypes = { step: memo(StepNodeView), ghost: memo(GhostNodeView) };
