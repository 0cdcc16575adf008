/**
 * The in-memory chat storage is bounded in bytes: past `maxBytes` the least recently used rooms go
 * first, and a room that alone passes the budget loses its oldest messages. The server's default storage
 * keeps more than `historyLimit` per room, so a joiner can page back past what `room_joined` gave it.
 */
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { createServer } from "../../adapters/node/index.ts";
import type { ChatStorage } from "../../src/storage/chat-storage.ts";
import { createInMemoryChatStorage } from "../../src/storage/memory.ts";
import { TestClient } from "../helpers/client.ts";

const cleanups: (() => Promise<unknown> | void)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

const MiB = 1024 * 1024;
const text = (n: number, tag: string) => `${tag} ${"x".repeat(n)}`;

/** Characters of message text the storage still returns for `rooms`, at two bytes a character. */
async function keptBytes(storage: ChatStorage, rooms: string[]): Promise<number> {
  let bytes = 0;
  for (const room of rooms) for (const m of await storage.getHistory(room, 1_000_000)) bytes += 2 * m.message.length;
  return bytes;
}

describe("in-memory chat storage bounded in bytes", () => {
  it("drops the least recently used rooms once the messages pass maxBytes", async () => {
    const storage = createInMemoryChatStorage({ historyLimit: 1000, maxBytes: MiB });
    const rooms = Array.from({ length: 100 }, (_, i) => `room-${i}`);
    for (const room of rooms) {
      for (let j = 0; j < 20; j++) await storage.append(room, { connectionId: "c", message: text(1000, `${room}-${j}`) });
      if (room === "room-50") await storage.getHistory("room-0"); // a read makes a room recently used
    }
    // About 4 MB were written; what is kept fits the budget, and the newest rooms are whole.
    expect(await keptBytes(storage, rooms)).toBeLessThanOrEqual(MiB);
    expect(await keptBytes(storage, rooms)).toBeGreaterThan(MiB / 2);
    expect(await storage.getHistory("room-99", 100)).toHaveLength(20);
    expect(await storage.getHistory("room-1", 100)).toEqual([]);
    expect(await storage.getHistory("room-51", 100)).toEqual([]);
  });

  it("keeps the newest messages of a room that alone passes maxBytes", async () => {
    const storage = createInMemoryChatStorage({ historyLimit: 100_000, maxBytes: MiB });
    for (let j = 0; j < 2000; j++) await storage.append("big", { connectionId: "c", message: text(1000, `m${j}`) });
    const kept = await storage.getHistory("big", 100_000);
    expect(await keptBytes(storage, ["big"])).toBeLessThanOrEqual(MiB);
    expect(kept.length).toBeGreaterThan(200);
    expect(kept.at(-1)!.message.startsWith("m1999 ")).toBe(true);
  });

  it("has a default budget: one client filling many rooms cannot grow the heap past it", async () => {
    const storage = createInMemoryChatStorage({ historyLimit: 100 });
    const rooms = Array.from({ length: 400 }, (_, i) => `r${i}`);
    for (const room of rooms) for (let j = 0; j < 100; j++) await storage.append(room, { connectionId: "c", message: text(4000, "m") });
    // 400 rooms x 100 messages x 8 KB = 320 MB written.
    expect(await keptBytes(storage, rooms)).toBeLessThanOrEqual(64 * MiB);
  });

  it("refuses a maxBytes that is not a positive number", () => {
    expect(() => createInMemoryChatStorage({ maxBytes: 0 })).toThrow(/maxBytes/);
    expect(() => createInMemoryChatStorage({ maxBytes: Number.NaN })).toThrow(/maxBytes/);
  });
});

describe("the server's default in-memory storage", () => {
  it("keeps more than historyLimit per room, so a joiner can load older messages", async () => {
    const server = createServer({ port: 0, hostname: "127.0.0.1", rateLimit: false });
    await new Promise<void>((resolve) => server.once("listening", () => resolve()));
    cleanups.push(() => new Promise((r) => server.close(() => r(undefined))));
    const ws = `ws://127.0.0.1:${(server.address() as AddressInfo).port}/live`;
    const a = new TestClient(ws);
    cleanups.push(() => a.terminate());
    await a.join("paged");
    for (let i = 0; i < 150; i++) {
      a.send("send_chat", { message: `m${i}` });
      // Fewer than maxChatsInFlight (32) waiting at a time.
      if (i % 25 === 24) await a.until((all) => all.filter((m) => m.type === "chat_message").length === i + 1);
    }
    const b = new TestClient(ws);
    cleanups.push(() => b.terminate());
    const joined = await b.join("paged");
    expect(joined.chatHistory).toHaveLength(100);
    b.send("get_chat_history", { before: joined.chatHistory[0].id, limit: 100 });
    const page = (await b.next("chat_history")).payload;
    expect(page.messages.map((m: { message: string }) => m.message)).toEqual(Array.from({ length: 50 }, (_, i) => `m${i}`));
    expect(page.hasMore).toBe(false);
  });
});
