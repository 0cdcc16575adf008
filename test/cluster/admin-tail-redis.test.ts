/**
 * The admin page's live tail across instances on the local Redis: a tail opened on an instance that
 * holds no member of the room reads the room's channel while it is open, so it sees the frames of
 * members on another instance; once closed, that instance leaves the channel again. A member that
 * joins and leaves the tail's instance meanwhile does not take the channel away from the tail.
 */
import { Redis } from "ioredis";
import { afterAll, expect, it } from "vitest";
import { startNodeInProcess } from "../fixtures/node-inprocess.ts";
import type { FixtureOptions } from "../fixtures/options.ts";
import { TestClient } from "../helpers/client.ts";
import { describeWithService, REDIS_URL } from "../helpers/services.ts";
import { API_SECRET } from "../suites/http-api.suite.ts";
import type { Fixture } from "../suites/wire-protocol.suite.ts";

const PREFIX = `olstest:tail:${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
const options: FixtureOptions = { apiSecret: API_SECRET, onAuth: "x-user", redisPrefix: PREFIX, redisUrl: REDIS_URL };

/** An open tail: the frames it got so far, and how to close it. */
interface Tail {
  frames: string[];
  close(): void;
  /** Resolves once a frame matching `test` arrived; fails after `ms`. */
  until(test: (frame: string) => boolean, what: string, ms?: number): Promise<string>;
}

async function openTail(httpUrl: string, roomId: string): Promise<Tail> {
  const ctl = new AbortController();
  const res = await fetch(`${httpUrl}/api/rooms/${encodeURIComponent(roomId)}/tail`, {
    headers: { authorization: `Bearer ${API_SECRET}` },
    signal: ctl.signal,
  });
  expect(res.status).toBe(200);
  const frames: string[] = [];
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  void (async () => {
    for (;;) {
      const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      for (let at = buffer.indexOf("\n\n"); at >= 0; at = buffer.indexOf("\n\n")) {
        const data = buffer
          .slice(0, at)
          .split("\n")
          .find((line) => line.startsWith("data: "));
        buffer = buffer.slice(at + 2);
        if (data) frames.push(data.slice(6));
      }
    }
  })();
  return {
    frames,
    close: () => ctl.abort(),
    async until(test, what, ms = 10_000) {
      const deadline = Date.now() + ms;
      for (;;) {
        const hit = frames.find(test);
        if (hit) return hit;
        if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}; tail got ${JSON.stringify(frames).slice(0, 400)}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
  };
}

await describeWithService("Redis", REDIS_URL, "REDIS_URL", () => {
  const started: Fixture[] = [];
  const clients: TestClient[] = [];
  const tails: Tail[] = [];
  const redis = new Redis(REDIS_URL);
  const start = async () => {
    const fixture = await startNodeInProcess(options);
    started.push(fixture);
    return fixture;
  };
  const as = async (fixture: Fixture, user: string, roomId: string) => {
    const c = new TestClient(fixture.wsUrl, { headers: { "x-user": user } });
    clients.push(c);
    await c.opened;
    await c.join(roomId);
    return c;
  };
  const tail = async (fixture: Fixture, roomId: string) => {
    const t = await openTail(fixture.httpUrl, roomId);
    tails.push(t);
    return t;
  };
  const room = () => `tail-${Math.random().toString(36).slice(2, 10)}`;
  /** Instances subscribed to the room's channel (Redis PUBSUB NUMSUB). */
  const subscribers = async (roomId: string) => {
    const [, n] = (await redis.pubsub("NUMSUB", `${PREFIX}:ch:{${roomId}}`)) as [string, number];
    return Number(n);
  };
  const untilSubscribers = async (roomId: string, n: number) => {
    for (let i = 0; i < 500 && (await subscribers(roomId)) !== n; i++) await new Promise((r) => setTimeout(r, 20));
    expect(await subscribers(roomId)).toBe(n);
  };
  /** `alice` sends chats until the tail shows one: the tail's subscription takes a Redis round trip. */
  const chatUntilSeen = async (sender: TestClient, t: Tail, text: string) => {
    for (let i = 0; i < 100; i++) {
      sender.send("send_chat", { message: `${text} ${i}` });
      const seen = await t.until((f) => f.includes(text), text, 200).catch(() => undefined);
      if (seen) return seen;
    }
    throw new Error(`The tail never showed "${text}"; it got ${JSON.stringify(t.frames).slice(0, 400)}`);
  };

  afterAll(async () => {
    for (const t of tails) t.close();
    for (const c of clients) c.terminate();
    for (const f of started) await f.stop();
    const keys = await redis.keys(`${PREFIX}:*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
  });

  it("shows the frames of a room whose members are all on another instance, and leaves its channel once closed", async () => {
    const [a, b] = [await start(), await start()];
    const r = room();
    const alice = await as(b, "alice", r);
    const bob = await as(b, "bob", r);
    await untilSubscribers(r, 1);

    const t = await tail(a, r);
    await untilSubscribers(r, 2);
    const chat = JSON.parse(await chatUntilSeen(alice, t, "hello from b"));
    expect(chat).toMatchObject({ type: "chat_message", payload: { roomId: r, userId: "alice" } });
    await bob.until((got) => got.some((m) => m.type === "chat_message" && m.payload.id === chat.payload.id));

    bob.send("update_presence", { presence: { typing: true } });
    await t.until((f) => f.includes('"presence_updated"') && f.includes('"typing":true'), "bob's presence news");

    t.close();
    await untilSubscribers(r, 1);
  });

  it("keeps reading the room's channel for an open tail when the tail's instance loses its last member", async () => {
    const [a, b] = [await start(), await start()];
    const r = room();
    const alice = await as(b, "alice", r);
    const t = await tail(a, r);
    const visitor = await as(a, "visitor", r);
    await chatUntilSeen(alice, t, "while visiting");
    visitor.send("leave_room", { roomId: r });
    await alice.until((got) => got.some((m) => m.type === "presence_updated" && JSON.stringify(m.payload).includes('"left"')));
    await untilSubscribers(r, 2);
    const before = t.frames.length;
    alice.send("send_chat", { message: "after the visitor left" });
    await t.until((f) => f.includes("after the visitor left"), "a chat after the visitor left");
    expect(t.frames.length).toBeGreaterThan(before);

    t.close();
    await untilSubscribers(r, 1);
  });
});
