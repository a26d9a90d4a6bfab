// The editor's toolbar: the saved and live versions, history, layout and view, export and
// import, the version to compare with, the live overlay's switch, and save / run / publish.

function ImportButton({ onImport }) {
  return (
    <label className="btn btn-small file-btn">
      Import JSON or YAML
      <input type="file" accept=".json,.yaml,.yml,application/json,application/yaml" className="visually-hidden"
        onChange={(e) => { if (e.target.files[0]) onImport(e.target.files[0]); e.target.value = ""; }} />
    </label>
  );
}

function LiveToggle({ shown, onShown, load }) {
  return (
    <label className="live-load-toggle small">
      <input type="checkbox" checked={shown} onChange={(e) => onShown(e.target.checked)} />
      {" "}Live runs
      {load && <span className="muted" data-runs-in-flight={load.runs_in_flight}> (v{load.version}: {load.runs_in_flight} in flight)</span>}
    </label>
  );
}

/**
 * ``saved``: ``{version, live}``; ``actions``: useDocumentActions; ``history``: undo/redo;
 * ``compare``: useCompare; ``live``: ``{shown, onShown, load}`` of the overlay; ``missing``: the
 * launch checklist's missing items; ``launchReady``: publishing is allowed.
 */
export function Toolbar({
  boot, readOnly, saved, dirty, history, onLayout, onFit, actions, versions, compare, live, missing, launchReady,
}) {
  return (
    <div className="editor-toolbar" role="toolbar" aria-label="Editor">
      <span className="editor-version" role="status" aria-live="polite">
        {saved.version ? `v${saved.version}` : "no version"}
        {saved.live ? ` · v${saved.live} live` : " · not live"}
        {dirty ? " · unsaved changes" : ""}
      </span>
      <button type="button" className="btn btn-small" onClick={history.undo} disabled={readOnly} title="Undo (Ctrl+Z)">Undo</button>
      <button type="button" className="btn btn-small" onClick={history.redo} disabled={readOnly} title="Redo (Ctrl+Shift+Z)">Redo</button>
      <button type="button" className="btn btn-small" onClick={onLayout} disabled={readOnly}>Auto layout</button>
      <button type="button" className="btn btn-small" onClick={onFit}>Fit</button>
      <button type="button" className="btn btn-small" onClick={actions.exportJson}>Export JSON</button>
      {saved.version && <a className="btn btn-small" href={`/api/flows/${boot.slug}/export?format=yaml&version=${saved.version}`}>Export YAML</a>}
      {!readOnly && <ImportButton onImport={actions.importFile} />}
      <label className="compare-label" htmlFor="compare-version">Compare with</label>
      <select id="compare-version" value={compare.compare?.version || ""} onChange={(e) => compare.choose(e.target.value)}>
        <option value="">—</option>
        {[...versions].reverse().map((v) => <option key={v} value={v}>version {v}{v === saved.live ? " (live)" : ""}</option>)}
      </select>
      {saved.live && <LiveToggle {...live} />}
      <span className="toolbar-spacer" />
      {/* Save, test and publish stay together (they wrap to a new line as one). */}
      <span className="toolbar-actions">
        {!readOnly && <button type="button" className="btn btn-small" onClick={actions.save}>Save draft</button>}
        {boot.can_operate && (
          <button type="button" className="btn btn-small" onClick={actions.testRun} aria-describedby="run-note"
            title="Save the canvas if it changed and run it with the sample input">Run draft</button>
        )}
        {!readOnly && (
          <>
            {missing.length > 0 && (
              <span id="publish-blocked" className="publish-blocked small">Not launchable: {missing.map((m) => m.title).join(", ")} missing</span>
            )}
            <button type="button" className="btn btn-small btn-primary" onClick={actions.publish}
              disabled={!launchReady} aria-describedby={missing.length ? "publish-blocked" : undefined}>Publish</button>
          </>
        )}
      </span>
    </div>
  );
}
