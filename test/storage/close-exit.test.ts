import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createPool } from "mysql2/promise";
import postgres from "postgres";
import { afterAll, expect, it } from "vitest";
import { DATABASE_URL, MYSQL_URL, describeWithService } from "../helpers/services.ts";

const root = fileURLToPath(new URL("../../", import.meta.url));
const tableName = `ols_test_exit_${Math.random().toString(36).slice(2, 8)}`;

/** Runs the fixture; resolves when the child exits by itself (the fixture never calls process.exit). */
function runChild(kind: string, target: string): Promise<{ stored: number; timers: string[] }> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ["--import", "./test/fixtures/ts-register.mjs", "test/fixtures/storage-close-exit.ts", kind, target, tableName],
      // Only a guard against hanging the suite: the defect kept the process alive for timeoutMs (an hour here).
      { cwd: root, timeout: 120_000 },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`${kind} child did not exit cleanly: ${error.message}\n${stderr}`));
        else resolve(JSON.parse(stdout.trim().split("\n").at(-1)!));
      },
    );
  });
}

const dir = mkdtempSync(join(tmpdir(), "ols-exit-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it("lets a process that used a SQLite storage exit by itself once the storage is closed", async () => {
  expect(await runChild("sqlite", join(dir, "chat.db"))).toStrictEqual({ stored: 1, timers: [] });
});

await describeWithService("Postgres", DATABASE_URL, "DATABASE_URL", () => {
  afterAll(async () => {
    const sql = postgres(DATABASE_URL, { max: 1, onnotice: () => {} });
    await sql.unsafe(`drop table if exists "${tableName}"`);
    await sql.end();
  });
  it("lets a process that used a Postgres storage exit by itself once the storage is closed", async () => {
    expect(await runChild("postgres", DATABASE_URL)).toStrictEqual({ stored: 1, timers: [] });
  });
});

await describeWithService("MySQL", MYSQL_URL, "MYSQL_URL", () => {
  afterAll(async () => {
    const pool = createPool({ uri: MYSQL_URL, connectionLimit: 1 });
    await pool.query(`drop table if exists \`${tableName}\``);
    await pool.end();
  });
  it("lets a process that used a MySQL storage exit by itself once the storage is closed", async () => {
    expect(await runChild("mysql", MYSQL_URL)).toStrictEqual({ stored: 1, timers: [] });
  });
});
