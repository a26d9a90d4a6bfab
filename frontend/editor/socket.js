// The island's one websocket (/ws/?format=json, controlroom/consumers.py): any number of
// listeners follow groups (run.<id>, flow.<id>...) over a single connection; each group is
// subscribed once, and every followed group is subscribed again after a reconnect. A dropped
// connection reconnects with exponential backoff and jitter, except when the server ended the
// session or forbade the socket (reconnecting would only be refused again).

/** The server's close codes after which reconnecting is pointless (session ended, no role). */
export const FINAL_CLOSE_CODES = new Set([4401, 4403]);
/** Backoff of the reconnects: the first wait and the longest one, in milliseconds. */
export const BACKOFF = { first: 500, max: 15_000 };

/**
 * How long to wait before reconnect number ``attempt`` (0 for the first): half of
 * ``min(max, first * 2^attempt)`` plus a random part of the other half ("equal jitter"), so
 * pages that lost the server together do not all come back in the same instant.
 * @param {number} attempt
 * @param {() => number} [random] uniform in [0, 1)
 */
export function backoffDelay(attempt, random = Math.random) {
  const ceiling = Math.min(BACKOFF.max, BACKOFF.first * 2 ** attempt);
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/**
 * @typedef {"connecting" | "live" | "reconnecting" | "refused" | "closed"} LinkStatus
 * ``live``: the server confirmed the subscription (events flow; anything that changed before is
 * to be read again); ``refused``: the server would not open that group for this user;
 * ``closed``: the session ended, no reconnect.
 * @typedef {{type: string, groups?: string[], data?: any}} BusEvent
 * @typedef {(event: BusEvent) => void} EventListener
 * @typedef {(status: LinkStatus) => void} StatusListener
 * @typedef {{follow: (group: string, onEvent: EventListener, onStatus?: StatusListener) => () => void,
 *   status: (group: string) => LinkStatus | undefined}} LiveSocket
 */

/**
 * A socket client. ``follow(group, onEvent, onStatus)`` starts listening (``onStatus`` hears the
 * group's status at once and at each change) and returns the function that stops it; the
 * connection opens with the first follower and closes with the last.
 * @param {{url: string, WebSocketImpl?: any, timers?: {setTimeout: Function, clearTimeout: Function},
 *   random?: () => number}} options ``WebSocketImpl``, ``timers``, ``random``: the browser's by default.
 * @returns {LiveSocket}
 */
export function createSocket({ url, WebSocketImpl = globalThis.WebSocket, timers = globalThis, random = Math.random }) {
  /** @type {Map<string, Set<{onEvent: EventListener, onStatus?: StatusListener}>>} */
  const listeners = new Map();
  /** @type {Map<string, LinkStatus>} */
  const statuses = new Map();
  let ws = null;
  let attempt = 0;
  let retry = null;

  const setStatus = (groups, status) => {
    for (const group of groups) {
      if (!listeners.has(group) || statuses.get(group) === status) continue;
      statuses.set(group, status);
      for (const l of [...listeners.get(group)]) l.onStatus?.(status);
    }
  };
  const send = (message) => {
    if (ws && ws.readyState === 1) ws.send(JSON.stringify(message));
  };
  const deliver = (event) => {
    const reached = new Set();
    for (const group of event.groups || []) for (const l of listeners.get(group) || []) reached.add(l);
    for (const l of reached) l.onEvent(event);
  };
  const onMessage = (text) => {
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    if (frame.type === "subscribed") {
      attempt = 0; // the server took us back: the next drop starts the backoff afresh
      setStatus(frame.groups || [], "live");
    } else if (frame.type === "error") {
      if (frame.code === "subscription_refused") setStatus(frame.groups || [], "refused");
    } else if (frame.type !== "unsubscribed" && Array.isArray(frame.groups)) {
      deliver(frame);
    }
  };
  const connect = () => {
    retry = null;
    const socket = new WebSocketImpl(url);
    ws = socket;
    socket.onopen = () => send({ type: "subscribe", groups: [...listeners.keys()] });
    socket.onmessage = (msg) => onMessage(msg.data);
    socket.onclose = (ev) => {
      if (ws !== socket) return; // closed on purpose (no follower left)
      ws = null;
      const groups = [...listeners.keys()];
      if (FINAL_CLOSE_CODES.has(ev?.code)) {
        setStatus(groups, "closed");
        return;
      }
      setStatus(groups, "reconnecting");
      retry = timers.setTimeout(connect, backoffDelay(attempt, random));
      attempt += 1;
    };
  };
  const disconnect = () => {
    if (retry !== null) timers.clearTimeout(retry);
    retry = null;
    const socket = ws;
    ws = null;
    socket?.close();
    attempt = 0;
  };

  const follow = (group, onEvent, onStatus) => {
    const listener = { onEvent, onStatus };
    if (!listeners.has(group)) {
      listeners.set(group, new Set());
      statuses.set(group, ws || retry === null ? "connecting" : "reconnecting");
      send({ type: "subscribe", groups: [group] });
    }
    listeners.get(group).add(listener);
    if (!ws && retry === null) connect();
    onStatus?.(statuses.get(group));
    return () => {
      const set = listeners.get(group);
      if (!set?.delete(listener) || set.size) return;
      listeners.delete(group);
      statuses.delete(group);
      send({ type: "unsubscribe", groups: [group] });
      if (!listeners.size) disconnect();
    };
  };
  return { follow, status: (group) => statuses.get(group) };
}

let shared = null;

/** The page's socket (created at the first call), at /ws/ on this page's host. */
export function pageSocket() {
  if (!shared) {
    const proto = location.protocol === "https:" ? "wss" : "ws";
    shared = createSocket({ url: `${proto}://${location.host}/ws/?format=json` });
  }
  return shared;
}
