// The JSON API as the browser's session (CSRF header on writes). The websocket is socket.js.

/** An API error: the message of the answer's ``error``, and its ``details`` (``{pointer, message}``). */
export class ApiError extends Error {
  /** @param {string} message @param {any[]} details */
  constructor(message, details) {
    super(message);
    this.details = details;
  }
}

/** @param {{csrf: string}} boot */
export function makeApi(boot) {
  // ``raw``: send ``body`` as it is with that content type (a YAML or JSON file's text).
  async function call(method, path, body, raw, extra = {}) {
    const headers = { Accept: "application/json", ...extra };
    if (body !== undefined) headers["Content-Type"] = raw || "application/json";
    if (method !== "GET") headers["X-CSRFToken"] = boot.csrf;
    const res = await fetch(`/api${path}`, {
      method,
      headers,
      credentials: "same-origin",
      body: body === undefined ? undefined : raw ? body : JSON.stringify(body),
    });
    const data = res.headers.get("content-type")?.includes("json") ? await res.json() : await res.text();
    if (!res.ok) {
      throw new ApiError(data?.error?.message || data?.detail || `HTTP ${res.status}`, data?.error?.details || []);
    }
    return data;
  }
  return {
    nodeTypes: () => call("GET", "/node-types"),
    agents: () => call("GET", "/agents").catch(() => ({ items: [] })),
    tools: () => call("GET", "/tools").catch(() => ({ items: [] })),
    validate: (doc) => call("POST", "/flows/validate", doc),
    preview: (body) => call("POST", "/expressions/preview", body).then((r) => r.value),
    parse: (text, contentType) => call("POST", "/flows/parse", text, contentType),
    // ``createOnly``: a new flow's first save never lands on an existing flow (412 instead).
    save: (doc, { createOnly = false } = {}) =>
      call("POST", "/flows", doc, undefined, createOnly ? { "If-None-Match": "*" } : {}),
    publish: (slug, version) => call("POST", `/flows/${slug}/publish`, { version }),
    runStart: (slug, version, input) => call("POST", `/flows/${slug}/runs`, { version, input }),
    run: (id) => call("GET", `/runs/${id}`),
    // Runs filtered like the API's list (flow, status, version...), newest first.
    runs: (filters) => call("GET", `/runs?${new URLSearchParams(filters)}`),
    flow: (slug) => call("GET", `/flows/${slug}`),
    exportVersion: (slug, version) => call("GET", `/flows/${slug}/export?version=${version}`),
    // What changed from saved version ``base`` to ``doc`` (the canvas), section by section.
    diff: (slug, base, doc) => call("POST", `/flows/${slug}/diff?base=${base}`, doc),
    load: (slug) => call("GET", `/flows/${slug}/load`),
    policyKinds: () => call("GET", "/policy-kinds"),
    // Stored policies filtered like the API's list (scope, target, enabled...).
    policies: (filters) => call("GET", `/policies?${new URLSearchParams({ limit: "200", ...filters })}`),
    flows: () => call("GET", "/flows"),
    // The saved flow's trigger: its URLs (webhook, form) and webhook secrets (never values).
    trigger: (slug) => call("GET", `/flows/${slug}/trigger`),
    // {cron, timezone, count?} -> {next: [iso with the zone's offset], timezone, description}
    schedulePreview: (body) => call("POST", "/triggers/schedule-preview", body),
    // Issues a new signing secret (the value is in the answer, once); older ones stay valid
    // for ``overlapSeconds``.
    secretRotate: (slug, overlapSeconds) =>
      call("POST", `/flows/${slug}/webhook-secrets`, { overlap_seconds: overlapSeconds }),
    // Shows a secret's value again; the server records the reveal in the audit log.
    secretReveal: (slug, number) => call("POST", `/flows/${slug}/webhook-secrets/${number}/reveal`),
  };
}
