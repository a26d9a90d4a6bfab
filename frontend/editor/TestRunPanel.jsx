// The test run's input and its run: status, tokens and cost, and whether its events arrive.

/** ``run``: useTestRun's run (null before the first); ``canOperate``: the role may start runs. */
export function TestRunPanel({ sample, onSample, run, canOperate }) {
  return (
    <section className="editor-run" aria-labelledby="run-heading">
      <h2 id="run-heading">Test run</h2>
      <label htmlFor="sample-input">Sample input (JSON)</label>
      <textarea id="sample-input" className="mono" rows={4} value={sample} onChange={(e) => onSample(e.target.value)} />
      <p id="run-note" className="field-note">
        {canOperate ? "Run draft (in the toolbar) saves the canvas if it changed and runs it with this input." : "Your role may not start runs."}
      </p>
      {run && (
        <p className="small" data-run={run.id} data-run-status={run.data?.status || "queued"} data-run-link={run.live}>
          Run <a href={`/runs/${run.id}/`}>{run.id.slice(0, 8)}</a>: {run.data?.status || "queued"}
          {run.data ? ` · ${run.data.tokens_in + run.data.tokens_out} tokens · $${run.data.cost}` : ""}
          <span className="muted"> ({run.live})</span>
        </p>
      )}
    </section>
  );
}
