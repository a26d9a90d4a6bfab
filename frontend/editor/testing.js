// Test doubles for the unit tests (*.test.js, run by `node --test frontend/`): timers run by
// hand, and a websocket whose server side the test plays. Not part of the editor's bundle.

/** Timers that fire only when the test says so: ``run(ms)`` advances the clock. */
export function fakeTimers() {
  let now = 0;
  let next = 1;
  const pending = new Map(); // id -> {at, fn, every}
  const timers = {
    setTimeout: (fn, ms) => { pending.set(next, { at: now + ms, fn, every: 0 }); return next++; },
    clearTimeout: (id) => pending.delete(id),
    setInterval: (fn, ms) => { pending.set(next, { at: now + ms, fn, every: ms }); return next++; },
    clearInterval: (id) => pending.delete(id),
    /** Advance the clock by ``ms``, firing what falls due in order. */
    run(ms) {
      const end = now + ms;
      for (;;) {
        const due = [...pending.entries()].filter(([, t]) => t.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
        if (!due) break;
        const [id, t] = due;
        now = t.at;
        if (t.every) t.at += t.every; else pending.delete(id);
        t.fn();
      }
      now = end;
    },
    /** The delays of the timers waiting now. */
    delays: () => [...pending.values()].map((t) => t.at - now),
    get count() { return pending.size; },
  };
  return timers;
}

/** Resolves once the promise callbacks queued so far (and those they queue) have run. */
export function settle() {
  return new Promise((resolve) => setImmediate(resolve));
}

/** A WebSocket class recording every socket made; the test opens, answers and drops them. */
export function fakeWebSocket() {
  const sockets = [];
  class FakeSocket {
    constructor(url) {
      this.url = url;
      this.readyState = 0;
      this.sent = [];
      this.closed = false;
      /** @type {((ev?: any) => void) | null} */
      this.onopen = null;
      /** @type {((msg: {data: string}) => void) | null} */
      this.onmessage = null;
      /** @type {((ev: {code: number}) => void) | null} */
      this.onclose = null;
      sockets.push(this);
    }
    send(text) { this.sent.push(JSON.parse(text)); }
    close() { this.closed = true; this.readyState = 3; this.onclose?.({ code: 1000 }); }
    // The server's side:
    open() { this.readyState = 1; this.onopen?.(); }
    receive(frame) { this.onmessage?.({ data: typeof frame === "string" ? frame : JSON.stringify(frame) }); }
    drop(code = 1006) { this.readyState = 3; this.onclose?.({ code }); }
  }
  return { FakeSocket, sockets };
}
