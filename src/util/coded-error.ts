/**
 * The base of every error the package throws or reports, on the server and in the client: a stable
 * `code`, the class's name as `name`, and a `cause` where there is one. The client exports it as
 * `LiveSyncError`; it holds no server code, so the client bundle can carry it.
 */
export class OpenLiveSyncError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}
