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

/** An optional driver package is not installed. */
export class MissingDriverError extends OpenLiveSyncError {
  constructor(pkg: string, installCommand: string, options?: { cause?: unknown }) {
    super("MISSING_DRIVER", `This storage needs ${pkg}: ${installCommand}`, options);
  }
}

/** Where a background failure happened, as passed to `onError(error, { stage })`. */
export type ErrorStage =
  | "upgrade"
  | "auth"
  | "message"
  | "storage"
  | "history"
  | "fanout"
  | "backplane"
  | "heartbeat"
  | "close";

export type OnError = (error: unknown, context: { stage: ErrorStage | (string & {}) }) => void;

/** The fallback when no `onError` is given: one log line, never a throw. */
export function defaultOnError(error: unknown, context: { stage: string }): void {
  console.error(`[openlivesync] ${context.stage} failed:`, error);
}
