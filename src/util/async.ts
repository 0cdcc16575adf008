/**
 * The async toolkit every module shares: one way to bound a wait, one way to defer to the next turn,
 * one way to arm a background timer. Timers armed here never keep a process alive on their own
 * (`unref` where the runtime has it), and a bounded wait always clears its timer when it settles.
 */

type Timer = ReturnType<typeof setTimeout>;

/** Let `timer` not hold the process open (Node, Bun and Deno all have `unref` on timers). */
export function unref<T>(timer: T): T {
  (timer as { unref?: () => void }).unref?.();
  return timer;
}

/** `setTimeout` that does not keep the process alive. */
export function backgroundTimeout(fn: () => void, ms: number): Timer {
  return unref(setTimeout(fn, ms));
}

/** `setInterval` that does not keep the process alive. */
export function backgroundInterval(fn: () => void, ms: number): ReturnType<typeof setInterval> {
  return unref(setInterval(fn, ms));
}

/** What {@link withTimeout} does when time runs out: reject with this error, or resolve with `fallback`. */
export type OnTimeout<F> = { error: () => unknown } | { fallback: F };

/**
 * `promise`, or the timeout's outcome if it has not settled within `ms`. The timer is cleared as soon as
 * either side wins and never keeps the process alive. The promise itself is not cancelled: a write
 * that timed out may still complete later.
 * @example
 * await withTimeout(storage.close(), 5000, { error: () => new Error("storage did not close within 5 s") });
 * const state = await withTimeout(fetchRoom(id), 2000, { fallback: undefined });
 */
export function withTimeout<T, F = never>(promise: PromiseLike<T> | T, ms: number, onTimeout: OnTimeout<F>): Promise<T | F> {
  let timer: Timer | undefined;
  const timeout = new Promise<F>((resolve, reject) => {
    timer = backgroundTimeout(() => ("error" in onTimeout ? reject(onTimeout.error()) : resolve(onTimeout.fallback)), Math.max(0, ms));
  });
  return Promise.race([Promise.resolve(promise), timeout]).finally(() => clearTimeout(timer));
}

/** Resolves after `ms` without keeping the process alive. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => backgroundTimeout(resolve, ms));
}

/**
 * Runs `fn` in a later event-loop turn, after pending I/O callbacks. The runtime-specific scheduler
 * (Node's and Bun's `setImmediate`) is injected by the entries through {@link setTurnScheduler};
 * the portable default is a zero-delay timer.
 */
export function nextTurn(fn: () => void): void {
  scheduler(fn);
}

let scheduler: (fn: () => void) => void = (fn) => {
  setTimeout(fn, 0);
};

/** Called once by a runtime entry that has a cheaper way to run code in the next turn. */
export function setTurnScheduler(schedule: (fn: () => void) => void): void {
  scheduler = schedule;
}
