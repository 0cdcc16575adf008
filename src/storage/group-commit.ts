import { StorageError } from "../errors.ts";

export interface GroupCommitOptions {
  /**
   * `true`: rows that arrive while a write is in flight, or in the same event-loop turn, go out as one
   * multi-row INSERT. `false`: one INSERT per message (still one at a time, so order holds); for comparison.
   * @default true
   */
  batch?: boolean;
  /**
   * Most rows per INSERT. Keeps the statement under every dialect's bound-parameter limit
   * (SQLite 32766, Postgres 65535) at 9 columns a row.
   * @default 500
   */
  maxBatchRows?: number;
  /**
   * A write (or a history read) that has not finished by then fails with `STORAGE_ERROR`, so a database
   * that stops answering cannot stall chat: drivers such as postgres.js keep queries waiting while they
   * reconnect. The late write may still commit; it was reported as failed, so nothing acknowledged is lost.
   * @default 10000
   */
  timeoutMs?: number;
}

/** Rejects with a {@link StorageError} if `promise` has not settled within `ms`. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  if (!(ms > 0) || !Number.isFinite(ms)) return promise;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new StorageError(`${what} timed out after ${ms} ms; is the database reachable?`)), ms);
  });
  promise.catch(() => {}); // a late failure after the timeout is not an unhandled rejection
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export interface GroupCommit<T> {
  /** Queue a row; resolves once the INSERT that carried it has committed. */
  push(row: T): Promise<void>;
  /** Resolves when everything queued so far has been written (or has failed). */
  drain(): Promise<void>;
}

interface Pending<T> {
  row: T;
  resolve: () => void;
  reject: (error: unknown) => void;
}

const nextTurn: (fn: () => void) => void =
  typeof globalThis.setImmediate === "function" ? (fn) => globalThis.setImmediate(fn) : (fn) => setTimeout(fn, 0);

/**
 * Group commit: one writer at a time per storage, each write taking every row queued since the last one.
 * Rows are written in `push` order, so the database's sequence follows the order appends were called in,
 * which is the order the server broadcasts in. A failed write rejects every caller in it with a
 * {@link StorageError} (the driver's error as `cause`); the next write starts fresh.
 */
export function createGroupCommit<T>(
  write: (rows: T[]) => Promise<void>,
  describeFailure: (cause: unknown) => string,
  options: GroupCommitOptions = {},
): GroupCommit<T> {
  const maxRows = options.batch === false ? 1 : Math.max(1, options.maxBatchRows ?? 500);
  const timeoutMs = options.timeoutMs ?? 10_000;
  let queue: Pending<T>[] = [];
  let running = false;
  let scheduled = false;
  let idleWaiters: Array<() => void> = [];

  async function run(): Promise<void> {
    scheduled = false;
    running = true;
    while (queue.length > 0) {
      const take = queue.length <= maxRows ? queue : queue.slice(0, maxRows);
      queue = queue.length <= maxRows ? [] : queue.slice(maxRows);
      try {
        await withTimeout(write(take.map((p) => p.row)), timeoutMs, "Storing chat messages");
        for (const p of take) p.resolve();
      } catch (cause) {
        const error = cause instanceof StorageError ? cause : new StorageError(describeFailure(cause), { cause });
        for (const p of take) p.reject(error);
      }
    }
    running = false;
    const waiters = idleWaiters;
    idleWaiters = [];
    for (const w of waiters) w();
  }

  return {
    push(row) {
      return new Promise<void>((resolve, reject) => {
        queue.push({ row, resolve, reject });
        if (running || scheduled) return;
        scheduled = true;
        // Wait one turn so appends from every socket read in this turn share the first INSERT.
        nextTurn(() => void run());
      });
    },
    drain() {
      if (!running && !scheduled && queue.length === 0) return Promise.resolve();
      return new Promise<void>((resolve) => idleWaiters.push(resolve));
    },
  };
}
