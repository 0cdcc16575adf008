import { sql } from "drizzle-orm";
import type { ChatStorage } from "./chat-storage.ts";
import { ConfigError, MissingDriverError, StorageError } from "../errors.ts";
import { mysqlChatTable, mysqlTableDdl } from "./schema-mysql.ts";
import { createSqlChatStorage, describeCause, type ChatRow, type SqlChatStorageOptions, serverLabel } from "./sql-chat-storage.ts";
import { validateTableName } from "./table-name.ts";

/** Pool settings passed to mysql2's `createPool` (host, port, database, user, password, ssl…). */
export interface MySQLConnectionOptions {
  host?: string;
  port?: number;
  database?: string;
  user?: string;
  password?: string;
  /** A `mysql://user:pass@host:port/db` URL instead of the parts. */
  uri?: string;
  /** Pool size. @default 10 */
  connectionLimit?: number;
  [option: string]: unknown;
}

/** An existing mysql2 pool (`mysql2/promise` or callback style). Not closed by `close()`. */
export interface MySQLPoolLike {
  query(...args: never[]): unknown;
  getConnection(...args: never[]): unknown;
  end(...args: never[]): unknown;
}

export type MySQLConnection = string | MySQLConnectionOptions | MySQLPoolLike;

type Query = { query(sql: string, params?: unknown[]): Promise<[unknown, unknown]> };
type PromiseQuery = Query & { end(): Promise<void>; getConnection(): Promise<Query & { release(): void }> };

/** Seconds a starting server waits for another one's table upgrade (`GET_LOCK`). */
const SETUP_LOCK_SECONDS = 60;

/**
 * Create or upgrade the table under `GET_LOCK`, held on one connection, so servers starting together
 * run the ALTERs once: MySQL 8 has no `ADD COLUMN IF NOT EXISTS`, so the catalog is read under the lock.
 */
export async function setUpMySQLTable(pool: PromiseQuery, ddl: ReturnType<typeof mysqlTableDdl>, tableName: string): Promise<void> {
  const connection = await pool.getConnection();
  const lock = `openlivesync:${tableName}`;
  try {
    const [got] = (await connection.query("select get_lock(?, ?) as got", [lock, SETUP_LOCK_SECONDS])) as [
      Array<{ got: unknown }>,
      unknown,
    ];
    if (Number(got[0]?.got) !== 1) throw new Error(`another server held the setup lock for over ${SETUP_LOCK_SECONDS} s`);
    try {
      await connection.query(ddl.create);
      const [columns] = (await connection.query(
        "select column_name as c from information_schema.columns where table_schema = database() and table_name = ?",
        [tableName],
      )) as [Array<{ c: string }>, unknown];
      const [indexes] = (await connection.query(
        "select distinct index_name as i from information_schema.statistics where table_schema = database() and table_name = ?",
        [tableName],
      )) as [Array<{ i: string }>, unknown];
      const existing = { columns: new Set(columns.map((r) => r.c)), indexes: new Set(indexes.map((r) => r.i)) };
      for (const statement of ddl.upgrade(existing)) await connection.query(statement);
    } finally {
      await connection.query("select release_lock(?)", [lock]);
    }
  } finally {
    connection.release();
  }
}

async function loadDriver() {
  try {
    const [mysql, drizzle] = await Promise.all([import("mysql2/promise"), import("drizzle-orm/mysql2")]);
    return { createPool: mysql.createPool, drizzle: drizzle.drizzle };
  } catch (cause) {
    throw new MissingDriverError("mysql2", "npm install mysql2", { cause, feature: "MySQL chat storage" });
  }
}

function isPool(connection: MySQLConnection): connection is MySQLPoolLike {
  return (
    typeof connection === "object" &&
    connection !== null &&
    typeof connection.getConnection === "function" &&
    typeof connection.query === "function"
  );
}

/**
 * Chat history in MySQL 8 or MariaDB 10.5+, through mysql2 and `drizzle-orm/mysql2`. Creates the table
 * with its indexes if missing, or upgrades an older release's table in place, under `GET_LOCK`; connects
 * before it resolves.
 * @example
 * const storage = await createMySQLChatStorage("mysql://app:secret@localhost:3306/app", { historyLimit: 100 });
 */
export async function createMySQLChatStorage(config: MySQLConnection, options: SqlChatStorageOptions = {}): Promise<ChatStorage> {
  const tableName = validateTableName(options.tableName);
  const table = mysqlChatTable(tableName);
  const { createPool, drizzle } = await loadDriver();

  const owned = !isPool(config);
  let pool: MySQLPoolLike;
  if (isPool(config)) {
    pool = config;
  } else if (typeof config === "string") {
    pool = createPool({ uri: config, connectionLimit: 10, connectTimeout: 10_000 }) as unknown as MySQLPoolLike;
  } else if (config && typeof config === "object") {
    pool = createPool({ connectionLimit: 10, connectTimeout: 10_000, ...config } as never) as unknown as MySQLPoolLike;
  } else {
    throw new ConfigError("createMySQLChatStorage needs a connection URL, an options object or a mysql2 pool.");
  }
  // A callback-style pool has `.promise()`; drizzle does the same conversion.
  const promisePool = (
    typeof (pool as { promise?: unknown }).promise === "function" ? (pool as unknown as { promise(): PromiseQuery }).promise() : pool
  ) as PromiseQuery;
  const parts = config as MySQLConnectionOptions;
  const at = serverLabel(typeof config === "string" ? config : parts.uri, parts, 3306);
  const label = `MySQL table \`${tableName}\`${owned ? ` at ${at}` : ""}`;

  try {
    await setUpMySQLTable(promisePool, mysqlTableDdl(table), tableName);
  } catch (cause) {
    if (owned) await promisePool.end().catch(() => {});
    throw new StorageError(`Could not set up ${label}: ${describeCause(cause)}`, { cause });
  }

  const db = drizzle({ client: pool as never });

  return createSqlChatStorage(
    {
      label,
      db,
      table,
      async insert(rows: ChatRow[]) {
        // A no-op update on a duplicate key skips that row and keeps the statement's other rows. Not
        // INSERT IGNORE: it would turn every other refusal (a bad value) into a warning and a mangled row.
        await db
          .insert(table)
          .values(rows)
          .onDuplicateKeyUpdate({ set: { clientKey: sql`${table.clientKey}` } });
      },
      async release() {
        if (owned) await promisePool.end();
      },
    },
    options,
  );
}
