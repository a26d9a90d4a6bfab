// Undo and redo of the editor's document: snapshots of what the user may change (the graph and
// the flow's own policies), taken before each change.

export const HISTORY_LIMIT = 100;
/** Typing in one field is one undo step per pause of at least this long (ms). */
export const TYPING_PAUSE_MS = 1500;

/**
 * An undo history of at most ``limit`` steps. ``record(state)`` keeps the state before a change
 * (and drops the redo steps); ``undo(current)`` answers the state to go back to (keeping
 * ``current`` for redo), or null when there is none; ``redo(current)`` the other way round.
 * @template S
 * @param {number} [limit]
 */
export function createHistory(limit = HISTORY_LIMIT) {
  /** @type {S[]} */
  const past = [];
  /** @type {S[]} */
  let future = [];
  return {
    /** @param {S} state */
    record(state) {
      past.push(state);
      if (past.length > limit) past.shift();
      future = [];
    },
    /** @param {S} current @returns {S | null} */
    undo(current) {
      const previous = past.pop();
      if (previous === undefined) return null;
      future.push(current);
      return previous;
    },
    /** @param {S} current @returns {S | null} */
    redo(current) {
      const next = future.pop();
      if (next === undefined) return null;
      past.push(current);
      return next;
    },
  };
}

/**
 * Whether an edit of ``key`` at ``now`` (ms) begins a new undo step after the previous edit
 * ``last`` (``{key, at}``): always for no key, else when the key changed or typing paused.
 * @param {{key: string | null, at: number}} last
 * @param {string | null} key
 * @param {number} now
 */
export function startsUndoStep(last, key, now, pause = TYPING_PAUSE_MS) {
  return !key || last.key !== key || now - last.at > pause;
}
