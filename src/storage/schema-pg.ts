import { bigint, bigserial, getTableConfig, index, uniqueIndex, json, pgTable, text } from "drizzle-orm/pg-core";
import { tableDdl } from "./ddl.ts";
import { clientKeyIndexName, idIndexName, roomSeqIndexName, validateTableName } from "./table-name.ts";

/**
 * The chat table for Postgres. `json` (not `jsonb`) keeps metadata exactly as written, key order
 * included, so history reads back the same on every store. `seq` orders messages that share a millisecond.
 */
export function pgChatTable(tableName: string) {
  const name = validateTableName(tableName);
  return pgTable(
    name,
    {
      id: text("id").notNull(),
      roomId: text("room_id").notNull(),
      connectionId: text("connection_id").notNull(),
      userId: text("user_id"),
      name: text("name"),
      message: text("message").notNull(),
      metadata: json("metadata").$type<Record<string, unknown>>(),
      createdAt: bigint("created_at", { mode: "number" }).notNull(),
      clientKey: text("client_key"),
      seq: bigserial("seq", { mode: "number" }).primaryKey(),
    },
    (t) => [
      index(roomSeqIndexName(name)).on(t.roomId, t.seq),
      uniqueIndex(clientKeyIndexName(name)).on(t.clientKey),
      index(idIndexName(name)).on(t.id),
    ],
  );
}

export type PgChatTable = ReturnType<typeof pgChatTable>;

/** The CREATE statement and the in-place upgrade of an older release's table, for {@link pgChatTable}. */
export function pgTableDdl(table: PgChatTable) {
  return tableDdl("pg", getTableConfig(table));
}
