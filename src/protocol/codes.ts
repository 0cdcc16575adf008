/**
 * Wire error codes and close codes. Every code here is documented in the README's "Error codes" and
 * "Close codes" tables; keep them in step.
 */

/** Codes carried by `{ type: "error", payload: { code, message } }`. */
export const ErrorCodes = {
  /** The frame is not valid JSON. */
  INVALID_JSON: "INVALID_JSON",
  /** The frame is JSON but not an object with a string `type`. */
  INVALID_MESSAGE: "INVALID_MESSAGE",
  /** `type` is not one the server knows. */
  UNKNOWN_TYPE: "UNKNOWN_TYPE",
  /** The payload is missing a field, or a field has the wrong type or size. */
  INVALID_PAYLOAD: "INVALID_PAYLOAD",
  /** A room message arrived before `join_room`. */
  NOT_IN_ROOM: "NOT_IN_ROOM",
  /** A chat message or a presence object is over its size limit. */
  TOO_LARGE: "TOO_LARGE",
  /** The chat storage failed; the message was not broadcast (a write that failed late may still have been stored). */
  STORAGE_ERROR: "STORAGE_ERROR",
  /** `authorizeRoom` refused the join. */
  FORBIDDEN: "FORBIDDEN",
  /** A `join_room` token could not be verified. */
  UNAUTHORIZED: "UNAUTHORIZED",
  /** The connection sends faster than the rate limit, or has too many chats waiting to be stored; the message was dropped. */
  RATE_LIMITED: "RATE_LIMITED",
  /** A `beforeChat` or `beforeEvent` callback refused the message: nothing was stored or sent. */
  REJECTED: "REJECTED",
  /** An unexpected failure inside the server (or an app callback that threw or timed out); the connection stays open. */
  INTERNAL_ERROR: "INTERNAL_ERROR",
} as const;
export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

/** WebSocket close codes the server uses. 4xxx mirror HTTP statuses. */
export const CloseCodes = {
  /** Server shutting down (`close()`, SIGINT/SIGTERM). */
  GOING_AWAY: 1001,
  /** A frame was larger than `maxPayload`. */
  MESSAGE_TOO_BIG: 1009,
  /** The room's message backlog was lost (Redis lost its data): reconnect and rejoin; `room_joined.recovered` says what was kept. */
  SERVICE_RESTART: 1012,
  /** The token behind the connection's identity expired. Reconnect with a fresh token. */
  UNAUTHORIZED: 4401,
  /** Closed by the server's backend (`disconnect()`, `DELETE /api/rooms/:roomId/connections/:id`). */
  KICKED: 4403,
  /** The peer did not answer heartbeat pings in time. */
  HEARTBEAT_TIMEOUT: 4408,
  /** The peer kept sending past the rate limit (`rateLimit.closeAfterSeconds`), or its address has too many connections. */
  POLICY_VIOLATION: 1008,
  /** The peer stopped reading: its outgoing buffer passed `maxBufferedBytes`. */
  SLOW_CONSUMER: 4429,
} as const;
export type CloseCode = (typeof CloseCodes)[keyof typeof CloseCodes];
