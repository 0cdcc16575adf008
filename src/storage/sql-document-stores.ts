/**
 * The document stores per dialect: each opens its driver the way the chat store of that dialect does, creates
 * or upgrades the documents table from its Drizzle schema, and hands the rest to sql-document-storage.ts.
 */
import { drizzle as sqliteProxy } from "drizzle-orm/sqlite-proxy";
import { ConfigError, MissingDriverError, StorageError } from "../errors.ts";
import type { DocumentStorage } from "./document-storage.ts";
import { documentTableDdl, mysqlDocumentTable, pgDocumentTable, sqliteDocumentTable } from "./document-schema.ts";
import { setUpMySQLTable } from "./mysql.ts";
import { type PostgresSetUpClient, setUpPostgresTable } from "./postgres.ts";
import { setUpSQLiteTable } from "./sqlite.ts";
import { describeCause, serverLabel } from "./sql-chat-storage.ts";
import { createSqlDocumentStorage, type SqlDocumentStorageOptions } from "./sql-document-storage.ts";
import { openSqliteDatabase, type SqliteStatementLike } from "./sqlite-driver.ts";

/**
 * Documents in SQLite (the runtime's driver, as for chat), in WAL mode; synchronous to create.
 * @example
 * const storage = createSQLiteDocumentStorage("./data/docs.sqlite");
 */
export function createSQLiteDocumentStorage(filename: string, options: SqlDocumentStorageOptions = {}): DocumentStorage {
  if (typeof filename !== "string" || filename === "")
    throw new ConfigError('createSQLiteDocumentStorage needs a file path or ":memory:".');
  const table = sqliteDocumentTable(options.tableName);
  const tableName = options.tableName ?? "openlivesync_documents";
  const { db: sqlite, driver } = openSqliteDatabase(filename);
  const label = `SQLite table "${tableName}" in ${filename} (${driver})`;
  setUpSQLiteTable(sqlite, filename, tableName, () => documentTableDdl.sqlite(table), label);
  const statements = new Map<string, SqliteStatementLike>();
  const db = sqliteProxy(async (query, params, method) => {
    let statement = statements.get(query);
    if (!statement) {
      if (statements.size >= 200) statements.clear();
      statements.set(query, (statement = sqlite.prepare(query)));
    }
    if (method === "run") {
      statement.run(...params);
      return { rows: [] };
    }
    const rows = statement.all(...params).map((row) => Object.values(row as object));
    return { rows: method === "get" ? (rows[0] as unknown[]) : rows };
  });
  return createSqlDocumentStorage(
    {
      label,
      db,
      table,
      async release() {
        statements.clear();
        sqlite.close();
      },
    },
    options,
  );
}

/**
 * Documents in Postgres through postgres.js; connects and creates the table (under an advisory lock)
 * before it resolves.
 * @example
 * const storage = await createPostgresDocumentStorage(process.env.DATABASE_URL!);
 */
export async function createPostgresDocumentStorage(url: string, options: SqlDocumentStorageOptions = {}): Promise<DocumentStorage> {
  const table = pgDocumentTable(options.tableName);
  const tableName = options.tableName ?? "openlivesync_documents";
  const loaded = await Promise.all([import("postgres"), import("drizzle-orm/postgres-js")]).then(
    ([pg, drizzle]) => ({ postgres: pg.default, drizzle: drizzle.drizzle }),
    (cause: unknown) => {
      throw new MissingDriverError("postgres (postgres.js)", "npm install postgres", { cause, feature: "Postgres document storage" });
    },
  );
  const client = loaded.postgres(url, { max: 10, connect_timeout: 10, onnotice: () => {} }) as unknown as PostgresSetUpClient;
  const label = `Postgres table "${tableName}" at ${serverLabel(url, undefined, 5432)}`;
  await setUpPostgresTable(client, tableName, () => documentTableDdl.pg(table), label, true);
  const db = loaded.drizzle(client as never);
  return createSqlDocumentStorage({ label, db, table, release: async () => void (await client.end({ timeout: 1 })) }, options);
}

/**
 * Documents in MySQL 8 or MariaDB 10.5+ through mysql2; connects and creates the table (under `GET_LOCK`)
 * before it resolves.
 * @example
 * const storage = await createMySQLDocumentStorage("mysql://app:secret@localhost:3306/app");
 */
export async function createMySQLDocumentStorage(url: string, options: SqlDocumentStorageOptions = {}): Promise<DocumentStorage> {
  const table = mysqlDocumentTable(options.tableName);
  const tableName = options.tableName ?? "openlivesync_documents";
  const loaded = await Promise.all([import("mysql2/promise"), import("drizzle-orm/mysql2")]).then(
    ([mysql, drizzle]) => ({ createPool: mysql.createPool, drizzle: drizzle.drizzle }),
    (cause: unknown) => {
      throw new MissingDriverError("mysql2", "npm install mysql2", { cause, feature: "MySQL document storage" });
    },
  );
  const pool = loaded.createPool({ uri: url, connectionLimit: 10, connectTimeout: 10_000 });
  const label = `MySQL table \`${tableName}\` at ${serverLabel(url, undefined, 3306)}`;
  try {
    await setUpMySQLTable(pool as never, documentTableDdl.mysql(table), tableName);
  } catch (cause) {
    await pool.end().catch(() => {});
    throw new StorageError(`Could not set up ${label}: ${describeCause(cause)}`, { cause });
  }
  const db = loaded.drizzle({ client: pool as never });
  return createSqlDocumentStorage({ label, db, table, release: () => pool.end() }, options);
}
