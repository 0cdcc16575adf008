import { and, asc, desc, eq, gt, inArray, lt, type Column, type SQL } from "drizzle-orm";
import type { StoredChatMessage } from "../protocol/messages.ts";
import type { ChatRow, SqlBackend } from "./sql-chat-storage.ts";

/** A drizzle select chain, by the calls used here; the three dialects' builders all have this shape. */
interface SelectQuery extends PromiseLike<unknown[]> {
  where(condition: SQL | undefined): SelectQuery;
  orderBy(...order: SQL[]): SelectQuery;
  limit(n: number): SelectQuery;
  offset(n: number): SelectQuery;
}
interface SelectDb {
  select(fields: Record<string, Column>): { from(table: unknown): SelectQuery };
  delete(table: unknown): { where(condition: SQL | undefined): PromiseLike<unknown> };
}

/** A stored row as the chat message the API returns (SQL `NULL`s left out). */
export function fromRow(row: ChatRow): StoredChatMessage {
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

/** The SQL storages' reads, built once over the dialect's table: every dialect orders by `seq`, the one total order. */
export function createReads(backend: SqlBackend) {
  const db = backend.db as SelectDb;
  const t = backend.table;
  const columns = {
    id: t.id,
    roomId: t.roomId,
    connectionId: t.connectionId,
    userId: t.userId,
    name: t.name,
    message: t.message,
    metadata: t.metadata,
    createdAt: t.createdAt,
  };
  const rows = (query: SelectQuery) => query as PromiseLike<unknown[]> as PromiseLike<ChatRow[]>;
  return {
    /** Newest first: `order by seq desc limit ? offset ?`. */
    newest: (roomId: string, limit: number, offset: number) =>
      rows(db.select(columns).from(t).where(eq(t.roomId, roomId)).orderBy(desc(t.seq)).limit(limit).offset(offset)),
    async seqOf(roomId: string, id: string): Promise<number | undefined> {
      const found = (await db
        .select({ seq: t.seq })
        .from(t)
        .where(and(eq(t.id, id), eq(t.roomId, roomId)))
        .limit(1)) as Array<{ seq: unknown }>;
      return found[0] === undefined ? undefined : Number(found[0].seq);
    },
    /** Newest first, older than `seq` (or the newest without it). */
    before: (roomId: string, seq: number | undefined, limit: number) =>
      rows(
        db
          .select(columns)
          .from(t)
          .where(and(eq(t.roomId, roomId), seq === undefined ? undefined : lt(t.seq, seq)))
          .orderBy(desc(t.seq))
          .limit(limit),
      ),
    /** Oldest first, newer than `seq`. */
    after: (roomId: string, seq: number, limit: number) =>
      rows(
        db
          .select(columns)
          .from(t)
          .where(and(eq(t.roomId, roomId), gt(t.seq, seq)))
          .orderBy(asc(t.seq))
          .limit(limit),
      ),
    /** Remove one message of the room (moderation). */
    remove: (roomId: string, id: string) => db.delete(t).where(and(eq(t.id, id), eq(t.roomId, roomId))),
    /** The stored row of each key: after an INSERT that skipped duplicates, these are the winners. */
    byClientKeys: (keys: string[]) =>
      rows(
        db
          .select({ ...columns, clientKey: t.clientKey })
          .from(t)
          .where(inArray(t.clientKey, keys)),
      ),
  };
}

export type SqlReads = ReturnType<typeof createReads>;
