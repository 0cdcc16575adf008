import { createPool } from "mysql2/promise";
import { describe, expect, it } from "vitest";
import { createMySQLChatStorage } from "../../src/storage/mysql.ts";
import { chatStorageContract } from "../suites/chat-storage.contract.ts";
import { MYSQL_URL, describeWithService } from "../helpers/services.ts";
import { createTcpProxy } from "../helpers/tcp-proxy.ts";

const dropTable = async (tableName: string) => {
  const pool = createPool({ uri: MYSQL_URL, connectionLimit: 1 });
  await pool.query(`drop table if exists \`${tableName}\``);
  await pool.end();
};

function deeplyNested(depth: number): Record<string, unknown> {
  const root: Record<string, unknown> = {};
  let at = root;
  for (let i = 0; i < depth; i++) at = (at.a = {}) as Record<string, unknown>;
  return root;
}

await describeWithService("MySQL", MYSQL_URL, "MYSQL_URL", () => {
  chatStorageContract("MySQL/MariaDB", (options) => createMySQLChatStorage(MYSQL_URL, options), {
    sql: true,
    sharedTable: true,
    dropTable,
    // MariaDB's json_valid check refuses nesting past 32 levels (a lone surrogate is stored as U+FFFD).
    refusedRow: { metadata: deeplyNested(100) },
  });

  describe("MySQL chat storage", () => {
    it("accepts an existing mysql2 pool and leaves it open on close()", async () => {
      const tableName = `ols_test_my_${Math.random().toString(36).slice(2, 8)}`;
      const pool = createPool({ uri: MYSQL_URL, connectionLimit: 2 });
      const own = await createMySQLChatStorage(pool, { tableName });
      await own.append("pool-room", { connectionId: "c", message: "hi" });
      await own.close?.();
      const [rows] = await pool.query(`select count(*) as n from \`${tableName}\``);
      expect(Number((rows as Array<{ n: number }>)[0]!.n)).toBe(1);
      await pool.end();
      await dropTable(tableName);
    });

    it("creates the table once when several storages start at the same moment", async () => {
      const tableName = `ols_test_race_${Math.random().toString(36).slice(2, 8)}`;
      const many = await Promise.all(Array.from({ length: 6 }, () => createMySQLChatStorage(MYSQL_URL, { tableName })));
      await Promise.all(many.map((s, i) => s.append("race", { connectionId: `c${i}`, message: `m${i}` })));
      expect(await many[0]!.getHistory("race")).toHaveLength(6);
      await Promise.all(many.map((s) => s.close?.()));
      await dropTable(tableName);
    });

    it("rejects appends with STORAGE_ERROR while the database is cut off, then works again without a restart", async () => {
      const tableName = `ols_test_cut_${Math.random().toString(36).slice(2, 8)}`;
      const target = new URL(MYSQL_URL);
      const proxy = createTcpProxy({ host: target.hostname, port: Number(target.port) || 3306 });
      await proxy.start();
      const url = new URL(MYSQL_URL);
      url.host = proxy.address;
      const storage = await createMySQLChatStorage(url.href, { tableName });
      try {
        await storage.append("cut-room", { connectionId: "c", message: "before" });
        proxy.cut();
        const during = await Promise.allSettled([
          storage.append("cut-room", { connectionId: "c", message: "during 1" }),
          storage.append("cut-room", { connectionId: "c", message: "during 2" }),
        ]);
        for (const result of during) {
          expect(result).toMatchObject({ status: "rejected", reason: { name: "StorageError", code: "STORAGE_ERROR" } });
        }
        proxy.restore();
        await storage.append("cut-room", { connectionId: "c", message: "after" });
        expect((await storage.getHistory("cut-room")).map((m) => m.message)).toStrictEqual(["before", "after"]);
      } finally {
        await storage.close?.();
        await proxy.close();
        await dropTable(tableName);
      }
    });

    it("fails fast with a StorageError when the server is unreachable", async () => {
      const url = new URL(MYSQL_URL);
      url.port = "1";
      await expect(createMySQLChatStorage(url.href)).rejects.toMatchObject({ code: "STORAGE_ERROR" });
    });
  });
});
