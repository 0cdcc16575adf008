/**
 * Close codes of the document endpoint (docs/documents.md, "Close codes"). y-websocket's provider does not
 * reconnect after a 44xx close, so each of these is a decision a reconnect cannot change, except 1001
 * (shutdown), 4503 (the instance is full or its storage failed: another try may land elsewhere or later).
 */
export const DocumentCloseCodes = {
  /** The server is shutting down; reconnect. */
  GOING_AWAY: 1001,
  /** A message is larger than `maxMessageBytes`, or an awareness update larger than `maxAwarenessBytes`. */
  MESSAGE_TOO_BIG: 1009,
  /** The message is not a well-formed y-websocket / Hocuspocus message; nothing in it was applied. */
  MALFORMED: 4400,
  /** The token could not be verified. */
  UNAUTHORIZED: 4401,
  /** `documents.authorize` refused the document. */
  FORBIDDEN: 4403,
  /** The update would take the document past `maxDocumentBytes`; it was not applied. */
  DOCUMENT_TOO_LARGE: 4413,
  /** Awareness updates came faster than `awarenessRate` allows. */
  AWARENESS_RATE: 4429,
  /** The document could not be loaded: `maxDocuments` are loaded, or the storage failed. */
  UNAVAILABLE: 4503,
} as const;
export type DocumentCloseCode = (typeof DocumentCloseCodes)[keyof typeof DocumentCloseCodes];
