import { ConfigError } from "../errors.ts";
import type { UserInfo } from "../protocol/messages.ts";
import type { DocumentStorage } from "../storage/document-storage.ts";
import { createInMemoryDocumentStorage } from "../storage/document-storage.ts";
import { numberOption } from "../util/number-option.ts";
import { FANOUT_DUTY } from "./live-document.ts";

/** Longest document name, in characters (a longer one is refused: HTTP 400, or 4400 from Hocuspocus). */
export const MAX_DOCUMENT_NAME_LENGTH = 256;

/** What a user may do with a document: edit it, only read it, or nothing (the socket closes with 4403). */
export type DocumentAccess = "write" | "read" | false;

/** Decides a user's access to a document, on every connection to it. */
export type AuthorizeDocument = (user: UserInfo | undefined, name: string) => DocumentAccess | Promise<DocumentAccess>;

export interface DocumentOptions {
  /**
   * Where the document endpoint listens: y-websocket clients connect to `${path}/<name>`, Hocuspocus
   * clients to `path` itself. @default "/yjs"
   */
  path?: string;
  /** Where documents are stored. @default in memory (kept while the process runs) */
  storage?: DocumentStorage;
  /**
   * Access per user and document; unset, everyone who passes `onAuth` may write.
   * @example authorize: (user, name) => (name.startsWith(`${user?.userId}/`) ? "write" : "read")
   */
  authorize?: AuthorizeDocument;
  /** How long updates collect before they are written as one row (the most a crash can lose). @default 500 */
  writeWindowMs?: number;
  /** How long a document stays loaded after its last client left. @default 5000 */
  unloadAfterMs?: number;
  /** Largest message a client may send, in bytes; larger closes with 1009. @default 1048576 */
  maxMessageBytes?: number;
  /** Largest encoded document; an update that would pass it is refused and the socket closed with 4413. @default 16777216 */
  maxDocumentBytes?: number;
  /** Most documents loaded in this process; one more closes its socket with 4503. @default 10000 */
  maxDocuments?: number;
  /** Largest awareness update, in bytes; larger closes with 1009. @default 65536 */
  maxAwarenessBytes?: number;
  /** Awareness updates a connection may send per second, on average over a 2 s burst; more closes with 4429. @default 60 */
  awarenessRate?: number;
  /**
   * A document's update fan-outs take at most 1/`fanoutDuty` of the time: with `d` ms what they take (averaged) the
   * next waits until `fanoutDuty × d` (at most 10 ms) after the last started, merging what arrives meanwhile (docs/documents.md,
   * "Fan-out"). Higher: fewer writes per update and more latency; 1: every turn's updates go out at its end.
   * At least 1. @default 4
   */
  fanoutDuty?: number;
}

export interface ResolvedDocumentOptions {
  path: string;
  storage: DocumentStorage;
  authorize: AuthorizeDocument | undefined;
  writeWindowMs: number;
  unloadAfterMs: number;
  maxMessageBytes: number;
  maxDocumentBytes: number;
  maxDocuments: number;
  maxAwarenessBytes: number;
  awarenessRate: number;
  fanoutDuty: number;
}

/** The documents' options with defaults; `false` turns documents off (undefined). */
export function resolveDocumentOptions(
  options: DocumentOptions | false | undefined,
  livePath: string,
): ResolvedDocumentOptions | undefined {
  if (options === false) return undefined;
  const o = options ?? {};
  const path = o.path ?? "/yjs";
  if (!path.startsWith("/") || path.length < 2 || path.endsWith("/")) {
    throw new ConfigError(`Option documents.path must start with "/" and not end with one, got "${path}"`);
  }
  if (path === livePath || livePath.startsWith(`${path}/`)) {
    throw new ConfigError(`Option documents.path "${path}" overlaps the live path "${livePath}"; pick another`);
  }
  return {
    path,
    storage: o.storage ?? createInMemoryDocumentStorage(),
    authorize: o.authorize,
    writeWindowMs: numberOption("documents.writeWindowMs", o.writeWindowMs, 500),
    unloadAfterMs: numberOption("documents.unloadAfterMs", o.unloadAfterMs, 5000),
    maxMessageBytes: numberOption("documents.maxMessageBytes", o.maxMessageBytes, 1024 * 1024, "positive"),
    maxDocumentBytes: numberOption("documents.maxDocumentBytes", o.maxDocumentBytes, 16 * 1024 * 1024, "positive"),
    maxDocuments: numberOption("documents.maxDocuments", o.maxDocuments, 10_000, "positive"),
    maxAwarenessBytes: numberOption("documents.maxAwarenessBytes", o.maxAwarenessBytes, 64 * 1024, "positive"),
    awarenessRate: numberOption("documents.awarenessRate", o.awarenessRate, 60, "positive"),
    fanoutDuty: fanoutDutyOf(o.fanoutDuty),
  };
}

function fanoutDutyOf(value: number | undefined): number {
  const duty = numberOption("documents.fanoutDuty", value, FANOUT_DUTY, "positive");
  if (duty < 1) throw new ConfigError(`Option documents.fanoutDuty must be at least 1, got ${duty}`);
  return duty;
}
