import { getTableConfig, index, integer, sqliteTable, text } from "drizzle-orm/sqlite-core";
import { createTableStatements } from "./ddl.ts";
import { roomSeqIndexName, validateTableName } from "./table-name.ts";

/**
 * The chat table for SQLite. `seq` is an AUTOINCREMENT rowid, so it never goes back even if rows are
 * deleted by hand.
 */
export function sqliteChatTable(tableName: string) {
  const name = validateTableName(tableName);
  return sqliteTable(
    name,
    {
      id: text("id").notNull(),
      roomId: text("room_id").notNull(),
      connectionId: text("connection_id").notNull(),
      userId: text("user_id"),
      name: text("name"),
      message: text("message").notNull(),
      metadata: text("metadata", { mode: "json" }).$type<Record<string, unknown>>(),
      createdAt: integer("created_at").notNull(),
      seq: integer("seq").primaryKey({ autoIncrement: true }),
    },
    (t) => [index(roomSeqIndexName(name)).on(t.roomId, t.seq)],
  );
}

export type SQLiteChatTable = ReturnType<typeof sqliteChatTable>;

/** Idempotent CREATE statements for {@link sqliteChatTable}. */
export function sqliteCreateStatements(table: SQLiteChatTable): string[] {
  return createTableStatements("sqlite", getTableConfig(table));
}
