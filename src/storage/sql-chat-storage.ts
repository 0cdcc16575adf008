import type { Column } from "drizzle-orm";
import { toHex } from "../util/hex.ts";
import type { AppendResult, ChatAppendInput, ChatStorage, HistoryPage } from "./chat-storage.ts";
import { clientScopeKey, toStored } from "./chat-storage.ts";
import { safeText, StorageError } from "../errors.ts";
import type { StoredChatMessage } from "../protocol/messages.ts";
import { withTimeout } from "../util/async.ts";
import { createGroupCommit, storageTimeout, type GroupCommit, type GroupCommitOptions } from "./group-commit.ts";
import { createReads, fromRow, type SqlReads } from "./sql-chat-reads.ts";

/** Options shared by the SQL storages. */
export interface SqlChatStorageOptions extends GroupCommitOptions {
  /**
   * Table to use; created with its index if missing. Letters, digits and `_`, at most 48 characters.
   * @default "openlivesync_chat"
   */
  tableName?: string;
  /**
   * Default page size of `getHistory`. SQL storages keep every message; this only sets how many a
   * call without `limit` returns.
   * @default 100
   */
  historyLimit?: number;
}

/** One row as the three schemas read and write it (`seq` is the database's). */
export interface ChatRow {
  id: string;
  roomId: string;
  connectionId: string;
  userId: string | null;
  name: string | null;
  message: string;
  metadata: Record<string, unknown> | null;
  createdAt: number;
  /** SHA-256 (hex) of the `clientMessageId` scope, under a unique index; `null` for messages without one. */
  clientKey: string | null;
}

/** What a dialect supplies; everything else (paging, batching, errors, close) is shared. */
export interface SqlBackend {
  /** e.g. `Postgres table "openlivesync_chat"`, used in error messages. */
  label: string;
  /** One multi-row INSERT that skips rows whose `clientKey` is already in the table (or earlier in `rows`). */
  insert(rows: ChatRow[]): Promise<void>;
  /** The dialect's drizzle database and table, for the reads every dialect writes alike. */
  db: unknown;
  table: SqlChatTableLike;
  /** Release what the storage opened itself; never a client the caller passed in. */
  release(): Promise<void>;
}

/** The columns of a dialect's chat table, as drizzle's query helpers take them. */
export type SqlChatTableLike = { [K in keyof ChatRow | "seq"]: Column };

const MAX_LIMIT = 2 ** 31 - 1;

function count(value: number | undefined, fallback: number): number {
  const n = value ?? fallback;
  if (Number.isNaN(n) || n <= 0) return 0;
  return Number.isFinite(n) ? Math.min(Math.floor(n), MAX_LIMIT) : MAX_LIMIT;
}

function errorText(cause: unknown): string {
  // drizzle wraps driver errors as "Failed query: <sql> params: <values>"; the driver's own message says
  // what went wrong and does not echo the user's chat text.
  const inner = (cause as { cause?: unknown } | undefined)?.cause;
  if (cause instanceof Error && cause.message.startsWith("Failed query") && inner !== undefined) return errorText(inner);
  if (cause instanceof AggregateError && cause.errors.length > 0) return errorText(cause.errors[0]);
  if (cause instanceof Error) return cause.message || (cause as { code?: string }).code || cause.name;
  return String(cause);
}

/**
 * "Could not … (ECONNREFUSED …)": the driver's message, kept short, its quoted text cut (MySQL and
 * Postgres quote the values they refuse; a storage error reaches logs).
 */
export function describeCause(cause: unknown): string {
  return safeText(errorText(cause));
}

const newId = () => globalThis.crypto.randomUUID();

/** SHA-256 in hex: the exactly-once key fits one short indexed column whatever the room id's length. */
async function sha256Hex(text: string): Promise<string> {
  return toHex(new Uint8Array(await globalThis.crypto.subtle.digest("SHA-256", new TextEncoder().encode(text))));
}

/** `host:port/db` of a server for messages, from a URL or connection parts; never the password. */
export function serverLabel(
  url: string | undefined,
  parts: { host?: string; port?: number; database?: string } | undefined,
  defaultPort: number,
): string {
  if (url !== undefined) {
    try {
      const u = new URL(url);
      return `${u.hostname}:${u.port || defaultPort}${u.pathname}`;
    } catch {
      return "the configured server";
    }
  }
  if (!parts) return "the configured server";
  return `${parts.host ?? "localhost"}:${parts.port ?? defaultPort}/${parts.database ?? ""}`;
}

/**
 * The group commit in front of a dialect's inserts. Each row resolves to the row its key holds in the
 * table: itself, or the original of a duplicate (`undefined` for rows without a `clientMessageId`).
 */
function createRowCommit(backend: SqlBackend, reads: SqlReads, options: GroupCommitOptions) {
  const hashed = new WeakSet<ChatRow>();
  return createGroupCommit<ChatRow, ChatRow>(
    async (rows) => {
      // Rows are queued with their scope in `clientKey`, hashed here: hashing before the push would let
      // the asynchronous digest reorder appends.
      // A refused batch is retried in parts, so each row is hashed once.
      await Promise.all(
        rows.map(async (r) => {
          if (r.clientKey === null || hashed.has(r)) return;
          r.clientKey = await sha256Hex(r.clientKey);
          hashed.add(r);
        }),
      );
      await backend.insert(rows);
      const keys = [...new Set(rows.flatMap((r) => (r.clientKey === null ? [] : [r.clientKey])))];
      if (keys.length === 0) return;
      const stored = new Map((await reads.byClientKeys(keys)).map((r) => [r.clientKey, r]));
      return rows.map((r) => (r.clientKey === null ? undefined : stored.get(r.clientKey)));
    },
    (cause) => `Could not store chat messages in ${backend.label}: ${describeCause(cause)}`,
    options,
  );
}

/** The row `appendOnce` queues for a message (its `clientKey` still the unhashed scope, or `null`). */
function toRow(stored: StoredChatMessage, scope: string | undefined): ChatRow {
  return {
    id: stored.id,
    roomId: stored.roomId,
    connectionId: stored.connectionId,
    userId: stored.userId ?? null,
    name: stored.name ?? null,
    message: stored.message,
    metadata: stored.metadata ?? null,
    createdAt: stored.createdAt,
    clientKey: scope ?? null, // hashed when its batch is written
  };
}

/** What the history reads share: the open check, the page size, and the timeout and error wrapping. */
interface ReadContext {
  reads: SqlReads;
  historyLimit: number;
  read<T>(what: Promise<T> | PromiseLike<T>): Promise<T>;
  /** Throws the storage's closed error once `close()` was called. */
  assertOpen(): void;
}

/** `getHistory`, `getHistoryBefore` and `getHistoryAfter` over the dialect's reads. */
function historyMethods({
  reads,
  historyLimit,
  read,
  assertOpen,
}: ReadContext): Pick<ChatStorage, "getHistory" | "getHistoryBefore" | "getHistoryAfter"> {
  return {
    async getHistory(roomId, limit, offset) {
      const n = count(limit, historyLimit);
      if (n === 0) {
        assertOpen();
        return [];
      }
      const page = (await read(reads.newest(roomId, n, count(offset, 0)))).map(fromRow);
      page.reverse();
      return page;
    },
    async getHistoryBefore(roomId, beforeId, limit): Promise<HistoryPage | undefined> {
      const n = count(limit, historyLimit);
      const seq = beforeId === undefined ? undefined : await read(reads.seqOf(roomId, beforeId));
      if (beforeId !== undefined && seq === undefined) return undefined;
      // One more than asked says whether older messages exist.
      const rows = await read(reads.before(roomId, seq, n + 1));
      const hasMore = rows.length > n;
      const page = rows.slice(0, n).map(fromRow);
      page.reverse();
      return { messages: page, hasMore };
    },
    async getHistoryAfter(roomId, afterId, limit) {
      const seq = await read(reads.seqOf(roomId, afterId));
      if (seq === undefined) return undefined;
      const n = count(limit, historyLimit);
      return n === 0 ? [] : (await read(reads.after(roomId, seq, n))).map(fromRow);
    },
  };
}

/**
 * Closing: queued writes get their chance, but a database that stopped answering must not hold shutdown
 * (nor the process: the bound's timer is cleared when the writes finish first); then the backend's own
 * resources are released.
 */
async function closeStorage(backend: SqlBackend, commit: GroupCommit<ChatRow, ChatRow>, timeoutMs: number): Promise<void> {
  await (timeoutMs > 0 && Number.isFinite(timeoutMs) ? withTimeout(commit.drain(), timeoutMs, { fallback: undefined }) : commit.drain());
  try {
    await backend.release();
  } catch (cause) {
    throw new StorageError(`Could not close ${backend.label}: ${describeCause(cause)}`, { cause });
  }
}

/** A {@link ChatStorage} over a dialect's insert and table, with group commit in front of the inserts. */
export function createSqlChatStorage(backend: SqlBackend, options: SqlChatStorageOptions): ChatStorage {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const reads = createReads(backend);
  const commit = createRowCommit(backend, reads, options);
  let closed: Promise<void> | undefined;
  const assertOpen = () => {
    if (closed) throw new StorageError(`Chat storage (${backend.label}) is closed.`);
  };

  async function read<T>(what: Promise<T> | PromiseLike<T>): Promise<T> {
    assertOpen();
    try {
      return await storageTimeout(Promise.resolve(what), timeoutMs, "Reading chat history");
    } catch (cause) {
      throw new StorageError(`Could not read chat history from ${backend.label}: ${describeCause(cause)}`, { cause });
    }
  }

  async function write<T>(what: Promise<T> | PromiseLike<T>): Promise<T> {
    assertOpen();
    try {
      return await storageTimeout(Promise.resolve(what), timeoutMs, "Deleting a chat message");
    } catch (cause) {
      throw new StorageError(`Could not delete a chat message from ${backend.label}: ${describeCause(cause)}`, { cause });
    }
  }

  async function appendOnce(roomId: string, input: ChatAppendInput): Promise<AppendResult> {
    assertOpen();
    const stored = toStored(roomId, input, newId);
    const winner = await commit.push(toRow(stored, clientScopeKey(roomId, input)));
    if (winner && winner.id !== stored.id) return { message: fromRow(winner), duplicate: true };
    return { message: stored, duplicate: false };
  }

  return {
    appendOnce,
    async delete(roomId, id) {
      // Found first: MySQL's DELETE cannot say which rows it removed through drizzle's common API.
      if ((await read(reads.seqOf(roomId, id))) === undefined) return false;
      await write(reads.remove(roomId, id));
      return true;
    },
    async append(roomId, input) {
      return (await appendOnce(roomId, input)).message;
    },
    ...historyMethods({ reads, historyLimit: count(options.historyLimit, 100), read, assertOpen }),
    close() {
      closed ??= closeStorage(backend, commit, timeoutMs);
      return closed;
    },
  };
}
