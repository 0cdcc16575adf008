/**
 * The server side of documents: read one (its whole state as a Yjs update, and its top-level types as JSON),
 * apply an update as the server, list them. A document that is not loaded is loaded for the call and
 * unloads as after a client (`unloadAfterMs`).
 */
import * as Y from "yjs";
import type { DocumentRegistry } from "./document-registry.ts";
import type { DocumentMetrics } from "./document-metrics.ts";
import type { DocumentStorage } from "../storage/document-storage.ts";
import { checkUpdate } from "./sync-messages.ts";
import { ErrorCodes, ProtocolError } from "../errors.ts";

export interface DocumentSnapshot {
  /** The whole document as one Yjs update (`Y.applyUpdate` it to a fresh `Y.Doc`). */
  update: Uint8Array;
  /** Each top-level type as JSON: a text as its string, a map as an object, an array as an array, XML as its string. */
  json: Record<string, unknown>;
}

export interface DocumentApi {
  read(name: string): Promise<DocumentSnapshot>;
  /**
   * Apply a Yjs update as the server: clients get it as if another client had sent it, and it is stored.
   * Rejects with a `ProtocolError`: `INVALID_PAYLOAD` for an update that does not decode (checked before the
   * document is loaded), `TOO_LARGE` for one that would take the document past `maxDocumentBytes`.
   */
  apply(name: string, update: Uint8Array): Promise<void>;
  /** Stored and loaded documents, by name. */
  list(): Promise<DocumentInfo[]>;
}

/** One document in {@link DocumentApi.list}. */
export interface DocumentInfo {
  name: string;
  /** Bytes stored for it (snapshot plus the rows not yet compacted); 0 for one loaded and not stored yet. */
  bytes: number;
  /** Whether it is loaded in this process. */
  loaded: boolean;
  /** Clients connected to it on this process (y-websocket and Hocuspocus). */
  clients: number;
}

/** The origin of server-made changes (none of the sessions). */
export const SERVER_ORIGIN = Symbol("openlivesync.server");

export function createDocumentApi(
  registry: DocumentRegistry,
  storage: DocumentStorage,
  metrics: DocumentMetrics,
  maxDocumentBytes: number,
): DocumentApi {
  async function using<T>(name: string, fn: (doc: import("./live-document.ts").LiveDocument) => T): Promise<T> {
    const doc = await registry.acquire(name);
    try {
      return fn(doc);
    } finally {
      registry.release(name);
    }
  }
  return {
    read: (name) => using(name, (doc) => ({ update: doc.encodeState(), json: topLevelJson(doc.doc) })),
    async apply(name, update) {
      try {
        checkUpdate(update);
      } catch {
        throw new ProtocolError(ErrorCodes.INVALID_PAYLOAD, "The update does not decode as a Yjs update");
      }
      await using(name, (doc) => {
        if (doc.wouldExceed(update.byteLength, maxDocumentBytes)) {
          throw new ProtocolError(ErrorCodes.TOO_LARGE, `The update would take the document past ${maxDocumentBytes} bytes`);
        }
        doc.apply(update, SERVER_ORIGIN);
        metrics.updates++;
      });
    },
    async list() {
      const stored = await storage.list();
      const seen = new Set(stored.map((d) => d.name));
      const info = (name: string, bytes: number): DocumentInfo => {
        const doc = registry.peek(name);
        return { name, bytes, loaded: doc !== undefined, clients: doc?.sessions.size ?? 0 };
      };
      const rows = stored.map((d) => info(d.name, d.bytes));
      for (const name of registry.names()) if (!seen.has(name)) rows.push(info(name, 0));
      return rows.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    },
  };
}

/**
 * A server's doc knows its top-level types only by their content (no client called `getText` on it):
 * keys make a map, strings a text, XML nodes a fragment, anything else an array.
 */
function topLevelJson(doc: Y.Doc): Record<string, unknown> {
  const json: Record<string, unknown> = {};
  for (const [key, type] of doc.share) {
    try {
      if (type instanceof Y.Text || type instanceof Y.Map || type instanceof Y.Array || type instanceof Y.XmlFragment) {
        json[key] = type instanceof Y.Text || type instanceof Y.XmlFragment ? type.toString() : type.toJSON();
        continue;
      }
      const first = type._start;
      if (type._map.size > 0) json[key] = doc.getMap(key).toJSON();
      else if (!first) json[key] = null;
      else if (
        first.content instanceof Y.ContentString ||
        first.content instanceof Y.ContentFormat ||
        first.content instanceof Y.ContentEmbed
      ) {
        json[key] = doc.getText(key).toString();
      } else if (first.content instanceof Y.ContentType) json[key] = doc.getXmlFragment(key).toString();
      else json[key] = doc.getArray(key).toJSON();
    } catch {
      json[key] = null;
    }
  }
  return json;
}
