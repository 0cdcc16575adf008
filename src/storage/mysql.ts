import { desc, eq } from "drizzle-orm";
import type { ChatStorage } from "./chat-storage.ts";
import { ConfigError, MissingDriverError, StorageError } from "../errors.ts";
import { mysqlChatTable, mysqlCreateStatements } from "./schema-mysql.ts";
import { createSqlChatStorage, describeCause, type ChatRow, type SqlChatStorageOptions, chatRowColumns, serverLabel } from "./sql-chat-storage.ts";
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

type PromiseQuery = { query(sql: string): Promise<unknown>; end(): Promise<void> };

async function loadDriver() {
  try {
    const [mysql, drizzle] = await Promise.all([import("mysql2/promise"), import("drizzle-orm/mysql2")]);
    return { createPool: mysql.createPool, drizzle: drizzle.drizzle };
  } catch (cause) {
    throw new MissingDriverError("mysql2", "npm install mysql2", { cause });
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
 * (index inside the CREATE, so it is one idempotent statement) if missing, and connects before it resolves.
 * @example
 * const storage = await createMySQLChatStorage("mysql://app:secret@localhost:3306/app", { historyLimit: 100 });
 */
export async function createMySQLChatStorage(
  config: MySQLConnection,
  options: SqlChatStorageOptions = {},
): Promise<ChatStorage> {
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
    for (const statement of mysqlCreateStatements(table)) await promisePool.query(statement);
  } catch (cause) {
    if (owned) await promisePool.end().catch(() => {});
    throw new StorageError(`Could not set up ${label}: ${describeCause(cause)}`, { cause });
  }

  const db = drizzle({ client: pool as never });
  const columns = chatRowColumns(table);

  return createSqlChatStorage(
    {
      label,
      async insert(rows: ChatRow[]) {
        await db.insert(table).values(rows);
      },
      async selectNewest(roomId, limit, offset) {
        const rows = await db
          .select(columns)
          .from(table)
          .where(eq(table.roomId, roomId))
          .orderBy(desc(table.seq))
          .limit(limit)
          .offset(offset);
        return rows as ChatRow[];
      },
      async release() {
        if (owned) await promisePool.end();
      },
    },
    options,
  );
}
