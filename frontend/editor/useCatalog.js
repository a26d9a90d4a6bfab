// What the editor offers to choose from, read once when it opens: the node types (the palette,
// each node's config schema), the agents, the tool registry and the flow's saved versions.
import { useEffect, useEffectEvent, useMemo, useState } from "react";

/**
 * ``agents`` starts with the document's own agents and gains the stored ones; ``tools`` is null
 * until the registry answered; ``addVersion(n)`` records a version just saved.
 */
export function useCatalog({ api, slug, documentAgents, onStatus }) {
  const [types, setTypes] = useState([]);
  const [agents, setAgents] = useState(() => (documentAgents || []).map((a) => a.slug));
  const [tools, setTools] = useState(null);
  const [versions, setVersions] = useState([]);
  const failed = useEffectEvent((e) => onStatus(`Could not load node types: ${e.message}`));
  useEffect(() => {
    api.nodeTypes().then(setTypes).catch(failed);
    api.agents().then((data) => {
      const slugs = (data.items || []).map((a) => a.slug);
      setAgents((prev) => [...new Set([...prev, ...slugs])]);
    });
    api.tools().then((data) => setTools(data.items || []));
    api.flow(slug).then((f) => setVersions(f.versions || [])).catch(() => {}); // a new flow has none yet
  }, [api, slug]);
  const typeByName = useMemo(() => Object.fromEntries(types.map((t) => [t.type, t])), [types]);
  const addVersion = (version) => setVersions((vs) => [...new Set([...vs, version])]);
  return { types, typeByName, agents, tools, versions, addVersion };
}
