/**
 * What only the edge does: rooms straight from their object (`?room=`), chat that outlives workerd,
 * hibernation, and our client against it. The wire protocol itself is wire-workerd.test.ts.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import type { FixtureOptions } from "../fixtures/options.ts";
import { pause, TestClient } from "../helpers/client.ts";
import { disconnectAll, liveClient, messagesOf, until } from "../helpers/live-clients.ts";
import { makeKey, sign, startJwksServer } from "../helpers/jwks-server.ts";
import { prepareWorkerd, startWorkerd, type WorkerdFixture } from "../helpers/workerd.ts";
import { roomInUrlSuite } from "../suites/room-in-url.suite.ts";

const fixtures: WorkerdFixture[] = [];
const clients: TestClient[] = [];
const folders: string[] = [];
const start = async (options: FixtureOptions = {}, persist?: string, port?: number) => {
  const fixture = await startWorkerd(options, { persist, port });
  fixtures.push(fixture);
  return fixture;
};
const stop = async (fixture: WorkerdFixture) => {
  fixtures.splice(fixtures.indexOf(fixture), 1);
  await fixture.stop();
};
const client = (url: string, options?: WebSocket.ClientOptions) => {
  const c = new TestClient(url, options);
  clients.push(c);
  return c;
};
const folder = () => {
  const dir = mkdtempSync(join(tmpdir(), "ols-workerd-"));
  folders.push(dir);
  return dir;
};
const room = () => `room-${Math.random().toString(36).slice(2, 10)}`;
const inRoom = (fixture: WorkerdFixture, roomId: string) => `${fixture.wsUrl}?room=${encodeURIComponent(roomId)}`;
const constructed = async (fixture: WorkerdFixture) => Number(await (await fetch(`${fixture.httpUrl}/__fixture/constructed`)).text());

afterEach(() => {
  for (const c of clients.splice(0)) c.terminate();
  disconnectAll();
});
afterAll(async () => {
  for (const fixture of fixtures.splice(0)) await fixture.stop();
  for (const dir of folders) rmSync(dir, { recursive: true, force: true });
});

// Bundling the Worker takes a while on a busy machine: not inside the first test's timeout.
beforeAll(() => prepareWorkerd(), 180_000);

describe("rooms at the edge", () => {
  it("serves a room straight from its object with ?room=, beside relayed members, and refuses a join_room for another room there with FORBIDDEN", async () => {
    const fixture = await start();
    const r = room();
    const direct = client(inRoom(fixture, r));
    const relayed = client(fixture.wsUrl);
    const jd = await direct.join(r, { via: "room url" });
    const jr = await relayed.join(r, { via: "relay" });
    expect(Object.keys(jr.presence).sort()).toEqual([jd.connectionId, jr.connectionId].sort());
    relayed.send("send_chat", { message: "one room, two ways in" });
    expect((await direct.next("chat_message")).payload.message).toBe("one room, two ways in");

    direct.send("join_room", { roomId: room() });
    expect((await direct.next("error")).payload.code).toBe("FORBIDDEN");
    // The refused join left its room (as a join does on every runtime); the room it names is served by its own object.
    await relayed.until((all) => all.some((m) => m.payload?.left?.includes(jd.connectionId)));
    expect((await direct.join(r)).roomId).toBe(r);
  });

  it("refuses an invalid ?room= with HTTP 400 and an upgrade past a room's maxConnections with HTTP 503", async () => {
    const fixture = await start({ maxConnections: 2 });
    const bad = client(`${fixture.wsUrl}?room=${"x".repeat(300)}`);
    await expect(bad.opened).rejects.toMatchObject({ status: 400 });
    const r = room();
    const [a, b] = [client(inRoom(fixture, r)), client(inRoom(fixture, r))];
    await a.join(r);
    await b.join(r);
    const c = client(inRoom(fixture, r));
    await expect(c.opened).rejects.toMatchObject({ status: 503 });
    // Another room is another object, with its own count.
    const other = room();
    expect((await client(inRoom(fixture, other)).join(other)).roomId).toBe(other);
  });

  it("serves the upstream client's one-room flow on plain /live: join with name and email, presence, events, chat, leave", async () => {
    const fixture = await start({ presenceThrottleMs: 0 });
    const r = room();
    const [a, b] = [client(fixture.wsUrl), client(fixture.wsUrl)];
    const ja = await a.join(r, { cursor: { x: 1 } }, { name: "Ada", email: "ada@example.test" });
    const jb = await b.join(r, {}, { name: "Bob" });
    expect(jb.presence[ja.connectionId]).toEqual({
      connectionId: ja.connectionId,
      name: "Ada",
      email: "ada@example.test",
      presence: { cursor: { x: 1 } },
    });
    a.send("update_presence", { presence: { cursor: { x: 2 } } });
    await b.until((all) => all.some((m) => m.payload?.updated?.[0]?.presence?.cursor?.x === 2));
    a.send("broadcast_event", { event: "ping", payload: 1 });
    expect((await b.next("broadcast_event")).payload).toMatchObject({ event: "ping", payload: 1, connectionId: ja.connectionId });
    a.send("send_chat", { message: "hi", metadata: { k: 1 } });
    expect((await b.next("chat_message")).payload).toMatchObject({ message: "hi", name: "Ada", metadata: { k: 1 } });
    a.send("leave_room", { roomId: r });
    await b.until((all) => all.some((m) => m.payload?.left?.includes(ja.connectionId)));
  });

  it("verifies a token at the upgrade with jose on workerd, refuses a forged one with 401, and shows the identity to the room", async () => {
    const jwks = await startJwksServer();
    try {
      const key = await makeKey("ES256", "edge-1");
      const forger = await makeKey("ES256", "edge-1");
      jwks.setKeys("/jwks", [key.jwk]);
      const fixture = await start({ onAuth: "token", jwksUrl: jwks.url("/jwks") });
      const r = room();
      const token = await sign(key, { sub: "u-1", name: "Una" });
      const a = client(`${inRoom(fixture, r)}&access_token=${token}`);
      const b = client(fixture.wsUrl, { headers: { authorization: `Bearer ${await sign(key, { sub: "u-2" })}` } });
      const ja = await a.join(r);
      const jb = await b.join(r);
      expect(jb.presence[ja.connectionId]).toMatchObject({ userId: "u-1", name: "Una" });
      const forged = client(`${fixture.wsUrl}?access_token=${await sign(forger, { sub: "u-1" })}`);
      await expect(forged.opened).rejects.toMatchObject({ status: 401 });
    } finally {
      await jwks.close();
    }
  });

  it("keeps chat history across a restart of workerd with its persisted state", async () => {
    const dir = folder();
    const r = room();
    const first = await start({}, dir);
    const a = client(inRoom(first, r));
    await a.join(r);
    for (const message of ["before", "the", "restart"]) a.send("send_chat", { message });
    await a.until((all) => all.filter((m) => m.type === "chat_message").length === 3);
    // History comes from storage: a live frame's stream offset is not part of a stored message.
    const sent = a.all("chat_message").map(({ payload: { offset: _offset, ...rest } }) => rest);
    await stop(first);
    expect((await a.closed).code).not.toBe(1000);

    const second = await start({}, dir);
    const b = client(second.wsUrl);
    const joined = await b.join(r);
    expect(joined.chatHistory).toEqual(sent);
    const resumed = await client(inRoom(second, r)).join(r, undefined, { lastMessageId: sent[0].id });
    expect(resumed).toMatchObject({ resumed: true, chatHistory: sent.slice(1) });
  });

  it("lets an idle room's object be evicted with its sockets open, and wakes it on the next message with members and presence intact", async () => {
    const fixture = await start({ presenceThrottleMs: 0 });
    const r = room();
    const a = client(inRoom(fixture, r));
    const b = client(inRoom(fixture, r));
    const relayed = client(fixture.wsUrl);
    const ja = await a.join(r, { name: "a" });
    const jb = await b.join(r, { name: "b" });
    // Past workerd's 2,048-byte attachment: this member is kept in the object's SQLite instead.
    const big = { name: "relayed", blob: "é".repeat(1500) };
    const jr = await relayed.join(r, big);
    b.send("update_presence", { presence: { name: "b", cursor: { x: 5, y: 6 } } });
    // b's cursor reaches a as an update, or inside b's own `joined` entry when both fell in one presence batch.
    const sawCursor = (all: { payload?: any }[]) =>
      all.some((m) => [...(m.payload?.joined ?? []), ...(m.payload?.updated ?? [])].some((e: any) => e.presence?.cursor?.x === 5));
    await a.until(sawCursor);
    await relayed.until(sawCursor);
    const before = await constructed(fixture);

    // workerd evicts an object about ten seconds after its last event (the rate limiter's sweep, every 5 s
    // while a bucket is not yet full again, is one); the sockets stay open meanwhile.
    await pause(18_000);
    for (const c of [a, b, relayed]) expect(c.ws.readyState).toBe(WebSocket.OPEN);

    a.send("broadcast_event", { event: "wake up" });
    expect((await b.next("broadcast_event")).payload).toMatchObject({ event: "wake up", connectionId: ja.connectionId });
    expect((await relayed.next("broadcast_event")).payload.event).toBe("wake up");
    expect(await constructed(fixture)).toBe(before + 1);

    const c = client(inRoom(fixture, r));
    const jc = await c.join(r);
    expect(jc.presence[ja.connectionId]).toEqual({ connectionId: ja.connectionId, presence: { name: "a" } });
    expect(jc.presence[jb.connectionId]).toEqual({ connectionId: jb.connectionId, presence: { name: "b", cursor: { x: 5, y: 6 } } });
    expect(jc.presence[jr.connectionId]).toEqual({ connectionId: jr.connectionId, presence: big });
    expect(Object.keys(jc.presence)).toHaveLength(4);

    // The woken members act as before: chat with their old ids, and a close tells the room.
    b.send("send_chat", { message: "still here" });
    expect((await c.next("chat_message")).payload).toMatchObject({ message: "still here", connectionId: jb.connectionId });
    relayed.ws.close();
    await c.until((all) => all.some((m) => m.payload?.left?.includes(jr.connectionId)));
  }, 90_000); // 18 s of idling, on a busy machine
});

describe("our client at the edge", () => {
  it("reconnects after workerd restarts, rejoins and resumes the chat with nothing missed or repeated", async () => {
    const dir = folder();
    const first = await start({}, dir);
    const port = Number(new URL(first.httpUrl).port);
    const r = room();
    const a = liveClient(first.wsUrl);
    const b = liveClient(inRoom(first, r));
    a.connect();
    b.connect();
    a.joinRoom(r, { who: "a" });
    b.joinRoom(r, { who: "b" });
    await until(a, (s) => s.inRoom && Object.keys(s.presence).length === 2, "both in the room");
    b.sendChat("first");
    await until(a, (s) => messagesOf(s).includes("first"), "first message");

    await stop(first);
    await until(a, (s) => !s.inRoom, "a dropped");
    b.sendChat("queued while down");
    await pause(100);
    await start({}, dir, port);

    const seen = await until(a, (s) => s.inRoom && messagesOf(s).length === 2, "resumed");
    expect(messagesOf(seen)).toEqual(["first", "queued while down"]);
    await until(b, (s) => s.pendingMessages.length === 0 && messagesOf(s).length === 2, "b acknowledged");
    expect(
      Object.values(seen.presence)
        .map((e) => e.presence.who)
        .sort(),
    ).toEqual(["a", "b"]);
  }, 90_000); // two workerd starts
});

roomInUrlSuite("Cloudflare (workerd)", (options) => startWorkerd(options));
