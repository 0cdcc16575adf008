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

/** What an HTTP status refusing the upgrade usually means, in this server's terms. */
const REFUSAL_HINTS: Record<number, string> = {
  401: "the server's onAuth refused it (no token, or an invalid one)",
  403: "this page's origin is not in the server's allowedOrigins",
  404: "nothing serves WebSocket upgrades at this path",
  429: "too many connections from this address (maxConnectionsPerIp)",
  503: "the server is full (maxConnections)",
};

/**
 * A socket that never opened. `status` is the HTTP status that refused the upgrade when the runtime exposes it
 * (the `ws` package, Deno); browsers and Node's built-in WebSocket hide it, and then only the URL is known.
 * `attempts` counts the attempts in a row that never opened.
 */
export class ConnectError extends LiveSyncError {
  readonly url: string;
  readonly status: number | undefined;
  readonly attempts: number;
  constructor(url: string, attempts: number, status: number | undefined, detail: string | undefined) {
    const why =
      status !== undefined
        ? `: the server answered HTTP ${status}${REFUSAL_HINTS[status] ? ` (${REFUSAL_HINTS[status]})` : ""}`
        : detail
          ? ` (${detail})`
          : "";
    const tries = attempts > 1 ? `; ${attempts} attempts in a row failed, still retrying` : "; retrying";
    super("CONNECT_FAILED", `Could not open ${url}${why}${tries}.`);
    this.url = url;
    this.status = status;
    this.attempts = attempts;
  }
}

/** The client was configured in a way that cannot work. */
export class ClientConfigError extends LiveSyncError {
  constructor(message: string) {
    super("CONFIG_ERROR", message);
  }
}
