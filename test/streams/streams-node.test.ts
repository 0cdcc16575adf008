/**
 * Room streams on one Node instance over real sockets: offsets, replay on rejoin (`join_room.since`),
 * idempotent publishes (`broadcast_event.clientMessageId`, `Idempotency-Key`).
 */
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { createServer, type NodeLiveServer as LiveServer } from "../../adapters/node/index.ts";
import type { WebSocketServerOptions } from "../../src/options.ts";
import { TestClient } from "../helpers/client.ts";
import { createTcpProxy, type TcpProxy } from "../helpers/tcp-proxy.ts";

const SECRET = "streams-test-secret-0123456789";
const servers: LiveServer[] = [];
const clients: TestClient[] = [];
const proxies: TcpProxy[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.ws.terminate();
  for (const p of proxies.splice(0)) await p.close();
  await Promise.all(servers.splice(0).map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
});

const listen = (options: WebSocketServerOptions = {}) =>
  new Promise<LiveServer>((resolve) => {
    const server = createServer({ port: 0, hostname: "127.0.0.1", heartbeatIntervalMs: 0, rateLimit: false, ...options });
    servers.push(server);
    server.once("listening", () => resolve(server));
  });
const portOf = (server: LiveServer) => (server.address() as AddressInfo).port;
const urlOf = (server: LiveServer) => `ws://127.0.0.1:${portOf(server)}/live`;
const client = (url: string) => {
  const c = new TestClient(url);
  clients.push(c);
  return c;
};
const events = (c: TestClient) => c.all("broadcast_event").map((m) => m.payload);

describe("room streams on one instance", () => {
  it("gives events and chat messages consecutive offsets per room, and room_joined the current offset and epoch", async () => {
    const server = await listen();
    const a = client(urlOf(server));
    const b = client(urlOf(server));
    const joinedA = await a.join("r1");
    expect(joinedA.offset).toBe(0);
    expect(typeof joinedA.epoch).toBe("string");
    await b.join("r1");
    b.send("broadcast_event", { event: "e", payload: 1 });
    b.send("send_chat", { message: "hello" });
    b.send("broadcast_event", { event: "e", payload: 2 });
    await a.until((r) => r.filter((m) => m.type === "broadcast_event" || m.type === "chat_message").length === 3);
    const offsets = a.received.filter((m) => m.type === "broadcast_event" || m.type === "chat_message").map((m) => m.payload.offset);
    expect(offsets).toEqual([1, 2, 3]);
    const c = client(urlOf(server));
    const joinedC = await c.join("r1");
    expect(joinedC).toMatchObject({ offset: 3, epoch: joinedA.epoch });
    expect(joinedC.recovered).toBeUndefined();
  });

  it("replays what a rejoiner missed, after room_joined and before anything newer, with recovered: true", async () => {
    const server = await listen();
    const a = client(urlOf(server));
    const b = client(urlOf(server));
    const { epoch } = await a.join("r2");
    await b.join("r2");
    b.send("broadcast_event", { event: "e", payload: 1 });
    await a.until(() => events(a).length === 1);
    a.ws.terminate();
    for (let i = 2; i <= 5; i++) b.send("broadcast_event", { event: "e", payload: i });
    b.send("send_chat", { message: "missed" });
    await b.next("chat_message");
    const back = client(urlOf(server));
    const joined = await back.join("r2", undefined, { since: { offset: 1, epoch } });
    expect(joined).toMatchObject({ recovered: true, offset: 6, epoch });
    b.send("broadcast_event", { event: "e", payload: 7 });
    await back.until((r) => r.some((m) => m.payload?.offset === 7));
    const after = back.received.slice(back.received.findIndex((m) => m.type === "room_joined") + 1).filter((m) => m.payload?.offset);
    expect(after.map((m) => m.payload.offset)).toEqual([2, 3, 4, 5, 6, 7]);
    // The chat is also in chatHistory (a snapshot, by id); the stream after `since` has no gap.
    expect(joined.chatHistory.map((m: { message: string }) => m.message)).toEqual(["missed"]);
    expect(after.map((m) => m.type)).toEqual([
      "broadcast_event",
      "broadcast_event",
      "broadcast_event",
      "broadcast_event",
      "chat_message",
      "broadcast_event",
    ]);
  });

  it("answers recovered: false for an unknown epoch, an offset ahead of the room, or messages no longer kept", async () => {
    const server = await listen({ streams: { size: 3 } });
    const a = client(urlOf(server));
    const { epoch } = await a.join("r3");
    for (let i = 1; i <= 5; i++) a.send("broadcast_event", { event: "e", payload: i });
    const probe = client(urlOf(server));
    expect((await probe.join("r3", undefined, { since: { offset: 0, epoch: "nope" } })).recovered).toBe(false);
    expect((await probe.join("r3", undefined, { since: { offset: 99, epoch } })).recovered).toBe(false);
    expect((await probe.join("r3", undefined, { since: { offset: 1, epoch } })).recovered).toBe(false); // 2 was dropped (size 3)
    const ok = await probe.join("r3", undefined, { since: { offset: 2, epoch } });
    expect(ok.recovered).toBe(true);
    await probe.until(() => events(probe).length === 3);
    expect(events(probe).map((e) => e.offset)).toEqual([3, 4, 5]);
  });

  it("refuses a malformed since with INVALID_PAYLOAD and keeps the connection working", async () => {
    const server = await listen();
    const a = client(urlOf(server));
    await a.opened;
    for (const since of [{ offset: -1, epoch: "x" }, { offset: 1.5, epoch: "x" }, { offset: 1 }, "3", { offset: 1, epoch: "" }]) {
      a.send("join_room", { roomId: "r4", since });
      expect((await a.next("error")).payload.code).toBe("INVALID_PAYLOAD");
    }
    expect((await a.join("r4")).offset).toBe(0);
  });

  it("starts a new epoch when the server restarts (the in-memory backlog is gone)", async () => {
    const first = await listen();
    const a = client(urlOf(first));
    const { epoch } = await a.join("r5");
    a.send("broadcast_event", { event: "e" });
    await new Promise<void>((resolve) => first.close(() => resolve()));
    const second = await listen();
    const b = client(urlOf(second));
    const joined = await b.join("r5", undefined, { since: { offset: 1, epoch } });
    expect(joined.recovered).toBe(false);
    expect(joined.epoch).not.toBe(epoch);
  });

  it("delivers a repeated clientMessageId once; the sender gets the same event_ack both times", async () => {
    const server = await listen();
    const a = client(urlOf(server));
    const b = client(urlOf(server));
    await a.join("r6");
    await b.join("r6");
    b.send("broadcast_event", { event: "e", payload: "x", clientMessageId: "once-1" });
    const ack = (await b.next("event_ack")).payload;
    expect(ack).toEqual({ roomId: "r6", clientMessageId: "once-1", offset: 1 });
    // A rejoin (new connection, same scope: no userId) sends it again.
    b.ws.terminate();
    const b2 = client(urlOf(server));
    await b2.join("r6");
    b2.send("broadcast_event", { event: "e", payload: "x", clientMessageId: "once-1" });
    expect((await b2.next("event_ack")).payload).toEqual(ack);
    b2.send("broadcast_event", { event: "e", payload: "y" });
    await a.until(() => events(a).length === 2);
    expect(events(a).map((e) => [e.offset, e.payload])).toEqual([
      [1, "x"],
      [2, "y"],
    ]);
    b2.send("broadcast_event", { event: "e", clientMessageId: "bad id!" });
    expect((await b2.next("error")).payload.code).toBe("INVALID_PAYLOAD");
  });

  it("publishes a repeated Idempotency-Key once; the repeat gets the first answer and Idempotent-Replayed", async () => {
    const server = await listen({ api: { secret: SECRET } });
    const a = client(urlOf(server));
    await a.join("r7");
    const post = (key?: string) =>
      fetch(`http://127.0.0.1:${portOf(server)}/api/rooms/r7/events`, {
        method: "POST",
        headers: { authorization: `Bearer ${SECRET}`, "content-type": "application/json", ...(key ? { "idempotency-key": key } : {}) },
        body: JSON.stringify({ event: "server-said", payload: 1 }),
      });
    const first = await post("k-1");
    expect(first.status).toBe(202);
    expect(await first.json()).toEqual({ offset: 1 });
    const again = await post("k-1");
    expect(again.status).toBe(202);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect(await again.json()).toEqual({ offset: 1 });
    expect((await post("not valid!")).status).toBe(422);
    expect(await (await post()).json()).toEqual({ offset: 2 });
    await a.until(() => events(a).length === 2);
    expect(events(a).map((e) => e.offset)).toEqual([1, 2]);
    // The server API and the HTTP API share the server's scope in the room.
    expect(await server.ws.publish("r7", "x", undefined, { idempotencyKey: "k-1" })).toEqual({ offset: 1, duplicate: true });
    expect(await server.ws.publish("r7", "x", undefined, { idempotencyKey: "k-2" })).toEqual({ offset: 3, duplicate: false });
  });

  it("turns streams off with streams: false (no offsets, recovered: false)", async () => {
    const server = await listen({ streams: false });
    const a = client(urlOf(server));
    const joined = await a.join("r8", undefined, { since: { offset: 0, epoch: "e" } });
    expect(joined.offset).toBeUndefined();
    expect(joined.recovered).toBe(false);
    const b = client(urlOf(server));
    await b.join("r8");
    b.send("broadcast_event", { event: "e" });
    await a.until(() => events(a).length === 1);
    expect(events(a)[0].offset).toBeUndefined();
  });

  it("a client cut mid-stream of 1,000 events rejoins and holds all 1,000 exactly once, in order", async () => {
    const server = await listen({ streams: { size: 1000 } });
    const proxy = createTcpProxy({ host: "127.0.0.1", port: portOf(server) });
    proxies.push(proxy);
    await proxy.start();
    const viaProxy = `ws://${proxy.address}/live`;
    const sender = client(urlOf(server));
    await sender.join("r9");
    let reader = client(viaProxy);
    const { epoch } = await reader.join("r9");
    const held: { offset: number; n: number }[] = [];
    const collect = (c: TestClient) =>
      c.ws.on("message", (d) => {
        const m = JSON.parse(d.toString());
        if (m.type === "broadcast_event") held.push({ offset: m.payload.offset, n: m.payload.payload });
      });
    collect(reader);
    for (let n = 1; n <= 400; n++) sender.send("broadcast_event", { event: "n", payload: n });
    await reader.until(() => held.length >= 100);
    proxy.cut();
    await reader.closed;
    for (let n = 401; n <= 1000; n++) sender.send("broadcast_event", { event: "n", payload: n });
    proxy.restore();
    reader = client(viaProxy);
    collect(reader);
    const last = held.at(-1)!.offset;
    expect((await reader.join("r9", undefined, { since: { offset: last, epoch } })).recovered).toBe(true);
    await reader.until(() => held.at(-1)?.n === 1000, 10_000);
    expect(held.map((h) => h.n)).toEqual(Array.from({ length: 1000 }, (_, i) => i + 1));
    expect(held.map((h) => h.offset)).toEqual(Array.from({ length: 1000 }, (_, i) => i + 1));
  });

  it("replays more than maxBufferedBytes without closing the rejoiner as a slow consumer", async () => {
    const server = await listen({ maxBufferedBytes: 64 * 1024, maxPayload: 256 * 1024, streams: { size: 1000 } });
    const sender = client(urlOf(server));
    const { epoch } = await sender.join("r10");
    const big = "x".repeat(16 * 1024);
    for (let n = 1; n <= 40; n++)
      sender.send("broadcast_event", { event: "n", payload: { n, big }, ...(n === 40 ? { clientMessageId: "last" } : {}) });
    expect((await sender.next("event_ack")).payload.offset).toBe(40);
    const reader = client(urlOf(server));
    expect((await reader.join("r10", undefined, { since: { offset: 0, epoch } })).recovered).toBe(true);
    sender.send("broadcast_event", { event: "n", payload: { n: 41 } });
    await reader.until(() => events(reader).length === 41, 10_000);
    expect(events(reader).map((e) => e.payload.n)).toEqual(Array.from({ length: 41 }, (_, i) => i + 1));
    expect(reader.ws.readyState).toBe(reader.ws.OPEN);
  });
});
