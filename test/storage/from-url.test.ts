import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createChatStorageFromUrl } from "../../src/storage/from-url.ts";
import { DATABASE_URL, MYSQL_URL, probe } from "../helpers/services.ts";
import "../helpers/sqlite-driver.ts";

const postgresDown = await probe(DATABASE_URL);
const mysqlDown = await probe(MYSQL_URL);
const dir = mkdtempSync(join(tmpdir(), "ols-from-url-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function roundTrip(url: string, tableName?: string) {
  const storage = await createChatStorageFromUrl(url, { tableName, historyLimit: 10 });
  await storage.append("r", { connectionId: "c", message: "hello" });
  const history = await storage.getHistory("r");
  await storage.close?.();
  return history.map((m) => m.message);
}

describe("createChatStorageFromUrl", () => {
  it("makes an in-memory storage from 'memory'", async () => {
    expect(await roundTrip("memory")).toStrictEqual(["hello"]);
  });

  it("makes a SQLite storage from sqlite:<path> and sqlite::memory:", async () => {
    expect(await roundTrip(`sqlite:${join(dir, "a.db")}`)).toStrictEqual(["hello"]);
    expect(await roundTrip("sqlite::memory:")).toStrictEqual(["hello"]);
  });

  it.each([
    ["redis://localhost", /Unknown storage "redis:\/\/localhost": use memory, sqlite:/],
    ["postgres://", /no host|not a valid URL/],
    ["mysql://[bad", /not a valid URL/],
    ["sqlite:", /has no file/],
    ["nonsense", /Unknown storage/],
  ])("refuses %j with one clear ConfigError line", async (url, message) => {
    const error = await createChatStorageFromUrl(url).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "CONFIG_ERROR", message: expect.stringMatching(message) });
    expect((error as Error).message).not.toContain("\n");
  });

  it("hides the password of an unknown URL in its error", async () => {
    const error = await createChatStorageFromUrl("mongodb://admin:hunter2@db/x").catch((e: unknown) => e);
    expect((error as Error).message).not.toContain("hunter2");
  });

  it("refuses a hostile table name", async () => {
    await expect(createChatStorageFromUrl("sqlite::memory:", { tableName: "x;drop" })).rejects.toMatchObject({ code: "CONFIG_ERROR" });
  });

  it("fails with a StorageError naming the server when Postgres is unreachable", async () => {
    const error = await createChatStorageFromUrl("postgres://postgres@127.0.0.1:1/test").catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "STORAGE_ERROR", message: expect.stringContaining("127.0.0.1:1/test") });
    expect((error as Error).message).not.toContain("\n");
  });

  it("fails with a StorageError naming the server when MySQL is unreachable", async () => {
    const error = await createChatStorageFromUrl("mysql://root:secret@127.0.0.1:1/test").catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "STORAGE_ERROR", message: expect.stringContaining("127.0.0.1:1/test") });
    expect((error as Error).message).not.toContain("secret");
  });

  it.runIf(!postgresDown)("connects to postgres:// and postgresql:// URLs", async () => {
    const tableName = `ols_test_url_${Math.random().toString(36).slice(2, 8)}`;
    expect(await roundTrip(DATABASE_URL, tableName)).toStrictEqual(["hello"]);
    expect(await roundTrip(DATABASE_URL.replace(/^postgres:/, "postgresql:"), tableName)).toStrictEqual(["hello", "hello"]);
    const postgres = (await import("postgres")).default;
    const sql = postgres(DATABASE_URL, { max: 1, onnotice: () => {} });
    await sql.unsafe(`drop table if exists "${tableName}"`);
    await sql.end();
  });

  it.runIf(!mysqlDown)("connects to mysql:// URLs", async () => {
    const tableName = `ols_test_url_${Math.random().toString(36).slice(2, 8)}`;
    expect(await roundTrip(MYSQL_URL, tableName)).toStrictEqual(["hello"]);
    const { createPool } = await import("mysql2/promise");
    const pool = createPool({ uri: MYSQL_URL, connectionLimit: 1 });
    await pool.query(`drop table if exists \`${tableName}\``);
    await pool.end();
  });
});
