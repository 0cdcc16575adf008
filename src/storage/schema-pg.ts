import { bigint, bigserial, getTableConfig, index, json, pgTable, text } from "drizzle-orm/pg-core";
import { createTableStatements } from "./ddl.ts";
import { roomSeqIndexName, validateTableName } from "./table-name.ts";

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
      seq: bigserial("seq", { mode: "number" }).primaryKey(),
    },
    (t) => [index(roomSeqIndexName(name)).on(t.roomId, t.seq)],
  );
}

export type PgChatTable = ReturnType<typeof pgChatTable>;

/** Idempotent CREATE statements for {@link pgChatTable}. */
export function pgCreateStatements(table: PgChatTable): string[] {
  return createTableStatements("pg", getTableConfig(table));
}
