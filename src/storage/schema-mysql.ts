import {
  bigint,
  customType,
  getTableConfig,
  index,
  uniqueIndex,
  mediumtext,
  mysqlTable,
  text,
  varbinary,
  varchar,
} from "drizzle-orm/mysql-core";
import { tableDdl } from "./ddl.ts";
import { clientKeyIndexName, idIndexName, roomSeqIndexName, validateTableName } from "./table-name.ts";

/**
 * JSON metadata. MySQL returns a `json` column parsed, MariaDB (where `json` is LONGTEXT with a
 * `json_valid` check) returns the text; read both.
 */
const jsonObject = customType<{ data: Record<string, unknown>; driverData: string }>({
  dataType: () => "json",
  toDriver: (value) => JSON.stringify(value),
  fromDriver: (value: unknown) => (typeof value === "string" ? JSON.parse(value) : value) as Record<string, unknown>,
});

/**
 * The chat table for MySQL and MariaDB. Room ids are `varbinary(2048)`: compared byte for byte (no case
 * folding, no PAD SPACE, as in Postgres and SQLite) and short enough to index; a room id over 2048 UTF-8
 * bytes is refused by the database. Messages are `mediumtext` so 64 KB of 4-byte characters fits.
 */
export function mysqlChatTable(tableName: string) {
  const name = validateTableName(tableName);
  return mysqlTable(
    name,
    {
      id: varchar("id", { length: 255 }).notNull(),
      roomId: varbinary("room_id", { length: 2048 }).notNull(),
      connectionId: varchar("connection_id", { length: 255 }).notNull(),
      userId: text("user_id"),
      name: text("name"),
      message: mediumtext("message").notNull(),
      metadata: jsonObject("metadata"),
      createdAt: bigint("created_at", { mode: "number" }).notNull(),
      clientKey: varchar("client_key", { length: 64 }),
      seq: bigint("seq", { mode: "number", unsigned: true }).autoincrement().primaryKey(),
    },
    (t) => [
      index(roomSeqIndexName(name)).on(t.roomId, t.seq),
      uniqueIndex(clientKeyIndexName(name)).on(t.clientKey),
      index(idIndexName(name)).on(t.id),
    ],
  );
}

export type MySqlChatTable = ReturnType<typeof mysqlChatTable>;

/** The CREATE statement and the in-place upgrade of an older release's table, for {@link mysqlChatTable}. */
export function mysqlTableDdl(table: MySqlChatTable) {
  return tableDdl("mysql", getTableConfig(table));
}
