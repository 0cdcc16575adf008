import { getTableConfig, index, uniqueIndex, integer, sqliteTable, text } from "drizzle-orm/sqlite-core";
import { tableDdl } from "./ddl.ts";
import { clientKeyIndexName, idIndexName, roomSeqIndexName, validateTableName } from "./table-name.ts";

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
      clientKey: text("client_key"),
      seq: integer("seq").primaryKey({ autoIncrement: true }),
    },
    (t) => [
      index(roomSeqIndexName(name)).on(t.roomId, t.seq),
      uniqueIndex(clientKeyIndexName(name)).on(t.clientKey),
      index(idIndexName(name)).on(t.id),
    ],
  );
}

export type SQLiteChatTable = ReturnType<typeof sqliteChatTable>;

/** The CREATE statement and the in-place upgrade of an older release's table, for {@link sqliteChatTable}. */
export function sqliteTableDdl(table: SQLiteChatTable) {
  return tableDdl("sqlite", getTableConfig(table));
}
