/**
 * Where shared documents are kept: an append-only log of Yjs updates per document, compacted now and then
 * into one snapshot. The storage only moves bytes; merging them is the document's business (Yjs updates
 * commute and are idempotent, so a row written twice or read out of order does no harm).
 */

/** A document's rows as stored: apply them all, in any order, to get its state. */
export interface StoredDocument {
  /** The snapshot (if any) and the updates appended since, each a Yjs update. */
  updates: Uint8Array[];
  /** Opaque position of the newest row read; hand it back to `compact`. */
  through: number;
}

/** One document's name and stored size, as `list` gives it. */
export interface StoredDocumentInfo {
  name: string;
  /** Bytes of update data stored for it (snapshot plus tail). */
  bytes: number;
}

/**
 * The contract every document store meets (memory, SQLite, Postgres, MySQL; test/suites/document-storage.contract.ts).
 * Writes are group-committed by the store: appends from many documents in one turn go out as one INSERT.
 */
export interface DocumentStorage {
  /** Every row of `name`; an unknown name gives `{ updates: [], through: 0 }`. */
  load(name: string): Promise<StoredDocument>;
  /** Add one update (in practice the merge of a write window's updates). */
  append(name: string, update: Uint8Array): Promise<void>;
  /**
   * Store `snapshot` (the document's whole state) and delete the rows it makes redundant: those read by
   * `load` up to `through`, and those this store instance appended for `name` before the call. Rows other
   * instances appended later stay, so a snapshot never drops an update it does not hold.
   */
  compact(name: string, snapshot: Uint8Array, through: number): Promise<void>;
  /** Stored documents, by name. */
  list(): Promise<StoredDocumentInfo[]>;
  /** Finish pending writes and release connections. */
  close(): Promise<void>;
  /** True when the rows live in this process only (the in-memory store). */
  readonly processLocal?: boolean;
}

interface MemoryRow {
  seq: number;
  own: boolean;
  data: Uint8Array;
}

/**
 * Documents kept in this process's memory: they survive a client reconnecting or a document unloading,
 * not a restart. The default when no store is given.
 * @example
 * createServer({ documents: { storage: createInMemoryDocumentStorage() } });
 */
export function createInMemoryDocumentStorage(): DocumentStorage {
  const docs = new Map<string, MemoryRow[]>();
  let seq = 0;
  const rowsOf = (name: string) => {
    let rows = docs.get(name);
    if (!rows) docs.set(name, (rows = []));
    return rows;
  };
  return {
    processLocal: true,
    async load(name) {
      const rows = docs.get(name) ?? [];
      return { updates: rows.map((r) => r.data), through: rows.reduce((max, r) => Math.max(max, r.seq), 0) };
    },
    async append(name, update) {
      rowsOf(name).push({ seq: ++seq, own: true, data: update.slice() });
    },
    async compact(name, snapshot, through) {
      const kept = rowsOf(name).filter((r) => r.seq > through && !r.own);
      kept.push({ seq: ++seq, own: true, data: snapshot.slice() });
      docs.set(name, kept);
    },
    async list() {
      return [...docs].map(([name, rows]) => ({ name, bytes: rows.reduce((n, r) => n + r.data.byteLength, 0) }));
    },
    async close() {},
  };
}
