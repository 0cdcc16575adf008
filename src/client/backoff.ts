/**
 * Reconnect delays: exponential from `baseMs` up to `maxMs`, with "equal jitter" (each delay is a random
 * point in its upper half), so clients dropped together by a restart do not all come back at once.
 */
export interface Backoff {
  /** The delay before the next attempt; each call counts one attempt. */
  next(): number;
  /** Attempts since the last reset. */
  readonly attempt: number;
  reset(): void;
}

export function createBackoff(baseMs: number, maxMs: number, random: () => number = Math.random): Backoff {
  let attempt = 0;
  return {
    next() {
      const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 30));
      attempt++;
      return Math.round(ceiling / 2 + (random() * ceiling) / 2);
    },
    get attempt() {
      return attempt;
    },
    reset() {
      attempt = 0;
    },
  };
}
