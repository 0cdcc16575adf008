import { drizzle } from "drizzle-orm/sqlite-proxy";
import type { ChatStorage } from "./chat-storage.ts";
import { ConfigError, StorageError } from "../errors.ts";
import { sqliteChatTable, sqliteTableDdl } from "./schema-sqlite.ts";
import { createSqlChatStorage, describeCause, type ChatRow, type SqlChatStorageOptions } from "./sql-chat-storage.ts";
import { openSqliteDatabase, type registerSqliteDriver, type SqliteDatabaseLike, type SqliteStatementLike } from "./sqlite-driver.ts";
import { validateTableName } from "./table-name.ts";

export interface SQLiteChatStorageFileOptions {
  /** Database file, created if missing; `":memory:"` for a private in-memory database. */
  filename: string;
}

const MAX_CACHED_STATEMENTS = 600;

/**
 * Chat history in SQLite, through the driver the runtime entry registered (better-sqlite3 v12 on Node,
 * bun:sqlite on Bun, node:sqlite on Deno; see {@link registerSqliteDriver}); synchronous to create. The file
 * is opened in WAL mode; the table and its indexes are created, or an older release's table upgraded, inside
 * `BEGIN IMMEDIATE`. Queries are built by drizzle's sqlite-proxy driver over that driver, so one code path
 * serves all three runtimes.
 * @example
 * const storage = createSQLiteChatStorage("./data/chat.sqlite", { historyLimit: 100 });
 */
export function createSQLiteChatStorage(
  filenameOrOptions: string | SQLiteChatStorageFileOptions,
  options: SqlChatStorageOptions = {},
): ChatStorage {
  const tableName = validateTableName(options.tableName);
  const filename = typeof filenameOrOptions === "string" ? filenameOrOptions : filenameOrOptions?.filename;
  if (typeof filename !== "string" || filename === "") {
    throw new ConfigError('createSQLiteChatStorage needs a file path, ":memory:", or { filename }.');
  }
  const table = sqliteChatTable(tableName);
  const { db: sqlite, driver } = openSqliteDatabase(filename);
  const label = `SQLite table "${tableName}" in ${filename} (${driver})`;

  setUpSQLiteTable(sqlite, filename, tableName, () => sqliteTableDdl(table), label);

  const statements = new Map<string, SqliteStatementLike>();
  const prepare = (sql: string) => {
    let statement = statements.get(sql);
    if (!statement) {
      if (statements.size >= MAX_CACHED_STATEMENTS) statements.clear();
      statements.set(sql, (statement = sqlite.prepare(sql)));
    }
    return statement;
  };

  const db = drizzle(async (sql, params, method) => {
    const statement = prepare(sql);
    if (method === "run") {
      statement.run(...params);
      return { rows: [] };
    }
    // sqlite-proxy wants rows as arrays in SELECT order; every driver keeps that order in its objects.
    const rows = statement.all(...params).map((row) => Object.values(row as object));
    return { rows: method === "get" ? (rows[0] as unknown[]) : rows };
  });

  return createSqlChatStorage(
    {
      label,
      db,
      table,
      async insert(rows: ChatRow[]) {
        await db.insert(table).values(rows).onConflictDoNothing({ target: table.clientKey });
      },
      async release() {
        statements.clear();
        sqlite.close();
      },
    },
    options,
  );
}

/**
 * Open-time setup shared by the chat and document tables: WAL and busy timeout, then the table created or
 * upgraded in one `begin immediate` transaction; on failure the database is closed and a StorageError says
 * which table.
 */
export function setUpSQLiteTable(
  sqlite: SqliteDatabaseLike,
  filename: string,
  tableName: string,
  ddlOf: () => { create: string; upgrade(existing: { columns: Set<string>; indexes: Set<string> }): string[] },
  label: string,
): void {
  try {
    // First, so the statements below wait for another process's lock instead of failing with SQLITE_BUSY.
    sqlite.exec("pragma busy_timeout = 5000");
    if (filename !== ":memory:") {
      sqlite.exec("pragma journal_mode = wal");
      // With WAL, NORMAL survives a process crash; only an OS crash can lose the last commits.
      sqlite.exec("pragma synchronous = normal");
    }
    // One transaction, so a second process starting at the same moment waits (busy_timeout) then no-ops.
    sqlite.exec("begin immediate");
    try {
      const ddl = ddlOf();
      sqlite.exec(ddl.create);
      const columns = sqlite.prepare("select name from pragma_table_info(?)").all(tableName) as Array<{ name: string }>;
      for (const statement of ddl.upgrade({ columns: new Set(columns.map((c) => c.name)), indexes: new Set() })) sqlite.exec(statement);
      sqlite.exec("commit");
    } catch (cause) {
      try {
        sqlite.exec("rollback");
      } catch {}
      throw cause;
    }
  } catch (cause) {
    try {
      sqlite.close();
    } catch {}
    throw new StorageError(`Could not set up ${label}: ${describeCause(cause)}`, { cause });
  }
}
