/**
 * The HTTP API's errors: `{ error: { code, message } }` with the wire's codes, each at one HTTP status.
 * Codes that exist only over HTTP: `NOT_FOUND` (no such route, or the connection is not in the room),
 * `UNAUTHORIZED` at 401 (a missing or wrong bearer token) and `UNAVAILABLE` at 503 (a document cannot be opened now).
 */
import { BackplaneError } from "../cluster/backplane.ts";
import { ErrorCodes, OpenLiveSyncError, ProtocolError, StorageError } from "../errors.ts";

/** HTTP status per error code the API answers with. */
export const API_ERROR_STATUS = {
  [ErrorCodes.INVALID_JSON]: 400,
  [ErrorCodes.UNAUTHORIZED]: 401,
  NOT_FOUND: 404,
  [ErrorCodes.TOO_LARGE]: 413,
  [ErrorCodes.INVALID_PAYLOAD]: 422,
  [ErrorCodes.INTERNAL_ERROR]: 500,
  [ErrorCodes.STORAGE_ERROR]: 503,
  /** HTTP only: a document cannot be opened now (`documents.maxDocuments` are loaded, or the server is closing). */
  UNAVAILABLE: 503,
} as const;

export type ApiErrorCode = keyof typeof API_ERROR_STATUS;
export type ApiErrorStatus = (typeof API_ERROR_STATUS)[ApiErrorCode];

/** A request the API refuses; the route's handler throws it and the error handler answers with it. */
export class ApiError extends OpenLiveSyncError {
  declare readonly code: ApiErrorCode;
  constructor(code: ApiErrorCode, message: string) {
    super(code, message);
  }
  get status(): ApiErrorStatus {
    return API_ERROR_STATUS[this.code];
  }
}

/** The response body of every error. */
export function errorBody(code: ApiErrorCode, message: string): { error: { code: ApiErrorCode; message: string } } {
  return { error: { code, message } };
}

/**
 * What a thrown error becomes: an `ApiError` as it is, a `ProtocolError` by its wire code (a code the
 * API has no status for counts as `INVALID_PAYLOAD`), a `StorageError` as 503, and a `BackplaneError`
 * (a ban that shared state did not take) as `STORAGE_ERROR` 503 with its message. Anything else is a bug
 * or an outage: `undefined`, and the caller answers 500 and reports it.
 */
export function toApiError(error: unknown): ApiError | undefined {
  if (error instanceof ApiError) return error;
  if (error instanceof StorageError) return new ApiError(ErrorCodes.STORAGE_ERROR, "Chat storage failed; nothing was sent");
  if (error instanceof BackplaneError) return new ApiError(ErrorCodes.STORAGE_ERROR, error.message);
  if (error instanceof ProtocolError) {
    const code = Object.hasOwn(API_ERROR_STATUS, error.code) ? (error.code as ApiErrorCode) : ErrorCodes.INVALID_PAYLOAD;
    return new ApiError(code, error.message);
  }
  return undefined;
}
