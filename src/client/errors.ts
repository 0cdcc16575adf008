/**
 * Client errors. Each failure kind has its own class and a stable `code`; `state.lastError` holds the
 * newest one. Server `error` frames keep the server's code (see the README's error code table).
 */

import { OpenLiveSyncError as LiveSyncError } from "../util/coded-error.ts";

/** Base class of every error the client reports or throws (the server's `OpenLiveSyncError`). */
export { LiveSyncError };

/**
 * The server answered with an `error` frame; `code` is the server's (`NOT_IN_ROOM`, `FORBIDDEN`, …).
 * `clientMessageId` names the chat send it is about, when it is about one (`REJECTED`, `STORAGE_ERROR`).
 */
export class ServerError extends LiveSyncError {
  readonly clientMessageId: string | undefined;
  constructor(code: string, message: string, clientMessageId?: string) {
    super(code, message);
    this.clientMessageId = clientMessageId;
  }
}

/** The server closed the connection for good (4403, 1008): the client stopped reconnecting. */
export class ConnectionClosedError extends LiveSyncError {
  readonly closeCode: number;
  readonly reason: string;
  constructor(closeCode: number, reason: string) {
    super(
      closeCode === 1008 ? "POLICY_VIOLATION" : "FORBIDDEN",
      `The server closed the connection with ${closeCode}${reason ? ` (${reason})` : ""} and asked not to come back; call connect() to try again.`,
    );
    this.closeCode = closeCode;
    this.reason = reason;
  }
}

/** `getAuthToken` threw or rejected; the client retries with backoff. */
export class AuthTokenError extends LiveSyncError {
  constructor(cause: unknown) {
    super("AUTH_TOKEN_FAILED", `getAuthToken failed: ${cause instanceof Error ? cause.message : String(cause)}; retrying`, { cause });
  }
}

/** More chat sends waiting than `maxQueuedMessages`. */
export class QueueFullError extends LiveSyncError {
  constructor(limit: number) {
    super("QUEUE_FULL", `${limit} chat messages are already waiting to be sent; wait for the connection or raise maxQueuedMessages.`);
  }
}

/** A room operation was called with no room joined. */
export class NotInRoomError extends LiveSyncError {
  constructor(operation: string) {
    super("NOT_IN_ROOM", `${operation} needs a room: call joinRoom(roomId) first.`);
  }
}

/** The connection dropped before the server answered a request; it was not retried. */
export class DisconnectedError extends LiveSyncError {
  constructor(operation: string) {
    super("DISCONNECTED", `The connection dropped before the server answered ${operation}; try again.`);
  }
}

/** The client was configured in a way that cannot work. */
export class ClientConfigError extends LiveSyncError {
  constructor(message: string) {
    super("CONFIG_ERROR", message);
  }
}
