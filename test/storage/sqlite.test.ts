import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll } from "vitest";
import { createSQLiteChatStorage } from "../../src/storage/sqlite.ts";
import { chatStorageContract } from "../suites/chat-storage.contract.ts";
import "../helpers/sqlite-driver.ts";

const dir = mkdtempSync(join(tmpdir(), "ols-sqlite-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

chatStorageContract("SQLite file", (options) => createSQLiteChatStorage(join(dir, "chat.db"), options), {
  sql: true,
  sharedTable: true,
});
chatStorageContract("SQLite :memory:", (options) => createSQLiteChatStorage(":memory:", options), { sql: true });
