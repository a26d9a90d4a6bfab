// What the toolbar does with the document: save, publish, test-run the draft, export as JSON,
// import JSON or YAML, and restore a compared version onto the canvas.
import { useState } from "react";
import { crumbsSaved } from "./crumbs.js";

/**
 * ``saved``: ``{version, live}`` of the flow as saved; each action reports in ``onStatus``.
 * A test run and a publish save the canvas first when it changed (or was never saved).
 */
export function useDocumentActions({ api, boot, document: d, catalog, validation, graph, followRun, showReadable, sample, onStatus }) {
  const [saved, setSaved] = useState({ version: boot.version, live: boot.live_version });

  const save = async () => {
    onStatus("Saving…");
    try {
      const r = await api.save(d.doc, { createOnly: boot.is_new && !saved.version });
      setSaved({ version: r.version, live: r.live_version });
      d.markSaved();
      catalog.addVersion(r.version);
      // A flow started from the gallery exists from its first save: give it its own address.
      if (boot.is_new) window.history.replaceState(null, "", `/flows/${r.slug}/edit/`);
      crumbsSaved({ slug: r.slug, name: d.doc.name || boot.name });
      onStatus(`Saved as version ${r.version}.`);
      return r.version;
    } catch (e) {
      onStatus(`Not saved: ${e.message}`);
      if (e.details?.length) validation.showProblems(e.details);
      return null;
    }
  };
  const savedVersion = async () => (d.dirty || !saved.version ? save() : saved.version);
  const publish = async () => {
    const version = await savedVersion();
    if (!version) return;
    try {
      const r = await api.publish(boot.slug, version);
      setSaved((s) => ({ ...s, live: r.live_version }));
      onStatus(`Version ${r.live_version} is live.`);
    } catch (e) {
      onStatus(`Not published: ${e.message}`);
    }
  };
  const testRun = async () => {
    let input;
    try {
      input = JSON.parse(sample || "{}");
    } catch {
      onStatus("Sample input is not valid JSON.");
      return;
    }
    const version = await savedVersion();
    if (!version) return;
    try {
      const r = await api.runStart(boot.slug, version, input);
      followRun(r.run_id);
      onStatus(`Test run started on version ${version}.`);
    } catch (e) {
      onStatus(`Run not started: ${e.message}`);
    }
  };
  const exportJson = () => {
    const blob = new Blob([JSON.stringify(d.doc, null, 2)], { type: "application/json" });
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = `${boot.slug}.flow.json`;
    a.click();
    URL.revokeObjectURL(a.href);
  };
  // JSON or YAML, read by the API's own parser: a syntax error names its line and column.
  const importFile = async (file) => {
    const yamlFile = /\.ya?ml$/i.test(file.name) || /yaml/.test(file.type);
    try {
      const data = await api.parse(await file.text(), yamlFile ? "application/yaml" : "application/json");
      graph.replaceGraph(data);
      const { nodes: _n, edges: _e, ...rest } = data;
      d.setMeta((m) => ({ ...rest, slug: boot.slug, name: rest.name || m.name, schema: rest.schema || m.schema }));
      onStatus(`Imported ${file.name}; save to keep it.`);
      setTimeout(() => showReadable(), 80);
    } catch (e) {
      onStatus(`Could not import ${file.name}: ${e.details?.[0]?.message || e.message}`);
    }
  };
  const restoreVersion = (compare) => {
    graph.replaceGraph(compare.doc);
    onStatus(`Restored version ${compare.version} on the canvas; save to make it a new version.`);
  };
  return { saved, save, publish, testRun, exportJson, importFile, restoreVersion };
}
