/**
 * Webhooks end to end: real sockets join, chat and leave on `createServer`, a receiver on 127.0.0.1 gets
 * the signed events; across two instances linked through Redis each event is sent once, by the instance
 * where it happened (`room.emptied` once, when the last members on both instances have left).
 */
import { createHmac } from "node:crypto";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createServer } from "../../adapters/node/index.ts";
import { createRedisBackplane } from "../../src/cluster/redis-backplane.ts";
import type { ServerApi } from "../../src/engine/server-api.ts";
import type { WebSocketServerOptions } from "../../src/options.ts";
import { TestClient } from "../helpers/client.ts";
import { describeWithService, REDIS_URL } from "../helpers/services.ts";
import { WebhookReceiver, type ReceivedHook } from "../helpers/webhook-receiver.ts";

const SECRET = "e2e-secret";
const stops: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop();
});

async function receiver(): Promise<WebhookReceiver> {
  const r = await WebhookReceiver.start();
  stops.push(() => r.down());
  return r;
}

async function server(options: WebSocketServerOptions): Promise<{ url: string; metrics: () => Promise<string>; ws: ServerApi }> {
  const s = createServer({ ...options, port: 0, hostname: "127.0.0.1" });
  await new Promise<void>((resolve) => s.once("listening", resolve));
  stops.push(() => new Promise<void>((resolve) => s.close(() => resolve())));
  const { port } = s.address() as AddressInfo;
  return {
    url: `ws://127.0.0.1:${port}/live`,
    metrics: () => fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text()),
    ws: s.ws,
  };
}

async function member(url: string, roomId: string, name: string): Promise<{ client: TestClient; id: string }> {
  const client = new TestClient(url);
  stops.push(async () => {
    client.ws.close();
    await client.closed;
  });
  await client.opened;
  client.send("join_room", { roomId, presence: { name } });
  const joined = await client.next("room_joined");
  return { client, id: joined.payload.connectionId };
}

/** `type data.connectionId`-style lines of the room's hooks, in arrival order. */
const lines = (hooks: ReceivedHook[], roomId: string) =>
  hooks
    .filter((h) => h.body.data.roomId === roomId)
    .map((h) => `${h.body.type} ${h.body.type === "chat.stored" ? h.body.data.message : (h.body.data.connectionId ?? "")}`.trim());

function verifies(hook: ReceivedHook): boolean {
  const [t, v1] = String(hook.headers["openlivesync-signature"])
    .split(",")
    .map((part) => part.split("=")[1]);
  return createHmac("sha256", SECRET).update(`${t}.${hook.raw}`).digest("hex") === v1;
}

describe("webhooks from a server", () => {
  it("sends member.joined, chat.stored, member.left and room.emptied for real sockets, signed, in order", async () => {
    const r = await receiver();
    const s = await server({ webhooks: { url: r.url, secret: SECRET } });
    const a = await member(s.url, "e2e-room", "Ada");
    a.client.send("send_chat", { roomId: "e2e-room", message: "hello" });
    await a.client.next("chat_message");
    a.client.send("leave_room", { roomId: "e2e-room" });
    await vi.waitFor(() => expect(r.received).toHaveLength(4));
    expect(lines(r.received, "e2e-room")).toEqual([`member.joined ${a.id}`, "chat.stored hello", `member.left ${a.id}`, "room.emptied"]);
    expect(r.received.every(verifies)).toBe(true);
    expect(r.received[0]!.body.data.presence).toEqual({ name: "Ada" });
    expect(await s.metrics()).toContain('openlivesync_webhook_events_total{outcome="delivered"} 4');
  });

  it("sends chat.stored for a chat the server sends (sendChat), as stored", async () => {
    const r = await receiver();
    const s = await server({ webhooks: { url: r.url, secret: SECRET, events: ["chat.stored"] } });
    const stored = await s.ws.sendChat("e2e-server-chat", { message: "from the backend", name: "Bot" });
    await vi.waitFor(() => expect(r.received).toHaveLength(1));
    // The webhook carries the stored message; the live stream offset of its frame is not part of it.
    const { offset: _offset, ...asStored } = stored as typeof stored & { offset?: number };
    expect(r.received[0]!.body.data).toEqual(asStored);
    expect(r.received[0]!.body.data).toMatchObject({ connectionId: "server", name: "Bot", message: "from the backend" });
  });

  it("sends only the configured events", async () => {
    const r = await receiver();
    const s = await server({ webhooks: { url: r.url, secret: SECRET, events: ["chat.stored"] } });
    const a = await member(s.url, "e2e-only-chat", "Ada");
    a.client.send("send_chat", { roomId: "e2e-only-chat", message: "one" });
    await a.client.next("chat_message");
    a.client.send("leave_room", { roomId: "e2e-only-chat" });
    await vi.waitFor(() => expect(r.received).toHaveLength(1));
    // The leave is done before this join answers; a member.left or room.emptied would be in by then.
    await member(s.url, "e2e-only-chat-2", "Bob");
    expect(r.received.map((h) => h.body.type)).toEqual(["chat.stored"]);
  });
});

await describeWithService("webhooks across two instances", REDIS_URL, "REDIS_URL", () => {
  it("sends each event once, by the instance where it happened, and room.emptied once at the end", async () => {
    const r = await receiver();
    const keyPrefix = `olstest:webhooks:${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
    const options = (): WebSocketServerOptions => ({
      webhooks: { url: r.url, secret: SECRET },
      chat: { historyLimit: 0 },
      backplane: createRedisBackplane({ url: REDIS_URL, keyPrefix }),
    });
    const one = await server(options());
    const two = await server(options());
    const room = "cluster-room";
    const a = await member(one.url, room, "Ada");
    const b = await member(two.url, room, "Bob");
    await a.client.next("presence_updated");
    a.client.send("send_chat", { roomId: room, message: "from one" });
    await b.client.next("chat_message");
    a.client.send("leave_room", { roomId: room });
    await b.client.next("presence_updated");
    // One member left: the room is not empty, so no room.emptied yet.
    await vi.waitFor(() => expect(r.received).toHaveLength(4));
    expect(lines(r.received, room).filter((l) => l === "room.emptied")).toEqual([]);
    b.client.send("leave_room", { roomId: room });
    await vi.waitFor(() => expect(r.received).toHaveLength(6));

    expect(new Set(r.ids()).size).toBe(6);
    expect(lines(r.received, room).sort()).toEqual(
      [
        `member.joined ${a.id}`,
        `member.joined ${b.id}`,
        "chat.stored from one",
        `member.left ${a.id}`,
        `member.left ${b.id}`,
        "room.emptied",
      ].sort(),
    );
    // Order per member holds across instances: each member's joined before its left.
    const order = lines(r.received, room);
    for (const id of [a.id, b.id]) expect(order.indexOf(`member.joined ${id}`)).toBeLessThan(order.indexOf(`member.left ${id}`));
    expect(order.at(-1)).toBe("room.emptied");
    // Nothing more comes: each instance sends a room's events in order, so a second room.emptied or a
    // repeat from either instance would arrive before that instance's next event of the room.
    const c = await member(one.url, room, "Cy");
    const d = await member(two.url, room, "Dee");
    await vi.waitFor(() => expect(r.received).toHaveLength(8));
    expect(lines(r.received, room).slice(6).sort()).toEqual([`member.joined ${c.id}`, `member.joined ${d.id}`].sort());
  });
});
