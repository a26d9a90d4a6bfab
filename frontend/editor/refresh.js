// Reading something again after events say it changed, without a request per event and without
// an older answer overwriting a newer one.

/**
 * A coalescing refresher. ``poke()`` asks for ``fetch()`` within ``wait`` ms; pokes while one is
 * scheduled ride along with it, so a burst of events costs one request. Overlapping requests can
 * be answered out of order (the server answers them in parallel under ASGI): ``apply(answer)``
 * gets an answer only if no newer request's answer was applied before it. The newest request is
 * always sent after the newest poke, so its answer always lands. After ``cancel()`` nothing is
 * fetched or applied any more. A failed fetch goes to ``onError`` (ignored by default: the next
 * poke asks again).
 * @template T
 * @param {() => Promise<T>} fetch
 * @param {(answer: T) => void} apply
 * @param {{wait: number, timers?: {setTimeout: Function, clearTimeout: Function}, onError?: (e: any) => void}} options
 */
export function createRefresher(fetch, apply, { wait, timers = globalThis, onError }) {
  let timer = null;
  let sent = 0;
  let applied = 0;
  let stopped = false;
  const send = () => {
    timer = null;
    const seq = ++sent;
    Promise.resolve()
      .then(fetch)
      .then(
        (answer) => {
          if (stopped || seq < applied) return;
          applied = seq;
          apply(answer);
        },
        (e) => !stopped && onError?.(e),
      );
  };
  return {
    poke() {
      if (stopped || timer !== null) return;
      timer = timers.setTimeout(send, wait);
    },
    cancel() {
      stopped = true;
      if (timer !== null) timers.clearTimeout(timer);
      timer = null;
    },
  };
}
