// The built-in SQLite modules the Bun and Deno entries import, by the parts used (Node 20's types have
// neither). See https://bun.sh/docs/api/sqlite and https://docs.deno.com/api/node/sqlite/.
declare module "bun:sqlite" {
  export class Database {
    constructor(filename: string);
    exec(sql: string): void;
    prepare(sql: string): { run(...params: unknown[]): unknown; all(...params: unknown[]): unknown[] };
    close(): void;
  }
}

declare module "node:sqlite" {
  export class DatabaseSync {
    constructor(filename: string);
    exec(sql: string): void;
    prepare(sql: string): { run(...params: unknown[]): unknown; all(...params: unknown[]): unknown[] };
    close(): void;
  }
}
