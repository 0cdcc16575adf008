/**
 * The server with each SQL storage plugged in: the whole wire-protocol suite, history that survives a
 * restart, and Postgres cut off mid-session through a loopback proxy.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mysql from "mysql2/promise";
import postgres from "postgres";
import { afterAll, describe, expect, it } from "vitest";
import type { ChatStorage } from "../../src/storage/chat-storage.ts";
import { createMySQLChatStorage } from "../../src/storage/mysql.ts";
import { createPostgresChatStorage } from "../../src/storage/postgres.ts";
import { createSQLiteChatStorage } from "../../src/storage/sqlite.ts";
import { startNodeInProcess } from "../fixtures/node-inprocess.ts";
import { TestClient, pause } from "../helpers/client.ts";
import { DATABASE_URL, describeWithService, MYSQL_URL } from "../helpers/services.ts";
import { createTcpProxy } from "../helpers/tcp-proxy.ts";
import { wireProtocolSuite } from "../suites/wire-protocol.suite.ts";
import "../helpers/sqlite-driver.ts";

const suffix = Math.random().toString(36).slice(2, 8);
const dir = mkdtempSync(join(tmpdir(), "ols-storage-server-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Target {
  name: string;
  make: (tableName: string) => Promise<ChatStorage>;
  drop: (tableName: string) => Promise<void>;
}

async function dropPg(tableName: string) {
  const sql = postgres(DATABASE_URL, { max: 1, onnotice: () => {} });
  await sql.unsafe(`drop table if exists "${tableName}"`);
  await sql.end();
}
async function dropMySQL(tableName: string) {
  const conn = await mysql.createConnection(MYSQL_URL);
  await conn.query(`drop table if exists \`${tableName}\``);
  await conn.end();
}

function serverWithStorage(target: Target) {
  const tableName = `ols_srv_${target.name.toLowerCase()}_${suffix}`;
  afterAll(() => target.drop(tableName));

  wireProtocolSuite(`Node with ${target.name} chat storage`, (options) => startNodeInProcess(options, () => target.make(tableName)));

  describe(`server with ${target.name} chat storage`, () => {
    it("keeps chat history across a server restart", async () => {
      const room = `restart-${suffix}`;
      const first = await startNodeInProcess({}, () => target.make(tableName));
      const a = new TestClient(first.wsUrl);
      await a.join(room);
      for (const m of ["one", "two", "three"]) a.send("send_chat", { message: m, metadata: { n: m.length } });
      await a.until((all) => all.filter((x) => x.type === "chat_message").length === 3);
      const echoed = a.all("chat_message").map((m) => m.payload);
      await first.stop();

      const second = await startNodeInProcess({}, () => target.make(tableName));
      const b = new TestClient(second.wsUrl);
      const joined = await b.join(room);
      // History comes from storage: the live frames' stream offsets are not part of a stored message.
      expect(joined.chatHistory).toEqual(echoed.map(({ email, provider, offset, ...stored }) => stored));
      b.terminate();
      await second.stop();
    });

    it("answers a clientMessageId resent after a restart with the stored message, and stores nothing", async () => {
      const room = `restart-once-${suffix}`;
      const headers = { "x-user": "restarter" };
      const first = await startNodeInProcess({ onAuth: "x-user" }, () => target.make(tableName));
      const a = new TestClient(first.wsUrl, { headers });
      await a.join(room);
      a.send("send_chat", { message: "sent once", clientMessageId: "restart-1" });
      const original = (await a.next("chat_message")).payload;
      await first.stop();

      const second = await startNodeInProcess({ onAuth: "x-user" }, () => target.make(tableName));
      const b = new TestClient(second.wsUrl, { headers });
      await b.join(room);
      b.send("send_chat", { message: "sent once", clientMessageId: "restart-1" });
      const repeat = (await b.next("chat_message")).payload;
      // The same stored message (its stream offset is the live frame's, not the message's).
      const { offset: _o1, ...repeated } = repeat;
      const { offset: _o2, ...originalMessage } = original;
      expect(repeated).toEqual(originalMessage);
      const c = new TestClient(second.wsUrl, { headers: { "x-user": "late" } });
      expect((await c.join(room)).chatHistory.map((m: any) => m.id)).toEqual([original.id]);
      b.terminate();
      c.terminate();
      await second.stop();
    });
  });
}

await describeWithService("Postgres", DATABASE_URL, "DATABASE_URL", () => {
  serverWithStorage({ name: "Postgres", make: (tableName) => createPostgresChatStorage(DATABASE_URL, { tableName }), drop: dropPg });

  describe("server with Postgres cut off", () => {
    const tableName = `ols_srv_cut_${suffix}`;
    afterAll(() => dropPg(tableName));

    it("answers STORAGE_ERROR while the database is unreachable, keeps presence and events, and recovers without a restart", {
      timeout: 90_000,
    }, async () => {
      const target = new URL(DATABASE_URL);
      const proxy = createTcpProxy({ host: target.hostname, port: Number(target.port) || 5432 });
      await proxy.start();
      const viaProxy = new URL(DATABASE_URL);
      viaProxy.hostname = "127.0.0.1";
      viaProxy.port = String(proxy.port);
      const fixture = await startNodeInProcess({ presenceThrottleMs: 0 }, () =>
        createPostgresChatStorage(viaProxy.toString(), { tableName, timeoutMs: 2000 }),
      );
      try {
        const room = `cut-${suffix}`;
        const [a, b] = [new TestClient(fixture.wsUrl), new TestClient(fixture.wsUrl)];
        await a.join(room);
        await b.join(room);
        a.send("send_chat", { message: "before" });
        await b.next("chat_message");

        proxy.cut();
        a.send("send_chat", { message: "during" });
        expect((await a.next("error", 15_000)).payload.code).toBe("STORAGE_ERROR");
        a.send("broadcast_event", { event: "still-here" });
        expect((await b.next("broadcast_event")).payload.event).toBe("still-here");
        a.send("update_presence", { presence: { x: 1 } });
        expect((await b.next("presence_updated")).payload.updated[0].presence).toEqual({ x: 1 });

        proxy.restore();
        // The pool reconnects on its own; a few sends may still fail while it does.
        let delivered = false;
        for (let i = 0; i < 40 && !delivered; i++) {
          const [chats, errors] = [a.all("chat_message").length, a.all("error").length];
          a.send("send_chat", { message: `after-${i}` });
          await a.until(
            (all) => all.filter((m) => m.type === "chat_message").length > chats || all.filter((m) => m.type === "error").length > errors,
            10_000,
          );
          delivered = a.all("chat_message").length > chats;
          if (!delivered) await pause(250);
        }
        expect(delivered).toBe(true);

        const echoed = a.all("chat_message").map((m) => m.payload.id);
        await b.until((all) => all.filter((m) => m.type === "chat_message").length >= echoed.length);
        expect(b.all("chat_message").map((m) => m.payload.id)).toEqual(echoed);
        expect(echoed.length).toBeGreaterThanOrEqual(2);
        const check = await createPostgresChatStorage(DATABASE_URL, { tableName });
        const stored = (await check.getHistory(room, 1000)).map((m) => m.id);
        await check.close?.();
        // Every message that was echoed is in the database, in order; nothing that failed was broadcast.
        expect(stored).toEqual(echoed);
        a.terminate();
        b.terminate();
      } finally {
        await fixture.stop();
        await proxy.close();
      }
    });

    it("stores exactly once every message a client resends with its clientMessageId until acknowledged, across the outage", {
      timeout: 120_000,
    }, async () => {
      const target = new URL(DATABASE_URL);
      const proxy = createTcpProxy({ host: target.hostname, port: Number(target.port) || 5432 });
      await proxy.start();
      const viaProxy = new URL(DATABASE_URL);
      viaProxy.hostname = "127.0.0.1";
      viaProxy.port = String(proxy.port);
      const fixture = await startNodeInProcess({ presenceThrottleMs: 0 }, () =>
        createPostgresChatStorage(viaProxy.toString(), { tableName, timeoutMs: 2000 }),
      );
      try {
        const room = `cut-once-${suffix}`;
        const [a, b] = [new TestClient(fixture.wsUrl), new TestClient(fixture.wsUrl)];
        await a.join(room);
        await b.join(room);
        const count = 8;
        let failures = 0;
        for (let i = 0; i < count; i++) {
          const clientMessageId = `once-${i}`;
          for (let attempt = 0; ; attempt++) {
            const errors = a.all("error").length;
            a.send("send_chat", { message: `m${i}`, clientMessageId });
            // Cut right after a send leaves: the write may commit with its answer lost.
            if (i === 3 && attempt === 0) proxy.cut();
            await a.until(
              (all) =>
                all.some((m) => m.type === "chat_message" && m.payload.clientMessageId === clientMessageId) ||
                all.filter((m) => m.type === "error").length > errors,
              15_000,
            );
            if (a.all("chat_message").some((m) => m.payload.clientMessageId === clientMessageId)) break;
            expect(a.all("error").at(-1)!.payload.code).toBe("STORAGE_ERROR");
            if (++failures === 3) proxy.restore();
            await pause(250);
          }
        }
        expect(failures).toBeGreaterThanOrEqual(3);
        const check = await createPostgresChatStorage(DATABASE_URL, { tableName });
        const stored = (await check.getHistory(room, 1000)).map((m) => m.message);
        await check.close?.();
        expect(stored).toEqual(Array.from({ length: count }, (_, i) => `m${i}`));
        // Each message reached the other member at most once (a write whose answer was lost is not broadcast on its repeat).
        const seen = b.all("chat_message").map((m) => m.payload.clientMessageId);
        expect(new Set(seen).size).toBe(seen.length);
        a.terminate();
        b.terminate();
      } finally {
        await fixture.stop();
        await proxy.close();
      }
    });
  });
});

await describeWithService("MySQL", MYSQL_URL, "MYSQL_URL", () => {
  serverWithStorage({ name: "MySQL", make: (tableName) => createMySQLChatStorage(MYSQL_URL, { tableName }), drop: dropMySQL });
});

serverWithStorage({
  name: "SQLite",
  make: async (tableName) => createSQLiteChatStorage(join(dir, "chat.db"), { tableName }),
  drop: async () => {},
});
