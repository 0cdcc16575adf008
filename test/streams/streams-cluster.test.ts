/**
 * Room streams across instances (Redis single and Cluster): a client on an instance killed with SIGKILL
 * resumes on another with every event once, in order; Redis losing its data starts a new epoch.
 */
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { createServer, type NodeLiveServer as LiveServer } from "../../adapters/node/index.ts";
import { createRedisBackplane } from "../../src/cluster/redis-backplane.ts";
import { disconnectAll, rawClient, waitFor } from "../helpers/live-clients.ts";
import { monitorRedis } from "../helpers/redis-monitor.ts";
import { startPrivateRedis } from "../helpers/redis-server.ts";
import { describeWithService, REDIS_URL } from "../helpers/services.ts";
import { privateRedises } from "../helpers/private-redises.ts";
import { onCluster, onSingle } from "../helpers/streams-targets.ts";
import { closeProxies, startProxy } from "../helpers/tcp-proxy.ts";
import { streamsFailoverSuite } from "../suites/streams-failover.suite.ts";

afterEach(async () => {
  disconnectAll();
  await closeProxies();
});

/** A Node server in this process on the Redis backplane; its URL. */
async function redisServer(url: string, keyPrefix: string, servers: LiveServer[]): Promise<string> {
  const server = await new Promise<LiveServer>((resolve) => {
    const s = createServer({
      port: 0,
      hostname: "127.0.0.1",
      heartbeatIntervalMs: 0,
      backplane: createRedisBackplane({ url, keyPrefix, onError: () => {} }),
      onError: () => {},
    });
    servers.push(s);
    s.once("listening", () => resolve(s));
  });
  return `ws://127.0.0.1:${(server.address() as AddressInfo).port}/live`;
}
const closeAll = (servers: LiveServer[]) => Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
/** Send events until one is sequenced (the backplane's first moments); its offset. */
async function sequencedOffset(c: ReturnType<typeof rawClient>): Promise<number> {
  for (let i = 0; ; i++) {
    c.send("broadcast_event", { event: "first", clientMessageId: `first-${i}` });
    const { offset } = (await c.next("event_ack")).payload;
    if (offset !== undefined) return offset;
    await new Promise((r) => setTimeout(r, 50));
  }
}
const uniquePrefix = (name: string) => `${name}-${Math.random().toString(36).slice(2, 8)}`;
/** A TCP proxy in front of the shared Redis (to lose an answer or cut the connections); its redis:// URL too. */
async function redisProxy() {
  const redis = new URL(REDIS_URL);
  const proxy = await startProxy({ host: redis.hostname, port: Number(redis.port || 6379) });
  return { proxy, url: `redis://${proxy.address}` };
}
/**
 * Each of `clients`, once the last of `events` reached it, holds exactly `events` ([name, offset]) past
 * offset `start`: each once, in order.
 */
async function expectEventsSince(clients: ReturnType<typeof rawClient>[], start: number, events: [string, number][], ms: number) {
  const last = events.at(-1)![0];
  for (const c of clients) {
    await c.until(() => c.all("broadcast_event").some((m) => m.payload.event === last), ms);
    const got = c.all("broadcast_event").filter((m) => m.payload.offset === undefined || m.payload.offset > start);
    expect(got.map((m) => [m.payload.event, m.payload.offset])).toEqual(events);
  }
}

await describeWithService("Redis", REDIS_URL, "REDIS_URL", () => {
  describe("room streams on a single Redis", () => {
    it("answers a repeated chat clientMessageId exactly as the first time, offset included, and delivers it once", async () => {
      const servers: LiveServer[] = [];
      try {
        const url = await redisServer(REDIS_URL, uniquePrefix("ols-streams-chat"), servers);
        const [a, b] = [rawClient(url), rawClient(url)];
        await a.join("room");
        await b.join("room");
        a.send("send_chat", { message: "once", clientMessageId: "chat-1" });
        const first = await a.next("chat_message");
        expect(first.payload.offset).toBe(1);
        a.send("send_chat", { message: "once", clientMessageId: "chat-1" });
        expect(await a.next("chat_message")).toEqual(first);
        b.send("broadcast_event", { event: "after" });
        await b.until(() => b.all("chat_message").length === 1 && a.all("broadcast_event").length === 1);
        expect(a.all("broadcast_event")[0]!.payload.offset).toBe(2);
        expect(b.all("chat_message")).toEqual([first]);
      } finally {
        await closeAll(servers);
      }
    }, 30_000);

    it("sequences a publish whose answer from Redis was lost once: sent again under its call id, delivered once, acknowledged with its offset", async () => {
      const servers: LiveServer[] = [];
      try {
        const prefix = uniquePrefix("ols-streams-lost-reply");
        const { proxy, url: viaProxy } = await redisProxy();
        const [a, b] = [await redisServer(viaProxy, prefix, servers), await redisServer(REDIS_URL, prefix, servers)];
        const [sender, here, there] = [rawClient(a), rawClient(a), rawClient(b)];
        for (const c of [sender, here, there]) await c.join("room");
        const start = await sequencedOffset(sender);
        // The sequencing call of "lost-reply" runs in Redis; its answer never reaches instance A.
        const cut = proxy.loseReplyTo((request) => request.includes("eval") && request.includes("lost-reply"));
        sender.send("broadcast_event", { event: "lost-reply", payload: 1, clientMessageId: "lost-1" });
        await cut;
        expect((await sender.next("event_ack", 15_000)).payload).toEqual({ roomId: "room", clientMessageId: "lost-1", offset: start + 1 });
        sender.send("broadcast_event", { event: "after", clientMessageId: "after-1" });
        expect((await sender.next("event_ack", 15_000)).payload.offset).toBe(start + 2);
        await expectEventsSince(
          [here, there],
          start,
          [
            ["lost-reply", start + 1],
            ["after", start + 2],
          ],
          15_000,
        );
      } finally {
        await closeAll(servers);
      }
    }, 60_000);

    it("never delivers a publish twice when Redis stays away past the retries after losing its answer: it reaches every member once, from the channel or the backlog", async () => {
      const servers: LiveServer[] = [];
      try {
        const prefix = uniquePrefix("ols-streams-unknown");
        const { proxy, url: viaProxy } = await redisProxy();
        const [a, b] = [await redisServer(viaProxy, prefix, servers), await redisServer(REDIS_URL, prefix, servers)];
        const [sender, here, there, fence] = [rawClient(a), rawClient(a), rawClient(b), rawClient(b)];
        for (const c of [sender, here, there, fence]) await c.join("room");
        const start = await sequencedOffset(sender);
        const cut = proxy.loseReplyTo((request) => request.includes("eval") && request.includes("unknown"));
        sender.send("broadcast_event", { event: "unknown", clientMessageId: "unknown-1" });
        await cut;
        proxy.cut(); // both of A's connections, until the retries gave up
        // Its outcome unknown to A: acknowledged without an offset, not delivered by A itself.
        expect((await sender.next("event_ack", 20_000)).payload).toEqual({ roomId: "room", clientMessageId: "unknown-1" });
        proxy.restore();
        fence.send("broadcast_event", { event: "after", clientMessageId: "after-1" });
        expect((await fence.next("event_ack", 15_000)).payload.offset).toBe(start + 2);
        await expectEventsSince(
          [here, there],
          start,
          [
            ["unknown", start + 1],
            ["after", start + 2],
          ],
          20_000,
        );
      } finally {
        await closeAll(servers);
      }
    }, 60_000);

    it("gives a server publish made while a new instance's first Redis connection opens an offset, and it reaches the other instances", async () => {
      const servers: LiveServer[] = [];
      try {
        const prefix = uniquePrefix("ols-streams-start");
        const listener = rawClient(await redisServer(REDIS_URL, prefix, servers));
        await listener.join("room");
        const fresh = createServer({
          port: 0,
          hostname: "127.0.0.1",
          backplane: createRedisBackplane({ url: REDIS_URL, keyPrefix: prefix, onError: () => {} }),
          onError: () => {},
        });
        servers.push(fresh);
        // At once: the backplane is still loading its driver and connecting.
        expect(await fresh.ws.publish("room", "early", 1, { idempotencyKey: "early-1" })).toEqual({ offset: 1, duplicate: false });
        expect((await listener.next("broadcast_event")).payload).toMatchObject({ event: "early", offset: 1 });
      } finally {
        await closeAll(servers);
      }
    }, 30_000);

    it("sends the sequencing script's body to Redis once, then only its SHA1 (EVALSHA), one call per message", async () => {
      const servers: LiveServer[] = [];
      const prefix = uniquePrefix("ols-streams-sha");
      const calls: Record<string, number> = { eval: 0, evalsha: 0 };
      // EVAL <body> / EVALSHA <sha>, then 4 keys (seq, log, channel, call) for a broadcast without a key.
      const monitor = await monitorRedis(REDIS_URL, (args) => {
        const command = args[0]?.toLowerCase() ?? "";
        if (command in calls && args[2] === "4" && args[3] === `${prefix}:seq:{room}`) calls[command]!++;
      });
      try {
        const url = await redisServer(REDIS_URL, prefix, servers);
        const [a, b] = [rawClient(url), rawClient(url)];
        await a.join("room");
        await b.join("room");
        for (let i = 1; i <= 40; i++) {
          a.send("broadcast_event", { event: "n", payload: i });
          await b.until((all) => all.filter((m) => m.type === "broadcast_event").length === i);
        }
        expect(b.all("broadcast_event").map((m) => m.payload.offset)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
        await waitFor(
          () => calls.eval! + calls.evalsha! === 40,
          "every sequencing call seen by MONITOR",
          20_000,
          () => JSON.stringify(calls),
        );
        expect(calls.eval).toBe(1);
        expect(calls.evalsha).toBe(39);
      } finally {
        monitor.close();
        await closeAll(servers);
      }
    }, 30_000);
  });
});

const { single, cluster } = await privateRedises("room streams");
if (single) streamsFailoverSuite("node on a single Redis", onSingle("node", single));
if (cluster) streamsFailoverSuite("node on a Redis Cluster", onCluster("node", cluster));

describe("room streams when Redis loses its data", () => {
  it("starts a new epoch: a rejoin with the old one gets recovered: false", async (ctx) => {
    const redis = await startPrivateRedis();
    if (!redis) return ctx.skip();
    const servers: LiveServer[] = [];
    try {
      const server = await new Promise<LiveServer>((resolve) => {
        const s = createServer({
          port: 0,
          hostname: "127.0.0.1",
          heartbeatIntervalMs: 0,
          backplane: createRedisBackplane({ url: redis.url, keyPrefix: "ols-streams-lost", onError: () => {} }),
          onError: () => {},
        });
        servers.push(s);
        s.once("listening", () => resolve(s));
      });
      const url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}/live`;
      const a = rawClient(url);
      const { epoch } = await a.join("room");
      // Until the backplane is connected an event goes out without an offset (as without streams).
      let offset: number | undefined;
      for (let i = 0; offset === undefined; i++) {
        a.send("broadcast_event", { event: "e", clientMessageId: `first-${i}` });
        offset = (await a.next("event_ack")).payload.offset;
        if (offset === undefined) await new Promise((r) => setTimeout(r, 50));
      }
      expect(offset).toBe(1);
      await redis.kill();
      await redis.start();
      // Back with no data: the instance finds the room's new epoch and closes its members with 1012, so
      // they rejoin and learn that the messages before are gone.
      expect((await a.closed).code).toBe(1012);
      const b = rawClient(url);
      const joined = await b.join("room", undefined, { since: { offset: 1, epoch } });
      expect(joined.recovered).toBe(false);
      expect(joined.epoch).not.toBe(epoch);
      expect(joined.offset).toBe(0);
    } finally {
      await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
      await redis.stop();
    }
  }, 60_000);
});
