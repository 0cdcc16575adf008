// Tests that import src/storage directly (not a runtime entry) register the runtime's SQLite driver here,
// as the entries in adapters/node, bun and deno do. Imported for its effect: `import "./helpers/sqlite-driver.ts"`.
import { createRequire } from "node:module";
import { registerSqliteDriver, type SqliteDatabaseLike } from "../../src/storage/sqlite-driver.ts";

type DatabaseClass = new (filename: string) => SqliteDatabaseLike;
const proc = globalThis.process as unknown as { getBuiltinModule(id: string): Record<string, unknown> };

if ("Bun" in globalThis) {
  const { Database } = proc.getBuiltinModule("bun:sqlite") as { Database: DatabaseClass };
  registerSqliteDriver({ name: "bun:sqlite", open: (filename) => new Database(filename) });
} else if ("Deno" in globalThis) {
  const { DatabaseSync } = proc.getBuiltinModule("node:sqlite") as { DatabaseSync: DatabaseClass };
  registerSqliteDriver({ name: "node:sqlite", open: (filename) => new DatabaseSync(filename) });
} else {
  registerSqliteDriver({
    name: "better-sqlite3",
    install: "npm install better-sqlite3@12",
    open: (filename) => new (createRequire(import.meta.url)("better-sqlite3") as DatabaseClass)(filename),
  });
}
