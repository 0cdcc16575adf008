import { expect, it } from "vitest";
import { createSQLiteChatStorage } from "../../src/storage/sqlite.ts";

// No runtime entry and no test helper loaded here: the core has no SQLite driver of its own.
it("says how to get a SQLite driver when none is registered", () => {
  expect(() => createSQLiteChatStorage(":memory:")).toThrow(
    expect.objectContaining({ name: "ConfigError", message: expect.stringContaining("registerSqliteDriver") }),
  );
});
