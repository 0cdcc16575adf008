/** Error classes and the background-error reporter. Wire and close codes are in `protocol/codes.ts`. */
import { ErrorCodes, type ErrorCode } from "./protocol/codes.ts";

export { CloseCodes, ErrorCodes, type CloseCode, type ErrorCode } from "./protocol/codes.ts";

/** Base class: every error the package throws carries a stable `code` and, where there is one, a `cause`. */
export class OpenLiveSyncError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

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
 * - `hook`: an app hook (`onJoin`, `onLeave`, `beforeChat`, `beforeEvent`) threw, timed out or returned something invalid.
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
  | "hook"
  | "api"
  | "webhook"
  | "documents";

/** Receives background failures. It may throw or return a rejected promise: that is logged, never rethrown. */
export type OnError = (error: unknown, context: { stage: ErrorStage }) => void;

/**
 * The one error reporter: calls `onError` (default: one `console.error` line) and never throws nor
 * rejects, so a faulty `onError` cannot turn a reported failure into an exception or an unhandled
 * rejection where it is called (timer callbacks, `.catch` handlers, socket events).
 * @example
 * const report = createReporter(options.onError);
 * storage.append(roomId, message).catch((error) => report(error, { stage: "storage" }));
 */
export function createReporter(onError?: OnError): (error: unknown, context: { stage: ErrorStage }) => void {
  if (!onError) return logError;
  return (error, context) => {
    try {
      // An async onError may reject; that must not become an unhandled rejection either.
      const result: unknown = onError(error, context);
      if (result instanceof Promise) result.catch((thrown: unknown) => logReporterFailure(thrown, error, context));
    } catch (thrown) {
      logReporterFailure(thrown, error, context);
    }
  };
}

function logError(error: unknown, context: { stage: string }): void {
  console.error(`[openlivesync] ${context.stage} failed:`, error);
}

function logReporterFailure(thrown: unknown, error: unknown, context: { stage: string }): void {
  console.error(`[openlivesync] onError threw while reporting a ${context.stage} failure:`, thrown, "; the failure was:", error);
}
