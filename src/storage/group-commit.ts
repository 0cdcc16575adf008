import { StorageError } from "../errors.ts";
import { nextTurn, withTimeout } from "../util/async.ts";

export interface GroupCommitOptions {
  /**
   * `true`: rows that arrive while a write is in flight, or in the same event-loop turn, go out as one
   * multi-row INSERT. `false`: one INSERT per message (still one at a time, so order holds); for comparison.
   * @default true
   */
  batch?: boolean;
  /**
   * Most rows per INSERT. Keeps the statement under every dialect's bound-parameter limit
   * (SQLite 32766, Postgres 65535) at 10 columns a row.
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

/** `promise`, or a {@link StorageError} naming `what` if it has not settled within `ms` (no bound when `ms` is not positive). */
export function storageTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  if (!(ms > 0) || !Number.isFinite(ms)) return promise;
  promise.catch(() => {}); // a late failure after the timeout is not an unhandled rejection
  return withTimeout(promise, ms, {
    error: () => new TimeoutStorageError(`${what} timed out after ${ms} ms; is the database reachable?`),
  });
}

/** A storage wait that ran out of time: the database may be gone, so the batch is not retried row by row. */
class TimeoutStorageError extends StorageError {}

export interface GroupCommit<T, R> {
  /** Queue a row; resolves with the writer's result for it once the INSERT that carried it has committed. */
  push(row: T): Promise<R | undefined>;
  /** Resolves when everything queued so far has been written (or has failed). */
  drain(): Promise<void>;
}

interface Pending<T, R> {
  row: T;
  resolve: (result: R | undefined) => void;
  reject: (error: unknown) => void;
}

// Connection-level failures: the database did not judge the rows, so retrying them one by one is pointless.
const CONNECTION_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "ENOTFOUND",
  "EHOSTUNREACH",
  "CONNECTION_CLOSED",
  "CONNECTION_ENDED",
  "CONNECTION_DESTROYED",
  "CONNECT_TIMEOUT",
  "PROTOCOL_CONNECTION_LOST",
  "POOL_CLOSED",
  "SQLITE_BUSY",
  "SQLITE_LOCKED",
  "SQLITE_FULL",
  "SQLITE_IOERR",
  "SQLITE_READONLY",
]);

/**
 * Whether a failed batch may hold rows that would succeed alone: anything but a timeout or a lost
 * connection. Postgres SQLSTATE classes 08 (connection), 53 (resources) and 57 (operator intervention)
 * concern the server, not the rows.
 */
export function mayBeRowError(cause: unknown): boolean {
  for (let error = cause, depth = 0; error && depth < 4; error = (error as { cause?: unknown }).cause, depth++) {
    if (error instanceof TimeoutStorageError) return false;
    const { code, fatal } = error as { code?: unknown; fatal?: unknown };
    if (fatal === true) return false;
    if (typeof code === "string" && (CONNECTION_CODES.has(code) || /^(08|53|57)[0-9A-Z]{3}$/.test(code))) return false;
  }
  return true;
}

/**
 * Group commit: one writer at a time per storage, each write taking every row queued since the last one.
 * Rows are written in `push` order, so the database's sequence follows the order appends were called in,
 * which is the order the server broadcasts in.
 *
 * When a batch fails with an error about its rows (the database refused one of them), the batch is split in
 * halves and each half written again, in order, down to single rows: only the refused rows fail, the others
 * are stored and acknowledged. A timeout or a lost connection fails the whole batch at once. A failed row's
 * caller gets a {@link StorageError} with the driver's error as `cause`; the next write starts fresh.
 */
export function createGroupCommit<T, R = void>(
  write: (rows: T[]) => Promise<readonly (R | undefined)[] | void>,
  describeFailure: (cause: unknown) => string,
  options: GroupCommitOptions = {},
): GroupCommit<T, R> {
  const maxRows = options.batch === false ? 1 : Math.max(1, options.maxBatchRows ?? 500);
  const timeoutMs = options.timeoutMs ?? 10_000;
  let queue: Pending<T, R>[] = [];
  let running = false;
  let scheduled = false;
  let idleWaiters: Array<() => void> = [];

  const toStorageError = (cause: unknown) => (cause instanceof StorageError ? cause : new StorageError(describeFailure(cause), { cause }));

  /** Write `take`, settling each caller; returns the error that stops the rest of the batch, if any. */
  async function writeRows(take: Pending<T, R>[]): Promise<unknown> {
    try {
      const results = await storageTimeout(write(take.map((p) => p.row)), timeoutMs, "Storing chat messages");
      for (const [i, p] of take.entries()) p.resolve(results ? results[i] : undefined);
      return undefined;
    } catch (cause) {
      if (take.length === 1 || !mayBeRowError(cause)) {
        const error = toStorageError(cause);
        for (const p of take) p.reject(error);
        return take.length === 1 && mayBeRowError(cause) ? undefined : error;
      }
      const half = Math.ceil(take.length / 2);
      const stop = await writeRows(take.slice(0, half));
      if (stop !== undefined) {
        for (const p of take.slice(half)) p.reject(stop);
        return stop;
      }
      return writeRows(take.slice(half));
    }
  }

  async function run(): Promise<void> {
    scheduled = false;
    running = true;
    while (queue.length > 0) {
      const take = queue.length <= maxRows ? queue : queue.slice(0, maxRows);
      queue = queue.length <= maxRows ? [] : queue.slice(maxRows);
      await writeRows(take);
    }
    running = false;
    const waiters = idleWaiters;
    idleWaiters = [];
    for (const w of waiters) w();
  }

  return {
    push(row) {
      return new Promise<R | undefined>((resolve, reject) => {
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
