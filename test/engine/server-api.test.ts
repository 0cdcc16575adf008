/**
 * The server API (`ServerApi` on every handle) and the app's callbacks: the engine through fake peers for
 * the callback contracts, then real Node servers over real sockets, alone and as two instances on Redis.
 */
import { Redis } from "ioredis";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createServer, type NodeLiveServer as LiveServer } from "../../adapters/node/index.ts";
import { createRedisBackplane } from "../../src/cluster/redis-backplane.ts";
import { ProtocolError } from "../../src/errors.ts";
import type { CallbackContext, LiveLifecycle } from "../../src/engine/app-callbacks.ts";
import type { WebSocketServerOptions } from "../../src/options.ts";
import { createInMemoryChatStorage } from "../../src/storage/memory.ts";
import { pause, TestClient } from "../helpers/client.ts";
import { fakeEngine, settle } from "../helpers/fake-peer.ts";
import { disconnectAll, liveClient, messagesOf, until } from "../helpers/live-clients.ts";
import { DIST, startInstance } from "../helpers/cluster.ts";
import { describeWithService, REDIS_URL } from "../helpers/services.ts";

type Reported = { error: unknown; stage: string };

function engineWith(options: WebSocketServerOptions = {}) {
  const reported: Reported[] = [];
  const storage = createInMemoryChatStorage();
  const made = fakeEngine({ chat: { storage }, onError: (error, { stage }) => reported.push({ error, stage }), ...options });
  return { ...made, storage, reported };
}

describe("beforeChat", () => {
  it("stores and broadcasts what the callback returns (redaction), and gives it the sender's context", async () => {
    const seen: CallbackContext[] = [];
    const { engine, peer, storage } = engineWith({
      beforeChat: async (message, ctx) => {
        seen.push(ctx);
        return { ...message, message: message.message.replace(/darn/g, "****"), metadata: { checked: true } };
      },
    });
    const a = peer({ userId: "u-a", name: "A" });
    const b = peer();
    await a.join("r");
    await b.join("r");
    a.message("send_chat", { message: "oh darn it", clientMessageId: "m1" });
    const echoed = (await b.next("chat_message")).payload;
    expect(echoed).toMatchObject({ message: "oh **** it", metadata: { checked: true } });
    expect((await a.next("chat_message")).payload.message).toBe("oh **** it");
    expect((await storage.getHistory("r", 10)).map((m) => m.message)).toEqual(["oh **** it"]);
    expect(seen).toEqual([{ connectionId: echoed.connectionId, user: expect.objectContaining({ userId: "u-a" }), roomId: "r" }]);
    await engine.close();
  });

  it("a refusal stores nothing, sends nothing to the room, and answers REJECTED with the clientMessageId", async () => {
    const { engine, peer, storage } = engineWith({ beforeChat: (m) => (m.message.includes("spam") ? null : m) });
    const a = peer();
    const b = peer();
    await a.join("r");
    await b.join("r");
    a.message("send_chat", { message: "buy spam", clientMessageId: "s1" });
    a.message("send_chat", { message: "hello", clientMessageId: "s2" });
    const error = (await a.next("error")).payload;
    expect(error).toMatchObject({ code: "REJECTED", clientMessageId: "s1" });
    await b.next("chat_message");
    await settle();
    expect(b.of("chat_message").map((m) => m.message)).toEqual(["hello"]);
    expect((await storage.getHistory("r", 10)).map((m) => m.message)).toEqual(["hello"]);
    await engine.close();
  });

  it("a callback that throws, hangs or returns garbage costs only that message, and is reported", async () => {
    let calls = 0;
    const { engine, peer, storage, reported } = engineWith({
      callbackTimeoutMs: 50,
      beforeChat: (m) => {
        calls++;
        if (m.message === "throw") throw new Error("moderation service down");
        if (m.message === "hang") return new Promise(() => {});
        if (m.message === "garbage") return { message: 42 } as never;
        return m;
      },
    });
    const a = peer();
    await a.join("r");
    for (const message of ["throw", "ok 1", "hang", "ok 2", "garbage", "ok 3"]) a.message("send_chat", { message });
    const deadline = Date.now() + 5000;
    while (a.of("chat_message").length < 3 && Date.now() < deadline) await pause(5);
    expect(a.of("chat_message").map((m) => m.message)).toEqual(["ok 1", "ok 2", "ok 3"]);
    expect(a.of("error").map((e) => e.code)).toEqual(["INTERNAL_ERROR", "INTERNAL_ERROR", "INTERNAL_ERROR"]);
    expect(calls).toBe(6);
    expect((await storage.getHistory("r", 10)).map((m) => m.message)).toEqual(["ok 1", "ok 2", "ok 3"]);
    const callbackErrors = reported.filter((r) => r.stage === "callback").map((r) => (r.error as Error).message);
    expect(callbackErrors).toEqual([
      "beforeChat threw",
      "beforeChat did not settle within 50 ms",
      expect.stringMatching(/^beforeChat returned an invalid message/),
    ]);
    await engine.close();
  });
});

describe("beforeEvent", () => {
  it("changes or refuses events, and keeps one sender's order whatever each check takes", async () => {
    const { engine, peer } = engineWith({
      beforeEvent: async (e) => {
        await pause(Math.random() * 10);
        if (e.event === "secret") return null;
        return { event: e.event, payload: { ...(e.payload as object), stamped: true } };
      },
    });
    const a = peer();
    const b = peer();
    await a.join("r");
    await b.join("r");
    for (let i = 0; i < 20; i++) a.message("broadcast_event", { event: i === 7 ? "secret" : "move", payload: { i } });
    const deadline = Date.now() + 5000;
    while (b.of("broadcast_event").length < 19 && Date.now() < deadline) await pause(5);
    const got = b.of("broadcast_event");
    expect(got.map((e) => e.payload.i)).toEqual([...Array(20).keys()].filter((i) => i !== 7));
    expect(got.every((e) => e.payload.stamped === true)).toBe(true);
    expect(a.of("error").map((e) => e.code)).toEqual(["REJECTED"]);
    expect(a.of("broadcast_event")).toEqual([]);
    await engine.close();
  });
});

describe("onJoin, onLeave and lifecycle observers", () => {
  it("run after the fact with the member's context; one that throws is reported and changes nothing", async () => {
    const calls: string[] = [];
    const { engine, peer, reported } = engineWith({
      onJoin: (ctx) => {
        calls.push(`join ${ctx.roomId} ${ctx.user?.userId ?? "-"}`);
        throw new Error("audit log down");
      },
      onLeave: async (ctx) => {
        calls.push(`leave ${ctx.roomId}`);
      },
    });
    const events: string[] = [];
    const observer: LiveLifecycle = {
      joined: (ctx, entry) => events.push(`joined ${ctx.roomId} ${entry.connectionId === ctx.connectionId}`),
      left: (ctx) => events.push(`left ${ctx.roomId}`),
      emptied: (roomId) => events.push(`emptied ${roomId}`),
      chatStored: (m) => events.push(`chat ${m.message}`),
    };
    engine.observe(observer);
    const a = peer({ userId: "u1" });
    const b = peer();
    await a.join("r");
    await b.join("r");
    a.message("send_chat", { message: "hi" });
    await a.next("chat_message");
    b.message("leave_room");
    a.disconnect();
    await settle();
    expect(calls).toEqual(["join r u1", "join r -", "leave r", "leave r"]);
    expect(events).toEqual(["joined r true", "joined r true", "chat hi", "left r", "left r", "emptied r"]);
    expect(reported.filter((r) => r.stage === "callback")).toHaveLength(2);
    await engine.close();
  });
});

describe("the server API on one engine", () => {
  it("publish reaches every member as from the server; bad input throws the wire code", async () => {
    const { engine, peer } = engineWith();
    const a = peer();
    const b = peer();
    await a.join("r");
    await b.join("r");
    expect(await engine.api.publish("r", "saved", { version: 3 })).toEqual({ offset: 1, duplicate: false });
    for (const p of [a, b]) {
      expect((await p.next("broadcast_event")).payload).toEqual({
        offset: 1,
        roomId: "r",
        connectionId: "server",
        event: "saved",
        payload: { version: 3 },
      });
    }
    await expect(engine.api.publish("r", "")).rejects.toMatchObject({ code: "INVALID_PAYLOAD" });
    await expect(engine.api.publish("", "x")).rejects.toBeInstanceOf(ProtocolError);
    let deep: unknown = {};
    for (let i = 0; i < 100; i++) deep = { deep };
    await expect(engine.api.publish("r", "x", deep)).rejects.toMatchObject({ code: "INVALID_PAYLOAD" });
    await engine.close();
  });

  it("sendChat stores, broadcasts and returns the message; too long is TOO_LARGE", async () => {
    const { engine, peer, storage } = engineWith({ maxChatMessageLength: 10 });
    const a = peer();
    await a.join("r");
    const stored = await engine.api.sendChat("r", { message: "welcome", name: "Bot", metadata: { pinned: true } });
    expect(stored).toMatchObject({ roomId: "r", connectionId: "server", name: "Bot", message: "welcome", metadata: { pinned: true } });
    expect((await a.next("chat_message")).payload).toEqual(stored);
    expect(await storage.getHistory("r", 10)).toEqual([expect.objectContaining({ id: stored.id, message: "welcome" })]);
    await expect(engine.api.sendChat("r", { message: "far too long" })).rejects.toMatchObject({ code: "TOO_LARGE" });
    await expect(engine.api.sendChat("r", { message: "" })).rejects.toMatchObject({ code: "INVALID_PAYLOAD" });
    // To a room with nobody in it: stored, and there for the next joiner.
    await engine.api.sendChat("empty", { message: "later" });
    const joined = await peer().join("empty");
    expect(joined.chatHistory.map((m: any) => m.message)).toEqual(["later"]);
    const page = await engine.api.chatHistory("r", { limit: 1 });
    expect(page).toEqual({ messages: [expect.objectContaining({ message: "welcome" })], hasMore: false });
    await expect(engine.api.chatHistory("r", { limit: 0 })).rejects.toMatchObject({ code: "INVALID_PAYLOAD" });
    await expect(engine.api.chatHistory("r", { before: "no-such-id" })).rejects.toMatchObject({ code: "INVALID_PAYLOAD" });
    await engine.close();
  });

  it("rooms, presence and disconnect (by connection and by user, default 4403)", async () => {
    const { engine, peer } = engineWith();
    const a = peer({ userId: "ann" });
    const a2 = peer({ userId: "ann" });
    const b = peer({ userId: "bob" });
    const aId = (await a.join("one", { x: 1 })).connectionId;
    await a2.join("two");
    const bId = (await b.join("one", { x: 2 })).connectionId;
    expect(await engine.api.rooms()).toEqual([
      { roomId: "one", members: 2 },
      { roomId: "two", members: 1 },
    ]);
    const presence = await engine.api.presence("one");
    expect(Object.keys(presence).sort()).toEqual([aId, bId].sort());
    expect(presence[aId]).toMatchObject({ connectionId: aId, userId: "ann", presence: { x: 1 } });
    expect(await engine.api.presence("nobody-here")).toEqual({});

    await engine.api.disconnect({ connectionId: bId }, { code: 4000, reason: "bye" });
    expect(b.closedWith).toEqual({ code: 4000, reason: "bye" });
    await engine.api.disconnect({ userId: "ann" });
    expect([a.closeCode, a2.closeCode]).toEqual([4403, 4403]);
    await settle();
    expect(await engine.api.rooms()).toEqual([]);
    await expect(engine.api.disconnect({} as never)).rejects.toMatchObject({ code: "INVALID_PAYLOAD" });
    await expect(engine.api.disconnect({ userId: "x" }, { code: 1006 })).rejects.toMatchObject({ code: "INVALID_PAYLOAD" });
    await engine.close();
  });
});

const listen = (options: Parameters<typeof createServer>[0]) =>
  new Promise<LiveServer>((resolve) => {
    const server = createServer({ port: 0, hostname: "127.0.0.1", heartbeatIntervalMs: 0, ...options });
    server.once("listening", () => resolve(server));
  });
const urlOf = (server: LiveServer) => `ws://127.0.0.1:${(server.address() as AddressInfo).port}/live`;
const stop = (server: LiveServer) => new Promise<void>((resolve) => server.close(() => resolve()));

describe("the server API on a Node server (real sockets)", () => {
  it("server.ws carries the API: publish, sendChat and disconnect reach real clients", async () => {
    const server = await listen({});
    const client = new TestClient(urlOf(server));
    const { connectionId } = await client.join("doc-1");
    await server.ws.publish("doc-1", "document.saved", { by: "backend" });
    expect((await client.next("broadcast_event")).payload).toMatchObject({ connectionId: "server", event: "document.saved" });
    await server.ws.sendChat("doc-1", { message: "Saved." });
    expect((await client.next("chat_message")).payload).toMatchObject({ connectionId: "server", message: "Saved." });
    expect(Object.keys(await server.ws.presence("doc-1"))).toEqual([connectionId]);
    await server.ws.disconnect({ connectionId });
    expect((await client.closed).code).toBe(4403);
    await stop(server);
  });
});

describe("our client and beforeChat", () => {
  it("drops a refused message from its pending list and says which one, and sends the rest", async () => {
    const server = await listen({ beforeChat: (m) => (m.message.includes("spam") ? null : m) });
    const client = liveClient(urlOf(server));
    client.connect();
    client.joinRoom("r");
    await until(client, (s) => s.currentRoomId === "r", "joined");
    const refused = client.sendChat("buy spam");
    client.sendChat("hello");
    const state = await until(client, (s) => s.pendingMessages.length === 0 && messagesOf(s).includes("hello"), "acknowledged");
    expect(messagesOf(state)).toEqual(["hello"]);
    expect(state.lastError).toMatchObject({ code: "REJECTED", clientMessageId: refused });
    disconnectAll();
    await stop(server);
  });
});

await describeWithService("Redis", REDIS_URL, "REDIS_URL", () => {
  describe("the server API across two instances on Redis", () => {
    const prefix = `olstest:api:${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
    const emptied: string[][] = [[], []];
    const servers: LiveServer[] = [];
    const clients: TestClient[] = [];
    beforeAll(async () => {
      for (const i of [0, 1]) {
        const server = await listen({
          chat: { historyLimit: 0 },
          onAuth: (req: { url?: string }) => {
            const user = new URL(req.url ?? "/", "http://x").searchParams.get("user");
            return user ? { userId: user } : {};
          },
          backplane: createRedisBackplane({ url: REDIS_URL, keyPrefix: prefix, heartbeatMs: 500, ttlMs: 1500 }),
        });
        server.ws.engine.observe({ emptied: (roomId) => emptied[i]!.push(roomId) });
        servers.push(server);
      }
    });
    afterAll(async () => {
      for (const c of clients) c.terminate();
      await Promise.all(servers.map(stop));
    });
    const connect = (i: number, user?: string) => {
      const client = new TestClient(urlOf(servers[i]!) + (user ? `?user=${user}` : ""));
      clients.push(client);
      return client;
    };

    it("publish and sendChat on A reach members on B; presence and rooms on A count B's members", async () => {
      const [a, b] = servers as [LiveServer, LiveServer];
      const onB = connect(1);
      const { connectionId } = await onB.join("shared", { cursor: 1 });
      const onA = connect(0);
      await onA.join("shared");
      await a.ws.publish("shared", "ping", { n: 1 });
      expect((await onB.next("broadcast_event")).payload).toMatchObject({ connectionId: "server", event: "ping", payload: { n: 1 } });
      await a.ws.sendChat("shared", { message: "from A's backend" });
      expect((await onB.next("chat_message")).payload).toMatchObject({ message: "from A's backend" });

      // A room with no member on A: read from Redis.
      const onlyB = connect(1);
      const only = await onlyB.join("only-b", { here: true });
      expect(await a.ws.presence("only-b")).toEqual({ [only.connectionId]: expect.objectContaining({ presence: { here: true } }) });
      expect((await a.ws.presence("shared"))[connectionId]).toMatchObject({ presence: { cursor: 1 } });
      const rooms = await a.ws.rooms();
      expect(rooms).toEqual(
        expect.arrayContaining([
          { roomId: "shared", members: 2 },
          { roomId: "only-b", members: 1 },
        ]),
      );
      expect(await b.ws.rooms()).toEqual(rooms);
    });

    it("disconnect on A closes connections on B, by connection id and by user", async () => {
      const [a] = servers as [LiveServer, LiveServer];
      const victim = connect(1);
      const { connectionId } = await victim.join("kick");
      await a.ws.disconnect({ connectionId }, { reason: "moderated" });
      expect(await victim.closed).toEqual({ code: 4403, reason: "moderated" });
      const [first, second, bystander] = [connect(0, "eve"), connect(1, "eve"), connect(1, "sam")];
      await Promise.all([first.join("kick"), second.join("kick"), bystander.join("kick")]);
      await a.ws.disconnect({ userId: "eve" });
      expect((await first.closed).code).toBe(4403);
      expect((await second.closed).code).toBe(4403);
      await pause(100);
      expect(bystander.ws.readyState).toBe(bystander.ws.OPEN);
    });

    it("a room that empties on both instances at once is reported emptied exactly once", async () => {
      const one = connect(0);
      const two = connect(1);
      await one.join("race");
      await two.join("race");
      await Promise.all([one.close(), two.close()]);
      const deadline = Date.now() + 5000;
      while (emptied.flat().filter((r) => r === "race").length === 0 && Date.now() < deadline) await pause(20);
      await pause(300);
      expect(emptied.flat().filter((r) => r === "race")).toEqual(["race"]);
      // The room's "occupied" mark went with it: nothing of the room is left in Redis.
      await expectNoKeysOf("race");
    });

    it("a room whose last member was on an instance killed with -9 is reported emptied once, by a survivor", async () => {
      const doomed = await startInstance(DIST, { redisUrl: REDIS_URL, prefix, heartbeatMs: 500, ttlMs: 1500 });
      try {
        const member = new TestClient(doomed.wsUrl);
        clients.push(member);
        const { connectionId } = await member.join("doomed-room");
        const [a] = servers as [LiveServer, LiveServer];
        for (let i = 0; i < 50 && !(connectionId in (await a.ws.presence("doomed-room"))); i++) await pause(20);
        doomed.kill9();
        await doomed.exited;
        const deadline = Date.now() + 15_000;
        while (!emptied.flat().includes("doomed-room") && Date.now() < deadline) await pause(50);
        await pause(1000); // both survivors sweep; only one may claim it
        expect(emptied.flat().filter((r) => r === "doomed-room")).toEqual(["doomed-room"]);
        await expectNoKeysOf("doomed-room");
      } finally {
        doomed.kill9();
      }
    });

    async function expectNoKeysOf(roomId: string) {
      const redis = new Redis(REDIS_URL);
      expect(await redis.keys(`${prefix}:*{${roomId}}`)).toEqual([]);
      redis.disconnect();
    }
  });
});
