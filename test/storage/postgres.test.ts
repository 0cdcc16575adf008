import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPostgresChatStorage } from "../../src/storage/postgres.ts";
import type { ChatStorage } from "../../src/storage/chat-storage.ts";
import { chatStorageContract } from "../suites/chat-storage.contract.ts";
import { DATABASE_URL, describeWithService } from "../helpers/services.ts";
import { createTcpProxy, type TcpProxy } from "../helpers/tcp-proxy.ts";

const dropTable = async (tableName: string) => {
  const sql = postgres(DATABASE_URL, { max: 1, onnotice: () => {} });
  await sql.unsafe(`drop table if exists "${tableName}"`);
  await sql.end();
};

await describeWithService("Postgres", DATABASE_URL, "DATABASE_URL", () => {
  chatStorageContract("Postgres", (options) => createPostgresChatStorage(DATABASE_URL, options), {
    sql: true,
    sharedTable: true,
    dropTable,
    refusedRow: { message: "nul \u0000 byte" },
  });

  describe("Postgres chat storage", () => {
    const tableName = `ols_test_pg_${Math.random().toString(36).slice(2, 8)}`;
    let proxy: TcpProxy;
    let storage: ChatStorage | undefined;

    beforeAll(async () => {
      const target = new URL(DATABASE_URL);
      proxy = createTcpProxy({ host: target.hostname, port: Number(target.port) || 5432 });
      await proxy.start();
    });
    afterAll(async () => {
      await storage?.close?.();
      await proxy.close();
      await dropTable(tableName);
    });

    it("accepts an existing postgres.js client and leaves it open on close()", async () => {
      const client = postgres(DATABASE_URL, { max: 2, onnotice: () => {} });
      const own = await createPostgresChatStorage(client, { tableName });
      await own.append("client-room", { connectionId: "c", message: "hi" });
      await own.close?.();
      const rows = await client`select count(*)::int as n from ${client(tableName)} where room_id = 'client-room'`;
      expect(rows[0]!.n).toBe(1);
      await client.end();
    });

    it("accepts a connection object, or { connectionString } as in the upstream README", async () => {
      const u = new URL(DATABASE_URL);
      const own = await createPostgresChatStorage(
        { host: u.hostname, port: Number(u.port) || 5432, database: u.pathname.slice(1), user: decodeURIComponent(u.username) },
        { tableName },
      );
      await own.append("object-room", { connectionId: "c", message: "hi" });
      await own.close?.();
      // The upstream README's shape.
      const upstreamShape = await createPostgresChatStorage({ connectionString: DATABASE_URL }, { tableName });
      expect(await upstreamShape.getHistory("object-room")).toHaveLength(1);
      await upstreamShape.close?.();
    });

    it("creates the table once when several storages start at the same moment", async () => {
      const name = `ols_test_race_${Math.random().toString(36).slice(2, 8)}`;
      const many = await Promise.all(Array.from({ length: 6 }, () => createPostgresChatStorage(DATABASE_URL, { tableName: name })));
      await Promise.all(many.map((s, i) => s.append("race", { connectionId: `c${i}`, message: `m${i}` })));
      expect(await many[0]!.getHistory("race")).toHaveLength(6);
      await Promise.all(many.map((s) => s.close?.()));
      await dropTable(name);
    });

    it("fails fast with a StorageError when the server is unreachable", async () => {
      proxy.cut();
      const url = new URL(DATABASE_URL);
      url.host = proxy.address;
      await expect(createPostgresChatStorage(url.href, { tableName })).rejects.toMatchObject({
        code: "STORAGE_ERROR",
        message: expect.stringContaining(`Postgres table "${tableName}"`),
      });
      proxy.restore();
    });

    it("rejects appends with STORAGE_ERROR while the database is cut off, then works again without a restart", async () => {
      const url = new URL(DATABASE_URL);
      url.host = proxy.address;
      storage = await createPostgresChatStorage(url.href, { tableName });
      await storage.append("cut-room", { connectionId: "c", message: "before" });

      proxy.cut();
      const during = await Promise.allSettled([
        storage.append("cut-room", { connectionId: "c", message: "during 1" }),
        storage.append("cut-room", { connectionId: "c", message: "during 2" }),
      ]);
      for (const result of during) {
        expect(result.status).toBe("rejected");
        expect((result as PromiseRejectedResult).reason).toMatchObject({ name: "StorageError", code: "STORAGE_ERROR" });
      }
      await expect(storage.getHistory("cut-room")).rejects.toMatchObject({ code: "STORAGE_ERROR" });

      proxy.restore();
      await storage.append("cut-room", { connectionId: "c", message: "after" });
      expect((await storage.getHistory("cut-room")).map((m) => m.message)).toStrictEqual(["before", "after"]);
    });
  });
});
