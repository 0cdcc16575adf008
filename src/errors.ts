/** Error classes and the background-error reporter. Wire and close codes are in `protocol/codes.ts`. */
import { ErrorCodes, type ErrorCode } from "./protocol/codes.ts";
import { OpenLiveSyncError } from "./util/coded-error.ts";
import { createLogWindow, LOG_WINDOW_MS } from "./util/log-window.ts";

export { CloseCodes, ErrorCodes, type CloseCode, type ErrorCode } from "./protocol/codes.ts";

export { OpenLiveSyncError } from "./util/coded-error.ts";

/** A client message failed validation; `code` is one of {@link ErrorCodes}. */
export class ProtocolError extends OpenLiveSyncError {
  constructor(code: ErrorCode, message: string) {
    super(code, message);
  }
}

/** A chat storage operation failed. */
export class StorageError extends OpenLiveSyncError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorCodes.STORAGE_ERROR, message, options);
  }
}

/** Options or configuration are invalid (bad table name, bad URL, missing driver…). */
export class ConfigError extends OpenLiveSyncError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("CONFIG_ERROR", message, options);
  }
}

/**
 * Webhook delivery went wrong; reported through `onError` with stage `webhook`, never once per event: a
 * full queue once per overflow episode, the others at most once a minute per code, with a count. `code` says what: `WEBHOOK_QUEUE_FULL` (new events are being dropped), `WEBHOOK_RETRYING`
 * (the receiver is unreachable or answers 5xx/408/429), `WEBHOOK_REJECTED` (it answered another non-2xx:
 * not retried), `WEBHOOK_EXPIRED` (retried for `retryForMs`, given up), `WEBHOOK_CLOSE_TIMEOUT` (events
 * still queued when `close()` gave up).
 */
export class WebhookError extends OpenLiveSyncError {
  constructor(code: WebhookErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}
export type WebhookErrorCode = "WEBHOOK_QUEUE_FULL" | "WEBHOOK_RETRYING" | "WEBHOOK_REJECTED" | "WEBHOOK_EXPIRED" | "WEBHOOK_CLOSE_TIMEOUT";

/**
 * An optional driver package is not installed. The message names what needs it and how to install it:
 * "The Redis backplane needs ioredis: npm install ioredis".
 */
export class MissingDriverError extends OpenLiveSyncError {
  constructor(pkg: string, installCommand: string, options?: { cause?: unknown; feature?: string }) {
    super("MISSING_DRIVER", `${options?.feature ?? "This storage"} needs ${pkg}: ${installCommand}`, options);
  }
}

/**
 * Where a background failure happened, as passed to `onError(error, { stage })`: exactly the stages the
 * engine, the adapters, auth and the backplane report (and the README's `onError` row lists).
 * - `upgrade`: a WebSocket upgrade failed before the socket opened (Node).
 * - `auth`: `onAuth` or `authorizeRoom` threw, or a JWKS fetch failed.
 * - `message`: handling a client message failed unexpectedly.
 * - `storage`: storing a chat message failed. `history`: loading history at join failed.
 * - `socket`: the runtime reported a socket error.
 * - `heartbeat`: a ping could not be sent.
 * - `close`: closing a socket or the chat storage failed.
 * - `backplane`: the cluster link failed, or a garbled message arrived on it.
 * - `api`: the HTTP API failed to answer a request unexpectedly (it answered 500 `INTERNAL_ERROR`).
 * - `callback`: an app callback (`onJoin`, `onLeave`, `beforeChat`, `beforeEvent`) threw, timed out or returned something invalid.
 * - `webhook`: delivering webhooks went wrong (a {@link WebhookError}: queue full, receiver failing,
 *   events rejected or given up, events left at close); never once per event.
 */
export type ErrorStage =
  | "upgrade"
  | "auth"
  | "message"
  | "storage"
  | "history"
  | "socket"
  | "heartbeat"
  | "close"
  | "backplane"
  | "callback"
  | "api"
  | "webhook"
  | "documents";

/** Receives background failures. It may throw or return a rejected promise: that is logged, never rethrown. */
export type OnError = (error: unknown, context: { stage: ErrorStage }) => void;

/**
 * The one error reporter: calls `onError` (default: {@link createLogReporter}) and never throws nor
 * rejects, so a faulty `onError` cannot turn a reported failure into an exception or an unhandled
 * rejection where it is called (timer callbacks, `.catch` handlers, socket events).
 * @example
 * const report = createReporter(options.onError);
 * storage.append(roomId, message).catch((error) => report(error, { stage: "storage" }));
 */
export function createReporter(onError?: OnError): (error: unknown, context: { stage: ErrorStage }) => void {
  const log = createLogReporter();
  if (!onError) return log;
  // A failing onError is logged like a failure without one, with what it threw: a line a minute at most.
  const fallback = (thrown: unknown, error: unknown, context: { stage: ErrorStage }) => log(new ReporterError(thrown, error), context);
  return (error, context) => {
    try {
      // An async onError may reject; that must not become an unhandled rejection either.
      const result: unknown = onError(error, context);
      if (result instanceof Promise) result.catch((thrown: unknown) => fallback(thrown, error, context));
    } catch (thrown) {
      fallback(thrown, error, context);
    }
  };
}

/**
 * The default `onError`: one `console.error` line per stage (and per code of the package's own errors)
 * and minute. The first failure of a stage is
 * logged at once (`[openlivesync] storage failed: StorageError STORAGE_ERROR: Could not store …`); the
 * others of that minute are counted and summed up in one line when it ends
 * (`[openlivesync] storage failed 117 more times in the last 60 s; the last: …`), so an outage writes
 * a line a minute, not one per chat. Each error is described by {@link describeError}: never its stack,
 * its cause's SQL or any user content.
 */
export function createLogReporter(): (error: unknown, context: { stage: ErrorStage }) => void {
  const counts = new Map<string, { stage: string; more: number; last: unknown }>();
  const window = createLogWindow((key) => {
    const seen = counts.get(key)!;
    counts.delete(key);
    const times = seen.more === 1 ? "once more" : `${seen.more} more times`;
    console.error(
      `[openlivesync] ${seen.stage} failed ${times} in the last ${LOG_WINDOW_MS / 1000} s; the last: ${describeError(seen.last)}`,
    );
  });
  return (error, { stage }) => {
    // The package's own kinds (a fixed set of codes) get a window each, so one cannot hide another.
    const key = error instanceof OpenLiveSyncError ? `${stage} ${error.code}` : stage;
    if (window.first(key)) return console.error(`[openlivesync] ${stage} failed: ${describeError(error)}`);
    const seen = counts.get(key);
    if (seen) {
      seen.more++;
      seen.last = error;
    } else counts.set(key, { stage, more: 1, last: error });
  };
}

/** Quoted text in a foreign message: a room id, a value, a statement's text. */
const QUOTED = /"[^"]*"|'[^']*'|`[^`]*`/g;
/** A drizzle query error, whose message is the statement and its parameters. */
const QUERY_TEXT = /^Failed query|\bparams:/;
const MAX_TEXT = 300;

/**
 * One line about `error` that is safe for a log: its class, its `code` and the first line of its message,
 * with a foreign error's quoted text replaced by "…" (drivers quote the values they refuse), a query
 * error's statement replaced by its cause, then its cause described the same way; never a stack. The
 * package's own messages carry no user content (no room id, user id or message text).
 * @example
 * describeError(new StorageError("Could not store chat messages in Postgres table: connect ECONNREFUSED"));
 * // "StorageError STORAGE_ERROR: Could not store chat messages in Postgres table: connect ECONNREFUSED"
 */
export function describeError(error: unknown, depth = 0): string {
  if (!(error instanceof Error)) return typeof error === "string" ? safeText(error) : typeof error;
  const cause: unknown = (error as { cause?: unknown }).cause;
  if (QUERY_TEXT.test(error.message) && cause !== undefined && depth < 4) return describeError(cause, depth + 1);
  const code = (error as { code?: unknown }).code;
  const head = typeof code === "string" || typeof code === "number" ? `${error.name} ${String(code).slice(0, 40)}` : error.name;
  const own = error instanceof OpenLiveSyncError;
  const text = own ? clip(error.message) : safeText(error.message);
  // A storage error's message already ends with its driver's message.
  const tail = cause !== undefined && depth < 3 && !(error instanceof StorageError) ? ` (cause: ${describeError(cause, depth + 1)})` : "";
  return text ? `${head}: ${text}${tail}` : `${head}${tail}`;
}

/** The first line of a foreign message, its quoted text replaced by "…", at most 300 characters. */
export function safeText(message: string): string {
  return clip(QUERY_TEXT.test(message) ? "(a database query failed)" : message.replace(QUOTED, '"…"'));
}

function clip(message: string): string {
  const line = message.split("\n", 1)[0]!.trim();
  return line.length > MAX_TEXT ? `${line.slice(0, MAX_TEXT)}…` : line;
}

/** `onError` threw (or rejected) while it was given `failure`: both are logged, described safely. */
class ReporterError extends OpenLiveSyncError {
  constructor(thrown: unknown, failure: unknown) {
    super("ON_ERROR_THREW", `onError threw ${describeError(thrown)} while reporting ${describeError(failure)}`);
  }
}
