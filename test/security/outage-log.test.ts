/**
 * What reaches the log while the chat database is down: a bounded number of lines, none of them with a
 * user's chat text, room id or user id (the default error reporter, no `onError` set).
 */
import type { IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { format } from "node:util";
import postgres from "postgres";
import { afterAll, afterEach, describe, expect, it, vi } from "vitest";
import { createServer } from "../../adapters/node/index.ts";
import { createMySQLChatStorage } from "../../src/storage/mysql.ts";
import { createPostgresChatStorage } from "../../src/storage/postgres.ts";
import type { ChatStorage } from "../../src/storage/chat-storage.ts";
import { TestClient } from "../helpers/client.ts";
import { DATABASE_URL, describeWithService, MYSQL_URL } from "../helpers/services.ts";
import { createTcpProxy } from "../helpers/tcp-proxy.ts";
import mysql from "mysql2/promise";

const suffix = Math.random().toString(36).slice(2, 8);
const CLIENTS = 8;
const CHATS_EACH = 15;

/** Every line written to the console while `run` runs. */
async function captureConsole(run: () => Promise<void>): Promise<string[]> {
  const lines: string[] = [];
  const spies = (["error", "warn", "log", "info", "debug", "trace"] as const).map((method) =>
    vi.spyOn(console, method).mockImplementation((...args: unknown[]) => {
      lines.push(...format(...args).split("\n"));
    }),
  );
  try {
    await run();
  } finally {
    for (const spy of spies) spy.mockRestore();
  }
  return lines;
}

afterEach(() => vi.restoreAllMocks());

function outageLogs(
  name: string,
  url: string,
  make: (url: string, tableName: string) => Promise<ChatStorage>,
  drop: (t: string) => Promise<void>,
) {
  describe(`${name} outage`, () => {
    const tableName = `ols_outage_log_${name.toLowerCase()}_${suffix}`;
    afterAll(() => drop(tableName));

    it("logs a bounded number of lines, none with chat text, room ids or user ids", { timeout: 90_000 }, async () => {
      const target = new URL(url);
      const proxy = createTcpProxy({ host: target.hostname, port: Number(target.port) });
      await proxy.start();
      const viaProxy = new URL(url);
      viaProxy.hostname = "127.0.0.1";
      viaProxy.port = String(proxy.port);
      const storage = await make(viaProxy.toString(), tableName);
      const lines = await captureConsole(async () => {
        const server = createServer({
          port: 0,
          hostname: "127.0.0.1",
          monitoring: false,
          rateLimit: false,
          maxChatsInFlight: 0,
          heartbeatIntervalMs: 0,
          chat: { storage },
          onAuth: (req: IncomingMessage) => ({ userId: String(req.headers["x-user"]) }),
        });
        await new Promise<void>((resolve) => server.once("listening", resolve));
        const ws = `ws://127.0.0.1:${(server.address() as AddressInfo).port}/live`;
        const clients = Array.from({ length: CLIENTS }, (_, i) => new TestClient(ws, { headers: { "x-user": `secret-user-${i}` } }));
        try {
          for (const c of clients) await c.join(`secret-room-${suffix}`);
          clients[0]!.send("send_chat", { message: "secret-chat-warmup" });
          await clients[0]!.next("chat_message", 10_000);
          proxy.cut();
          for (const [i, c] of clients.entries()) {
            for (let j = 0; j < CHATS_EACH; j++) c.send("send_chat", { message: `secret-chat-${i}-${j} ${"x".repeat(50)}` });
          }
          // Every chat is answered, stored or not: the failures are what the log is about.
          for (const c of clients) {
            await c.until(
              (all) => all.filter((m) => m.type === "error").length + all.filter((m) => m.type === "chat_message").length >= CHATS_EACH + 1,
              60_000,
            );
          }
          const failed = clients.reduce((n, c) => n + c.all("error").length, 0);
          expect(failed).toBeGreaterThan((CLIENTS * CHATS_EACH) / 2);
        } finally {
          for (const c of clients) c.terminate();
          await new Promise<void>((resolve) => server.close(() => resolve()));
          await proxy.close();
        }
      });
      const logged = lines.filter((l) => l.trim() !== "");
      // One line for the first failure, and at most one summary per window after it.
      expect(logged.length, logged.join("\n")).toBeLessThanOrEqual(4);
      for (const line of logged) expect(line).not.toMatch(/secret|insert|values/i);
    });
  });
}

await describeWithService("Postgres", DATABASE_URL, "DATABASE_URL", () => {
  outageLogs(
    "Postgres",
    DATABASE_URL,
    (url, tableName) => createPostgresChatStorage(url, { tableName, timeoutMs: 3000 }),
    async (tableName) => {
      const sql = postgres(DATABASE_URL, { max: 1, onnotice: () => {} });
      await sql.unsafe(`drop table if exists "${tableName}"`);
      await sql.end();
    },
  );
});

await describeWithService("MySQL", MYSQL_URL, "MYSQL_URL", () => {
  outageLogs(
    "MySQL",
    MYSQL_URL,
    (url, tableName) => createMySQLChatStorage(url, { tableName, timeoutMs: 3000 }),
    async (tableName) => {
      const conn = await mysql.createConnection(MYSQL_URL);
      await conn.query(`drop table if exists \`${tableName}\``);
      await conn.end();
    },
  );
});
