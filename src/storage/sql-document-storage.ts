import { and, asc, eq, lte, ne, or, sql, type Column } from "drizzle-orm";
import { StorageError } from "../errors.ts";
import type { DocumentStorage, StoredDocumentInfo } from "./document-storage.ts";
import { createGroupCommit, storageTimeout, type GroupCommitOptions } from "./group-commit.ts";
import { describeCause } from "./sql-chat-storage.ts";

/** Options shared by the SQL document stores. */
export interface SqlDocumentStorageOptions extends GroupCommitOptions {
  /** Table to use; created with its index if missing. @default "openlivesync_documents" */
  tableName?: string;
}

export interface DocumentRow {
  name: string;
  id: string;
  writer: string;
  data: Uint8Array;
  createdAt: number;
}

/** The columns as drizzle's query helpers take them. */
export type SqlDocumentTableLike = { [K in keyof DocumentRow | "seq"]: Column };

/** What a dialect supplies; loading, compaction, batching and errors are shared. */
export interface SqlDocumentBackend {
  label: string;
  /** The dialect's drizzle database (select, insert, delete) and table. */
  db: any;
  table: SqlDocumentTableLike & object;
  release(): Promise<void>;
}

/**
 * A {@link DocumentStorage} over one dialect's drizzle database. Appends go through the group commit (rows
 * of every document queued in one turn, or while a write runs, share one INSERT). A snapshot is inserted
 * before the rows it replaces are deleted, so a crash between the two leaves a duplicate, never a gap.
 */
export function createSqlDocumentStorage(backend: SqlDocumentBackend, options: SqlDocumentStorageOptions = {}): DocumentStorage {
  const { db, table, label } = backend;
  const writer = globalThis.crypto.randomUUID();
  const timeoutMs = options.timeoutMs ?? 10_000;
  const fail = (what: string) => (cause: unknown) => {
    throw cause instanceof StorageError ? cause : new StorageError(`Could not ${what} ${label}: ${describeCause(cause)}`, { cause });
  };
  const commit = createGroupCommit<DocumentRow>(
    async (rows) => {
      await db.insert(table).values(rows);
    },
    (cause) => `Could not store document updates in ${label}: ${describeCause(cause)}`,
    options,
  );
  const row = (name: string, data: Uint8Array): DocumentRow => ({
    name,
    id: globalThis.crypto.randomUUID(),
    writer,
    data,
    createdAt: Date.now(),
  });
  let closed: Promise<void> | undefined;
  // A drizzle query runs on every `then`: settle it once, then bound the wait.
  const bounded = <T>(query: PromiseLike<T>, what: string) => storageTimeout(Promise.resolve(query), timeoutMs, what);

  return {
    async load(name) {
      const rows = (await bounded(
        db.select({ data: table.data, seq: table.seq }).from(table).where(eq(table.name, name)).orderBy(asc(table.seq)),
        "Loading a document",
      ).catch(fail("load a document from"))) as Array<{ data: Uint8Array; seq: number }>;
      return { updates: rows.map((r) => r.data), through: rows.reduce((max, r) => Math.max(max, Number(r.seq)), 0) };
    },
    async append(name, update) {
      await commit.push(row(name, update));
    },
    async compact(name, snapshot, through) {
      const snap = row(name, snapshot);
      try {
        await bounded(db.insert(table).values([snap]), "Storing a document snapshot");
        await bounded(
          db.delete(table).where(and(eq(table.name, name), ne(table.id, snap.id), or(lte(table.seq, through), eq(table.writer, writer)))),
          "Compacting a document",
        );
      } catch (cause) {
        fail("compact a document in")(cause);
      }
    },
    async list() {
      const rows = (await bounded(
        db
          .select({ name: table.name, bytes: sql`sum(length(${table.data}))` })
          .from(table)
          .groupBy(table.name)
          .orderBy(asc(table.name)),
        "Listing documents",
      ).catch(fail("list the documents in"))) as Array<{ name: string; bytes: unknown }>;
      return rows.map((r): StoredDocumentInfo => ({ name: r.name, bytes: Number(r.bytes) }));
    },
    close: () =>
      (closed ??= (async () => {
        await commit.drain();
        await backend.release();
      })()),
  };
}
