import { drizzle } from "drizzle-orm/durable-sqlite";
import type { ChatStorage } from "../../src/storage/chat-storage.ts";
import { StorageError } from "../../src/errors.ts";
import { sqliteChatTable, sqliteTableDdl } from "../../src/storage/schema-sqlite.ts";
import { createSqlChatStorage, describeCause, type ChatRow, type SqlChatStorageOptions } from "../../src/storage/sql-chat-storage.ts";
import { validateTableName } from "../../src/storage/table-name.ts";
import type { DurableObjectStateLike } from "./shapes.ts";

/**
 * A room's chat in its own Durable Object's SQLite, through drizzle's durable-sqlite driver and the same
 * schema module as the other SQLite storages (src/storage/schema-sqlite.ts). Synchronous to create: the
 * table is created, or an older release's table upgraded, in one `transactionSync`. The object is the
 * room, so the table holds one room's messages; it keeps `room_id` so rows read the same everywhere.
 * https://developers.cloudflare.com/durable-objects/api/sql-storage/
 * @example
 * const storage = createDurableChatStorage(ctx.storage, { historyLimit: 100 });
 */
export function createDurableChatStorage(storage: DurableObjectStateLike["storage"], options: SqlChatStorageOptions = {}): ChatStorage {
  const tableName = validateTableName(options.tableName);
  const table = sqliteChatTable(tableName);
  const label = `Durable Object SQLite table "${tableName}"`;
  try {
    storage.transactionSync(() => {
      const ddl = sqliteTableDdl(table);
      storage.sql.exec(ddl.create);
      const columns = storage.sql.exec("select name from pragma_table_info(?)", tableName).toArray();
      for (const statement of ddl.upgrade({ columns: new Set(columns.map((c) => String(c.name))), indexes: new Set() })) {
        storage.sql.exec(statement);
      }
    });
  } catch (cause) {
    throw new StorageError(`Could not set up ${label}: ${describeCause(cause)}`, { cause });
  }
  // drizzle's driver only calls `storage.sql.exec` (and `transactionSync` for transactions).
  const db = drizzle(storage as never);
  return createSqlChatStorage(
    {
      label,
      db,
      table,
      async insert(rows: ChatRow[]) {
        db.insert(table).values(rows).onConflictDoNothing({ target: table.clientKey }).run();
      },
      // The object owns its storage; nothing to release.
      async release() {},
    },
    options,
  );
}
