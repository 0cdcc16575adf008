import type { ChatStorage } from "./chat-storage.ts";
import { ConfigError, MissingDriverError, StorageError } from "../errors.ts";
import { pgChatTable, pgTableDdl } from "./schema-pg.ts";
import { createSqlChatStorage, describeCause, type ChatRow, type SqlChatStorageOptions, serverLabel } from "./sql-chat-storage.ts";
import { validateTableName } from "./table-name.ts";
import type { ExistingTable } from "./ddl.ts";

/** Where to connect, as a URL or its parts. `connectionString` is accepted as the upstream README writes it. */
export interface PostgresConnectionOptions {
  connectionString?: string;
  host?: string;
  port?: number;
  database?: string;
  user?: string;
  password?: string;
  /** Passed to postgres.js (`true`, `"require"`, or TLS options). */
  ssl?: unknown;
  /** Pool size. @default 10 */
  max?: number;
}

/** An existing postgres.js client (`postgres(url)`), by the parts we use. Not closed by `close()`. */
export interface PostgresClientLike {
  (...args: never[]): unknown;
  unsafe(query: string, ...rest: never[]): unknown;
  begin(...args: never[]): unknown;
  end(options?: { timeout?: number }): PromiseLike<void>;
  options: object;
}

export type PostgresConnection = string | PostgresConnectionOptions | PostgresClientLike;

type Unsafe = { unsafe(query: string, params?: unknown[]): PromiseLike<unknown> };
/** What table set-up needs of a postgres.js client: a transaction of raw statements, and `end`. */
export type PostgresSetUpClient = {
  begin<T>(fn: (tx: Unsafe) => Promise<T>): Promise<T>;
  end(options?: { timeout?: number }): PromiseLike<void>;
};

/**
 * Creates or upgrades `tableName` in one transaction under an advisory lock, so a second server starting at
 * the same moment waits, then finds nothing to do. On failure the client is ended (when `owned`) and a
 * StorageError names `label`. Chat and documents set up their tables here.
 */
export async function setUpPostgresTable(
  client: PostgresSetUpClient,
  tableName: string,
  ddlOf: () => { create: string; upgrade(existing: ExistingTable): string[] },
  label: string,
  owned: boolean,
): Promise<void> {
  try {
    await client.begin(async (tx) => {
      await tx.unsafe("set local client_min_messages = warning");
      await tx.unsafe("select pg_advisory_xact_lock(hashtext($1))", [`openlivesync:${tableName}`]);
      const ddl = ddlOf();
      await tx.unsafe(ddl.create);
      const columns = (await tx.unsafe(
        "select column_name from information_schema.columns where table_schema = current_schema() and table_name = $1",
        [tableName],
      )) as Array<{ column_name: string }>;
      for (const statement of ddl.upgrade({ columns: new Set(columns.map((c) => c.column_name)), indexes: new Set() })) {
        await tx.unsafe(statement);
      }
    });
  } catch (cause) {
    if (owned) await Promise.resolve(client.end({ timeout: 0 })).catch(() => {});
    throw new StorageError(`Could not set up ${label}: ${describeCause(cause)}`, { cause });
  }
}

async function loadDriver() {
  try {
    const [pg, drizzle] = await Promise.all([import("postgres"), import("drizzle-orm/postgres-js")]);
    return { postgres: pg.default, drizzle: drizzle.drizzle };
  } catch (cause) {
    throw new MissingDriverError("postgres (postgres.js)", "npm install postgres", { cause, feature: "Postgres chat storage" });
  }
}

function isClient(connection: PostgresConnection): connection is PostgresClientLike {
  return typeof connection === "function" && typeof (connection as PostgresClientLike).unsafe === "function";
}

/**
 * Chat history in Postgres, through postgres.js and `drizzle-orm/postgres-js`. Creates the table and its
 * indexes if missing, or upgrades an older release's table in place, under an advisory lock so servers
 * starting together do not race.
 * Connects before it resolves, so a wrong URL or a stopped server fails here with a {@link StorageError}.
 * @example
 * const storage = await createPostgresChatStorage(process.env.DATABASE_URL!, { historyLimit: 100 });
 */
export async function createPostgresChatStorage(connection: PostgresConnection, options: SqlChatStorageOptions = {}): Promise<ChatStorage> {
  const tableName = validateTableName(options.tableName);
  const table = pgChatTable(tableName);
  const { postgres, drizzle } = await loadDriver();

  const owned = !isClient(connection);
  let client: PostgresClientLike;
  if (isClient(connection)) {
    client = connection;
  } else {
    const common = { max: 10, connect_timeout: 10, onnotice: () => {} };
    if (typeof connection === "string") {
      client = postgres(connection, common) as unknown as PostgresClientLike;
    } else if (connection && typeof connection === "object") {
      const { connectionString, ssl, max, ...parts } = connection;
      const settings = { ...common, ...parts, ...(max ? { max } : {}), ...(ssl !== undefined ? { ssl } : {}) } as Record<string, unknown>;
      client = (connectionString ? postgres(connectionString, settings) : postgres(settings)) as unknown as PostgresClientLike;
    } else {
      throw new ConfigError("createPostgresChatStorage needs a connection URL, an options object or a postgres.js client.");
    }
  }
  const parts = connection as PostgresConnectionOptions;
  const at = serverLabel(typeof connection === "string" ? connection : parts.connectionString, parts, 5432);
  const label = `Postgres table "${tableName}"${owned ? ` at ${at}` : ""}`;

  await setUpPostgresTable(client as unknown as PostgresSetUpClient, tableName, () => pgTableDdl(table), label, owned);

  const db = drizzle(client as never);

  return createSqlChatStorage(
    {
      label,
      db,
      table,
      async insert(rows: ChatRow[]) {
        await db.insert(table).values(rows).onConflictDoNothing({ target: table.clientKey });
      },
      async release() {
        // Our own writes are drained by now; the timeout only bounds in-flight reads, and a pool
        // that lived through a dropped connection can otherwise wait out a reconnect.
        if (owned) await client.end({ timeout: 1 });
      },
    },
    options,
  );
}
