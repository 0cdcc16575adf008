/**
 * The Worker's HTTP side on workerd: the HTTP API forwarded to each room's Durable Object (bans kept in
 * its SQLite across a restart), `/readyz`, `/metrics` summed over named rooms, and webhooks sent from the
 * room's object to a receiver on 127.0.0.1.
 */
import { createHmac } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type WebSocket from "ws";
import type { FixtureOptions } from "../fixtures/options.ts";
import { TestClient } from "../helpers/client.ts";
import { WebhookReceiver } from "../helpers/webhook-receiver.ts";
import { prepareWorkerd, startWorkerd, type WorkerdFixture } from "../helpers/workerd.ts";

const SECRET = "edge-api-secret-0123456789";
type EdgeFixture = FixtureOptions & { webhooks?: { url: string; secret: string } };

const fixtures: WorkerdFixture[] = [];
const clients: TestClient[] = [];
const folders: string[] = [];
const start = async (options: EdgeFixture, persist?: string) => {
  const fixture = await startWorkerd(options, { persist });
  fixtures.push(fixture);
  return fixture;
};
const client = (url: string, options?: WebSocket.ClientOptions) => {
  const c = new TestClient(url, options);
  clients.push(c);
  return c;
};
const room = () => `room-${Math.random().toString(36).slice(2, 10)}`;
const inRoom = (fixture: WorkerdFixture, roomId: string) => `${fixture.wsUrl}?room=${encodeURIComponent(roomId)}`;
const api = (fixture: WorkerdFixture, path: string, init: RequestInit = {}) =>
  fetch(`${fixture.httpUrl}/api${path}`, {
    ...init,
    headers: { authorization: `Bearer ${SECRET}`, "content-type": "application/json", ...(init.headers as Record<string, string>) },
  });

afterEach(() => {
  for (const c of clients.splice(0)) c.terminate();
});
afterAll(async () => {
  for (const fixture of fixtures.splice(0)) await fixture.stop();
  for (const dir of folders) rmSync(dir, { recursive: true, force: true });
});

// Bundling the Worker takes a while on a busy machine: not inside the first test's timeout.
beforeAll(() => prepareWorkerd(), 180_000);

describe("the HTTP API at the edge", () => {
  it("serves a room's presence, events with Idempotency-Key, chat post, history and delete, and disconnects, from the room's object", async () => {
    const fixture = await start({ apiSecret: SECRET });
    const r = room();
    const a = client(inRoom(fixture, r));
    const ja = await a.join(r);

    expect((await fetch(`${fixture.httpUrl}/api/rooms/${r}/presence`)).status).toBe(401);
    const presence = await (await api(fixture, `/rooms/${r}/presence`)).json();
    expect(Object.keys(presence.presence)).toEqual([ja.connectionId]);

    const post = () =>
      api(fixture, `/rooms/${r}/events`, {
        method: "POST",
        headers: { "Idempotency-Key": "k-1" },
        body: JSON.stringify({ event: "e", payload: 1 }),
      });
    const first = await post();
    expect(first.status).toBe(202);
    const { offset } = await first.json();
    expect(typeof offset).toBe("number");
    const repeat = await post();
    expect(repeat.headers.get("Idempotent-Replayed")).toBe("true");
    expect(await repeat.json()).toEqual({ offset });
    expect((await a.next("broadcast_event")).payload).toMatchObject({ event: "e", payload: 1, offset });

    const sent = await api(fixture, `/rooms/${r}/chat`, {
      method: "POST",
      body: JSON.stringify({ message: "from the server", name: "Ops" }),
    });
    expect(sent.status).toBe(201);
    const message = await sent.json();
    expect((await a.next("chat_message")).payload).toMatchObject({ id: message.id, message: "from the server" });
    const history = await (await api(fixture, `/rooms/${r}/chat`)).json();
    expect(history.messages.map((m: { id: string }) => m.id)).toEqual([message.id]);
    expect((await api(fixture, `/rooms/${r}/chat/${message.id}`, { method: "DELETE" })).status).toBe(204);
    expect((await a.next("chat_deleted")).payload).toMatchObject({ id: message.id });

    expect((await api(fixture, `/rooms/${r}/connections/${ja.connectionId}?code=4000&reason=bye`, { method: "DELETE" })).status).toBe(204);
    expect(await a.closed).toMatchObject({ code: 4000, reason: "bye" });
    expect((await api(fixture, `/rooms/${r}/connections/${ja.connectionId}`, { method: "DELETE" })).status).toBe(404);
  });

  it("streams a room's frames to GET /api/rooms/:roomId/tail from the room's object", async () => {
    const fixture = await start({ apiSecret: SECRET });
    const r = room();
    const a = client(inRoom(fixture, r));
    await a.join(r);
    const abort = new AbortController();
    const tail = await api(fixture, `/rooms/${r}/tail`, { signal: abort.signal });
    expect(tail.status).toBe(200);
    expect(tail.headers.get("content-type")).toMatch(/text\/event-stream/);
    const reader = tail.body!.getReader();
    let seen = "";
    a.send("broadcast_event", { event: "tailed", payload: 42 });
    while (!seen.includes('"tailed"')) {
      const { value, done } = await reader.read();
      if (done) break;
      seen += new TextDecoder().decode(value);
    }
    abort.abort();
    expect(seen).toMatch(/^data: \{"type":"broadcast_event".*"tailed"/m);
  });

  it("answers GET /api/rooms and /api/documents with 404 (objects cannot be listed, no documents), an invalid room id with 422, and serves openapi.json", async () => {
    const fixture = await start({ apiSecret: SECRET });
    const list = await api(fixture, "/rooms");
    expect(list.status).toBe(404);
    expect((await list.json()).error.message).toMatch(/cannot be listed/);
    const bad = await api(fixture, `/rooms/${"x".repeat(300)}/presence`);
    expect(bad.status).toBe(422);
    expect((await bad.json()).error.code).toBe("INVALID_PAYLOAD");
    const documents = await api(fixture, "/documents");
    expect(documents.status).toBe(404);
    expect((await documents.json()).error.message).toMatch(/not served on Cloudflare/);
    const spec = await api(fixture, "/openapi.json");
    expect(spec.status).toBe(200);
    expect(Object.keys((await spec.json()).paths)).toContain("/api/rooms/{roomId}/bans");
  });

  it("keeps a ban in the room object's SQLite: it holds after workerd restarts, until lifted", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ols-workerd-"));
    folders.push(dir);
    const first = await start({ apiSecret: SECRET, onAuth: "x-user" }, dir);
    const r = room();
    const a = client(inRoom(first, r), { headers: { "x-user": "mallory" } });
    await a.join(r);
    const banned = await api(first, `/rooms/${r}/bans`, { method: "POST", body: JSON.stringify({ userId: "mallory", reason: "spam" }) });
    expect(banned.status).toBe(201);
    expect((await a.closed).code).toBe(4403);
    await first.stop();
    fixtures.splice(fixtures.indexOf(first), 1);

    const second = await start({ apiSecret: SECRET, onAuth: "x-user" }, dir);
    const again = client(inRoom(second, r), { headers: { "x-user": "mallory" } });
    await again.opened;
    again.send("join_room", { roomId: r });
    expect((await again.next("error")).payload).toMatchObject({ code: "FORBIDDEN" });
    const bans = await (await api(second, `/rooms/${r}/bans`)).json();
    expect(bans.bans).toEqual([expect.objectContaining({ roomId: r, userId: "mallory", reason: "spam" })]);
    expect((await api(second, `/rooms/${r}/bans/mallory`, { method: "DELETE" })).status).toBe(204);
    expect((await again.join(r)).roomId).toBe(r);
  }, 60_000);
});

describe("monitoring and webhooks at the edge", () => {
  it("answers /readyz from an object's SQLite and sums /metrics over the rooms named", async () => {
    const fixture = await start({});
    const ready = await fetch(`${fixture.httpUrl}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ ok: true, checks: { storage: "ok" } });
    const [r1, r2] = [room(), room()];
    await client(inRoom(fixture, r1)).join(r1);
    await client(inRoom(fixture, r2)).join(r2);
    await client(inRoom(fixture, r2)).join(r2);
    const scrape = async (query: string) => (await fetch(`${fixture.httpUrl}/metrics${query}`)).text();
    const value = (text: string, series: string) => Number(new RegExp(`^${series} (\\S+)$`, "m").exec(text)?.[1]);
    const one = await scrape(`?room=${r1}`);
    const both = await scrape(`?room=${r1}&room=${r2}`);
    expect(value(one, "openlivesync_connections")).toBe(1);
    expect(value(both, "openlivesync_connections")).toBe(3);
    expect(value(both, "openlivesync_rooms")).toBe(2);
    // Each family once, its HELP and TYPE before its samples.
    expect(both.match(/^# TYPE openlivesync_connections /gm)).toHaveLength(1);
    expect((await fetch(`${fixture.httpUrl}/metrics?room=${"x".repeat(300)}`)).status).toBe(400);
  });

  it("sends signed webhooks from the room's object to a receiver on 127.0.0.1", async () => {
    const receiver = await WebhookReceiver.start();
    try {
      const secret = "edge-webhook-secret";
      const fixture = await start({ webhooks: { url: receiver.url, secret } });
      const r = room();
      const a = client(inRoom(fixture, r));
      const ja = await a.join(r);
      a.send("send_chat", { message: "hooked" });
      await a.next("chat_message");
      const types = () => receiver.received.map((h) => h.body.type);
      for (let i = 0; i < 200 && !(types().includes("member.joined") && types().includes("chat.stored")); i++)
        await new Promise((f) => setTimeout(f, 50));
      const joined = receiver.received.find((h) => h.body.type === "member.joined")!;
      expect(joined.body.data).toMatchObject({ roomId: r, connectionId: ja.connectionId });
      expect(receiver.received.find((h) => h.body.type === "chat.stored")!.body.data).toMatchObject({ roomId: r, message: "hooked" });
      const signature = String(joined.headers["openlivesync-signature"]);
      const [, t, v1] = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(signature) ?? [];
      expect(createHmac("sha256", secret).update(`${t}.${joined.raw}`).digest("hex")).toBe(v1);
    } finally {
      await receiver.down();
    }
  });
});
