import { ConfigError, MissingDriverError } from "../errors.ts";

/**
 * The SQLite driver is injected by the runtime entry, so src/ imports no runtime module and
 * `createSQLiteChatStorage` stays synchronous:
 * - Node (`@openlivesync/server/node`): better-sqlite3 v12 (https://github.com/WiseLibs/better-sqlite3/blob/master/docs/api.md)
 * - Bun (`/bun`): bun:sqlite (https://bun.sh/docs/api/sqlite)
 * - Deno (`/deno`): node:sqlite's DatabaseSync (https://docs.deno.com/api/node/sqlite/)
 */

export interface SqliteStatementLike {
  run(...params: unknown[]): unknown;
  /** Rows as objects, columns in SELECT order. */
  all(...params: unknown[]): unknown[];
}

export interface SqliteDatabaseLike {
  exec(sql: string): void;
  prepare(sql: string): SqliteStatementLike;
  close(): void;
}

/** A synchronous SQLite driver, as a runtime entry registers it. */
export interface SqliteDriver {
  /** Shown in labels and errors: `"better-sqlite3"`, `"bun:sqlite"`, `"node:sqlite"`. */
  name: string;
  /** Open a file (created if missing) or `":memory:"`. */
  open(filename: string): SqliteDatabaseLike;
  /** How to install the driver when its package is missing, e.g. `"npm install better-sqlite3@12"`. */
  install?: string;
}

export interface OpenedSqlite {
  db: SqliteDatabaseLike;
  driver: string;
}

let registered: SqliteDriver | undefined;

/**
 * Set the driver SQLite storages open files with. The Node, Bun and Deno entries of the package call it
 * when they load; call it yourself only to use another driver, or when importing the core without an entry.
 * @example
 * import Database from "better-sqlite3";
 * registerSqliteDriver({ name: "better-sqlite3", open: (filename) => new Database(filename) });
 */
export function registerSqliteDriver(driver: SqliteDriver): void {
  registered = driver;
}

const isMissingModule = (cause: unknown) => {
  const code = (cause as { code?: string } | undefined)?.code;
  return (
    code === "MODULE_NOT_FOUND" ||
    code === "ERR_MODULE_NOT_FOUND" ||
    code === "ERR_DLOPEN_FAILED" ||
    /bindings|\.node\b/.test(String(cause))
  );
};

/** Open `filename` (or `:memory:`) with the registered driver. */
export function openSqliteDatabase(filename: string): OpenedSqlite {
  const driver = registered;
  if (!driver) {
    throw new ConfigError(
      'SQLite storage has no driver: import createSQLiteChatStorage from "@openlivesync/server" (its Node, Bun and Deno entries register better-sqlite3, bun:sqlite and node:sqlite), or call registerSqliteDriver({ name, open }) first.',
    );
  }
  try {
    return { db: driver.open(filename), driver: driver.name };
  } catch (cause) {
    if (driver.install && isMissingModule(cause))
      throw new MissingDriverError(driver.name, driver.install, { cause, feature: "SQLite chat storage" });
    throw new ConfigError(`Could not open SQLite database ${JSON.stringify(filename)}: ${(cause as Error).message}`, { cause });
  }
}
