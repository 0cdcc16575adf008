import type { ChatStorage } from "./chat-storage.ts";
import { toStored } from "./chat-storage.ts";
import { StorageError } from "../errors.ts";
import type { StoredChatMessage } from "../protocol/messages.ts";
import { createGroupCommit, withTimeout, type GroupCommitOptions } from "./group-commit.ts";

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
}

/** What a dialect supplies; everything else (paging, batching, errors, close) is shared. */
export interface SqlBackend {
  /** e.g. `Postgres table "openlivesync_chat"`, used in error messages. */
  label: string;
  insert(rows: ChatRow[]): Promise<void>;
  /** Newest first: `order by seq desc limit ? offset ?`. */
  selectNewest(roomId: string, limit: number, offset: number): Promise<ChatRow[]>;
  /** Release what the storage opened itself; never a client the caller passed in. */
  release(): Promise<void>;
}

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

/** "Could not … (ECONNREFUSED …)": the driver's message, kept short. */
export function describeCause(cause: unknown): string {
  const text = errorText(cause).split("\n")[0] ?? "";
  return text.length > 300 ? `${text.slice(0, 300)}…` : text;
}

function fromRow(row: ChatRow): StoredChatMessage {
  const stored: StoredChatMessage = {
    id: row.id,
    roomId: row.roomId,
    connectionId: row.connectionId,
    message: row.message,
    createdAt: Number(row.createdAt),
  };
  if (row.userId !== null && row.userId !== undefined) stored.userId = row.userId;
  if (row.name !== null && row.name !== undefined) stored.name = row.name;
  if (row.metadata !== null && row.metadata !== undefined) stored.metadata = row.metadata;
  return stored;
}

const newId = () => globalThis.crypto.randomUUID();

/** The columns `selectNewest` reads, in {@link ChatRow}'s shape; the same for every dialect's table. */
export function chatRowColumns<T extends Record<keyof ChatRow, unknown>>(table: T): Pick<T, keyof ChatRow> {
  const { id, roomId, connectionId, userId, name, message, metadata, createdAt } = table;
  return { id, roomId, connectionId, userId, name, message, metadata, createdAt };
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

/** A {@link ChatStorage} over a dialect's insert/select, with group commit in front of the inserts. */
export function createSqlChatStorage(backend: SqlBackend, options: SqlChatStorageOptions): ChatStorage {
  const historyLimit = count(options.historyLimit, 100);
  let closed: Promise<void> | undefined;
  const commit = createGroupCommit<ChatRow>(
    (rows) => backend.insert(rows),
    (cause) => `Could not store chat messages in ${backend.label}: ${describeCause(cause)}`,
    options,
  );
  const closedError = () => new StorageError(`Chat storage (${backend.label}) is closed.`);

  return {
    async append(roomId, input) {
      if (closed) throw closedError();
      const stored = toStored(roomId, input, newId);
      await commit.push({
        id: stored.id,
        roomId,
        connectionId: stored.connectionId,
        userId: stored.userId ?? null,
        name: stored.name ?? null,
        message: stored.message,
        metadata: stored.metadata ?? null,
        createdAt: stored.createdAt,
      });
      return stored;
    },
    async getHistory(roomId, limit, offset) {
      if (closed) throw closedError();
      const n = count(limit, historyLimit);
      if (n === 0) return [];
      let rows: ChatRow[];
      try {
        rows = await withTimeout(backend.selectNewest(roomId, n, count(offset, 0)), options.timeoutMs ?? 10_000, "Reading chat history");
      } catch (cause) {
        throw new StorageError(`Could not read chat history from ${backend.label}: ${describeCause(cause)}`, { cause });
      }
      const page = rows.map(fromRow);
      page.reverse();
      return page;
    },
    close() {
      closed ??= (async () => {
        // Give queued writes their chance, but a database that stopped answering must not hold shutdown.
        await Promise.race([commit.drain(), new Promise((r) => setTimeout(r, options.timeoutMs ?? 10_000))]);
        try {
          await backend.release();
        } catch (cause) {
          throw new StorageError(`Could not close ${backend.label}: ${describeCause(cause)}`, { cause });
        }
      })();
      return closed;
    },
  };
}
