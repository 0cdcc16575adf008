/**
 * The backplane on a Redis Cluster (3 masters on loopback ports, started here) and per-room channels on
 * both targets: the wire suite over two instances, an instance reading only its rooms, a shard killed
 * and restarted, kill -9 ghosts. Instances are Node child processes over the build (like test/cluster/redis-instances.test.ts).
 */
import { Cluster, Redis } from "ioredis";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createServer } from "../../adapters/node/index.ts";
import { createRedisBackplane, type RedisBackplane } from "../../src/cluster/redis-backplane.ts";
import { redisKeys } from "../../src/cluster/redis-codec.ts";
import { createInMemoryChatStorage } from "../../src/storage/memory.ts";
import { startChild } from "../fixtures/child.ts";
import { startNodeInProcess } from "../fixtures/node-inprocess.ts";
import { instanceGroup, type Instance } from "../helpers/cluster.ts";
import { pause, presenceMap, TestClient } from "../helpers/client.ts";
import { startPrivateRedisCluster, type PrivateRedisCluster } from "../helpers/redis-cluster.ts";
import { startPrivateRedis } from "../helpers/redis-server.ts";
import { describeWithService, REDIS_URL } from "../helpers/services.ts";
import { joinedOf, leftOf } from "../helpers/views.ts";
import { wireProtocolSuite, type Fixture, type StartFixture } from "../suites/wire-protocol.suite.ts";

const run = `${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
const room = () => `room-${Math.random().toString(36).slice(2, 10)}`;

/** Everything under `prefix` on every node of the cluster that still mentions `instanceId`. */
async function clusterTraces(cluster: PrivateRedisCluster, prefix: string, instanceId: string): Promise<string[]> {
  const out: string[] = [];
  for (const port of cluster.ports) {
    const node = new Redis({ host: "127.0.0.1", port });
    try {
      let cursor = "0";
      do {
        const [next, keys] = await node.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 500);
        cursor = next;
        for (const key of keys) {
          if (key.includes(instanceId)) out.push(key);
          const type = await node.type(key);
          if (type === "hash") {
            for (const [field, value] of Object.entries(await node.hgetall(key)))
              if (value.startsWith(`${instanceId} `)) out.push(`${key} ${field}`);
          } else if (type === "set" && (await node.sismember(key, instanceId))) out.push(`${key} ∋ ${instanceId}`);
        }
      } while (cursor !== "0");
    } finally {
      node.disconnect();
    }
  }
  return out;
}

let redisCluster: PrivateRedisCluster | undefined;
try {
  redisCluster = await startPrivateRedisCluster();
} catch (error) {
  console.warn(`[skip] Redis Cluster tests: ${error}`);
}
if (!redisCluster) console.warn("[skip] Redis Cluster tests: no redis-server/redis-cli and no REDIS_CLUSTER_URL");
if (!redisCluster && process.env.CI === "true") {
  it("starts a Redis Cluster (required when CI=true)", () => {
    throw new Error("No Redis Cluster: install redis-server and redis-cli, or set REDIS_CLUSTER_URL");
  });
}

// The single-Redis target is a private redis-server too: the shared one carries other files' MONITOR tests.
const single = await startPrivateRedis();
const SINGLE_URL = single?.url ?? REDIS_URL;
afterAll(async () => {
  await redisCluster?.stop();
  await single?.stop();
});

/**
 * Two in-process instances on one prefix; the suite's clients alternate between them (each read of
 * `wsUrl` gives the other one), so every multi-client test crosses instances.
 */
const twoInstances =
  (url: () => string, tag: string): StartFixture =>
  async (options) => {
    const prefix = `olstest:${run}:${tag}:${Math.random().toString(36).slice(2, 8)}`;
    // One chat history for both, as a shared database would be.
    const storage = createInMemoryChatStorage({ historyLimit: 1000 });
    const makeStorage = async () => storage;
    const pair = await Promise.all([0, 1].map(() => startNodeInProcess({ ...options, redisPrefix: prefix, redisUrl: url() }, makeStorage)));
    let next = 0;
    const fixture: Fixture = {
      get wsUrl() {
        return pair[next++ % 2]!.wsUrl;
      },
      httpUrl: pair[0]!.httpUrl,
      stop: async () => void (await Promise.all(pair.map((f) => f.stop()))),
    };
    return fixture;
  };

await describeWithService("Redis", SINGLE_URL, "REDIS_URL", () => {
  wireProtocolSuite(
    "two Node instances on a single Redis",
    twoInstances(() => SINGLE_URL, "wire1"),
    { severalInstances: true },
  );
});
if (redisCluster)
  wireProtocolSuite(
    "two Node instances on a Redis Cluster",
    twoInstances(() => redisCluster!.url, "wirec"),
    { severalInstances: true },
  );

/** Two in-process servers whose backplane stats the test reads. */
async function inProcessPair(
  url: string,
  prefix: string,
  server: { presenceBatchMs?: number; presenceThrottleMs?: number } = {},
  link: { heartbeatMs?: number; ttlMs?: number } = {},
) {
  const made = [0, 1].map(() => createRedisBackplane({ url, keyPrefix: prefix, ...link }));
  const servers = made.map((backplane) =>
    createServer({ port: 0, hostname: "127.0.0.1", chat: { historyLimit: 0 }, rateLimit: false, backplane, ...server }),
  );
  await Promise.all(servers.map((s) => new Promise((r) => s.once("listening", r))));
  await Promise.all(made.map((b) => b.ready()));
  return {
    backplanes: made as RedisBackplane[],
    urls: servers.map((s) => `ws://127.0.0.1:${(s.address() as AddressInfo).port}/live`),
    stop: () => Promise.all(servers.map((s) => new Promise((r) => s.close(r)))),
  };
}

type Target = { name: string; url: () => string; clustered: boolean };

/** Wait until `client`'s presence map of `roomId` satisfies `ok`. */
async function mapUntil(client: TestClient, roomId: string, ok: (map: Record<string, any>) => boolean): Promise<void> {
  await client.until(() => ok(presenceMap(client, roomId)), 10_000);
}
const targets: Target[] = [{ name: "a single Redis", url: () => SINGLE_URL, clustered: false }];
if (redisCluster) targets.push({ name: "a Redis Cluster", url: () => redisCluster!.url, clustered: true });

for (const target of targets) {
  describe(`per-room channels on ${target.name}`, () => {
    const clients: TestClient[] = [];
    const client = async (url: string) => {
      const c = new TestClient(url);
      clients.push(c);
      await c.opened;
      return c;
    };
    afterAll(() => {
      for (const c of clients) c.terminate();
    });

    it("subscribes an instance to a room's channel only while it has a member there, and it reads nothing of other rooms", async () => {
      const prefix = `olstest:${run}:numsub:${target.clustered ? "c" : "s"}`;
      const keys = redisKeys(prefix);
      const pair = await inProcessPair(target.url(), prefix);
      const probe = target.clustered
        ? new Cluster(
            target
              .url()
              .split(",")
              .map((u) => ({ host: "127.0.0.1", port: Number(new URL(u).port) })),
          )
        : new Redis(target.url());
      const subscribers = async (roomId: string): Promise<number> => {
        const channel = keys.channel(roomId);
        if (!target.clustered) return Number(((await (probe as Redis).pubsub("NUMSUB", channel)) as [string, number])[1]);
        // SHARDNUMSUB answers for the node that serves the channel's slot.
        const node = new Redis({ host: "127.0.0.1", port: redisCluster!.portOf(channel) });
        try {
          return Number(((await node.call("PUBSUB", "SHARDNUMSUB", channel)) as [string, number])[1]);
        } finally {
          node.disconnect();
        }
      };
      try {
        const [A, B] = pair.backplanes as [RedisBackplane, RedisBackplane];
        const [rA, rB, shared] = [room(), room(), room()];
        const a = await client(pair.urls[0]!);
        const a1 = await client(pair.urls[0]!);
        const b = await client(pair.urls[1]!);
        await a.join(rA);
        await a1.join(rA);
        await b.join(rB);
        expect(await subscribers(rA)).toBe(1);
        expect(await subscribers(rB)).toBe(1);
        await pause(100); // B's own batched presence on rB (if any) has gone out
        const before = B.stats();
        for (let i = 0; i < 200; i++) a.send("broadcast_event", { event: "only-here", payload: "x".repeat(100) });
        await a1.until((all) => all.filter((m) => m.type === "broadcast_event").length === 200);
        await pause(300);
        // B has no member in rA: not one byte of its 200 messages (≥ 20 kB) reached B.
        expect(B.stats().bytesRead - before.bytesRead).toBe(0);
        expect(A.stats().bytesRead).toBeGreaterThan(20_000); // A's own echo of its room

        const a2 = await client(pair.urls[0]!);
        const b2 = await client(pair.urls[1]!);
        await a2.join(shared);
        const jb2 = await b2.join(shared);
        await a2.until(joinedOf(jb2.connectionId));
        expect(await subscribers(shared)).toBe(2);
        b2.send("leave_room", {});
        await a2.until(leftOf(jb2.connectionId));
        for (let i = 0; i < 50 && (await subscribers(shared)) !== 1; i++) await pause(50);
        expect(await subscribers(shared)).toBe(1);
        expect(B.stats().rooms).toBe(1);
      } finally {
        probe.disconnect();
        await pair.stop();
      }
    });

    it("sends another instance at most one presence record per room per window, and its clients keep an exact presence map", async () => {
      const prefix = `olstest:${run}:news:${target.clustered ? "c" : "s"}`;
      const windowMs = 100;
      const pair = await inProcessPair(target.url(), prefix, { presenceBatchMs: windowMs, presenceThrottleMs: 0 });
      try {
        const B = pair.backplanes[1]!;
        const rooms = [room(), room()];
        const watchers = [await client(pair.urls[1]!), await client(pair.urls[1]!)];
        for (const [k, w] of watchers.entries()) await w.join(rooms[k]!);
        const movers = await Promise.all(Array.from({ length: 40 }, () => client(pair.urls[0]!)));
        await Promise.all(movers.map((m, i) => m.join(rooms[i % 2]!, { x: 0 })));
        for (const [k, w] of watchers.entries()) await mapUntil(w, rooms[k]!, (map) => Object.keys(map).length === 21);

        const before = B.stats().recordsRead;
        const started = performance.now();
        // 40 members moving at about 60 Hz; four leave and two join on the way.
        let moving = movers;
        for (let x = 1; x <= 12; x++) {
          for (const m of moving) m.send("update_presence", { presence: { x } });
          if (x === 6) {
            for (const m of moving.slice(0, 4)) m.send("leave_room", {});
            moving = moving.slice(4);
            const late = [await client(pair.urls[0]!), await client(pair.urls[0]!)];
            await Promise.all(late.map((m, i) => m.join(rooms[i]!, { x })));
            moving = [...moving, ...late];
          }
          await pause(16);
        }
        for (const [k, w] of watchers.entries()) {
          await mapUntil(
            w,
            rooms[k]!,
            (map) => Object.keys(map).length === 20 && Object.values(map).filter((p) => p.x === 12).length === 19,
          );
        }
        await pause(3 * windowMs); // any flush still due has arrived
        const records = B.stats().recordsRead - before;
        const elapsed = performance.now() - started;
        // A room flushes at most once per window (flushes are ≥ windowMs apart): per room at most
        // elapsed / windowMs + 1 records. One record per mover per window would be ~20 per flush.
        expect(records).toBeGreaterThan(0);
        expect(records).toBeLessThanOrEqual(rooms.length * (Math.floor(elapsed / windowMs) + 1));

        // Each watcher's map is the room as either instance serves it to a joiner now (the probes
        // themselves left out: the watcher hears of them one window later).
        const probes = new Set<string>();
        const others = (map: Record<string, unknown>) => Object.fromEntries(Object.entries(map).filter(([id]) => !probes.has(id)));
        for (const [k, w] of watchers.entries()) {
          for (const url of pair.urls) {
            const joined = await (await client(url)).join(rooms[k]!);
            probes.add(joined.connectionId);
            const snapshot = Object.fromEntries(Object.entries<any>(joined.presence).map(([id, e]) => [id, e.presence]));
            expect(others(presenceMap(w, rooms[k]!))).toEqual(others(snapshot));
          }
        }
      } finally {
        await pair.stop();
      }
    });

    it("gives a joiner on another instance every message after its first one, none twice, while the sender keeps sending", async () => {
      const prefix = `olstest:${run}:joiner:${target.clustered ? "c" : "s"}`;
      const pair = await inProcessPair(target.url(), prefix);
      try {
        const r = room();
        const sender = await client(pair.urls[0]!);
        await sender.join(r);
        const total = 2000;
        const sending = (async () => {
          for (let i = 0; i < total; i++) {
            sender.send("broadcast_event", { event: "seq", payload: i });
            if (i % 20 === 19) await pause(2);
          }
        })();
        await pause(30);
        // Several joiners on the other instance while messages flow: the first subscribes the instance.
        const joiners = [await client(pair.urls[1]!), await client(pair.urls[1]!)];
        for (const j of joiners) await j.join(r);
        await sending;
        for (const j of joiners) {
          await j.until((all) => all.some((m) => m.type === "broadcast_event" && m.payload.payload === total - 1));
          const seen = j.all("broadcast_event").map((m) => m.payload.payload as number);
          expect(seen.length).toBeGreaterThan(0);
          expect(seen).toEqual(Array.from({ length: seen.length }, (_, k) => seen[0]! + k));
        }
      } finally {
        await pair.stop();
      }
    });
  });
}

describe.skipIf(!redisCluster)("instances on a Redis Cluster", () => {
  const prefix = `olstest:${run}:cluster`;
  const { instances, clients, start, client } = instanceGroup(() => ({
    redisUrl: redisCluster!.url,
    prefix,
    heartbeatMs: 1000,
    ttlMs: 6000,
  }));
  let A: Instance, B: Instance;
  beforeAll(async () => {
    [A, B] = await Promise.all([start(), start()]);
  });
  afterAll(async () => {
    for (const c of clients) c.terminate();
    await Promise.all(instances.map((i) => i.stop()));
  });

  it("sends presence, broadcast and chat across instances with rooms on every shard", async () => {
    const rooms = Array.from({ length: 6 }, room);
    for (const r of rooms) {
      const [a, b] = [await client(A), await client(B)];
      const ja = await a.join(r, { n: 1 });
      const jb = await b.join(r);
      expect(Object.keys(jb.presence).sort()).toEqual([ja.connectionId, jb.connectionId].sort());
      await a.until(joinedOf(jb.connectionId));
      b.send("broadcast_event", { event: "hi" });
      expect((await a.next("broadcast_event")).payload.event).toBe("hi");
      a.send("send_chat", { message: "hello" });
      expect((await b.next("chat_message")).payload.message).toBe("hello");
    }
    const ports = new Set(rooms.map((r) => redisCluster!.portOf(redisKeys(prefix).room(r))));
    expect(ports.size).toBeGreaterThan(1);
  });

  it("joins Bun and Deno (Hono mount) instances to the same Redis Cluster as Node instances", async () => {
    const options = { redisPrefix: prefix, redisUrl: redisCluster!.url, presenceThrottleMs: 0 };
    const [bun, deno] = await Promise.all([startChild("bun", "standalone", options), startChild("deno", "hono", options)]);
    try {
      const r = room();
      const onNode = await client(A);
      const onBun = new TestClient(bun.wsUrl);
      const onDeno = new TestClient(deno.wsUrl);
      clients.push(onBun, onDeno);
      const jn = await onNode.join(r);
      const jb = await onBun.join(r);
      const jd = await onDeno.join(r);
      expect(Object.keys(jd.presence).sort()).toEqual([jn.connectionId, jb.connectionId, jd.connectionId].sort());
      await onNode.until(joinedOf(jd.connectionId));
      await onBun.until(joinedOf(jd.connectionId));
      onBun.send("broadcast_event", { event: "from-bun" });
      for (const x of [onNode, onDeno]) expect((await x.next("broadcast_event")).payload.connectionId).toBe(jb.connectionId);
      onDeno.send("send_chat", { message: "from deno" });
      for (const x of [onNode, onBun]) expect((await x.next("chat_message")).payload.message).toBe("from deno");
      onDeno.ws.close();
      await onNode.until(leftOf(jd.connectionId));
    } finally {
      await Promise.allSettled([bun.stop(), deno.stop()]);
    }
  });

  it("sends left for the members of a kill -9'd instance within 15 s and leaves nothing of it on any node", async () => {
    const D = await start();
    const r = room();
    const w = await client(A);
    await w.join(r);
    const d = await client(D);
    const jd = await d.join(r);
    await w.until(joinedOf(jd.connectionId));
    expect(await clusterTraces(redisCluster!, prefix, D.instanceId)).not.toEqual([]);
    const killedAt = Date.now();
    D.kill9();
    await D.exited;
    await w.until(leftOf(jd.connectionId), 15_000);
    console.log(`[scale-out-cluster] kill -9: left reached the other instance after ${Date.now() - killedAt} ms`);
    for (let i = 0; i < 40 && (await clusterTraces(redisCluster!, prefix, D.instanceId)).length > 0; i++) await pause(100);
    expect(await clusterTraces(redisCluster!, prefix, D.instanceId)).toEqual([]);
    const late = await client(B);
    expect((await late.join(r)).presence[jd.connectionId]).toBeUndefined();
  });

  it("keeps rooms on the other shards untouched while one node restarts empty, and converges the rooms on it", async (ctx) => {
    if (!redisCluster!.canRestart) return ctx.skip();
    const keys = redisKeys(prefix);
    const victim = redisCluster!.ports[1]!;
    const pick = (onVictim: boolean) => {
      for (;;) {
        const r = room();
        if ((redisCluster!.portOf(keys.room(r)) === victim) === onVictim) return r;
      }
    };
    const [hit, safe] = [pick(true), pick(false)];
    const pairs: Record<string, { a: TestClient; b: TestClient; ja: string; jb: string }> = {};
    for (const r of [hit, safe]) {
      const [a, b] = [await client(A), await client(B)];
      const ja = (await a.join(r)).connectionId;
      const jb = (await b.join(r)).connectionId;
      await a.until(joinedOf(jb));
      pairs[r] = { a, b, ja, jb };
    }
    await redisCluster!.kill(1);
    pairs[safe]!.a.send("broadcast_event", { event: "during" });
    expect((await pairs[safe]!.b.next("broadcast_event")).payload.event).toBe("during");
    await pause(1500);
    await redisCluster!.start(1);
    // The room on the restarted shard: a new joiner on either instance sees everyone again.
    for (let i = 0; ; i++) {
      const late = await client(i % 2 ? A : B);
      const jl = await late.join(hit);
      const ids = Object.keys(jl.presence);
      late.terminate();
      if (ids.includes(pairs[hit]!.ja) && ids.includes(pairs[hit]!.jb)) break;
      if (i >= 40) throw new Error(`room on the restarted shard did not converge: ${ids}`);
      await pause(500);
    }
    pairs[hit]!.b.send("broadcast_event", { event: "after" });
    expect((await pairs[hit]!.a.next("broadcast_event", 10_000)).payload.event).toBe("after");
    // Nobody in the room on the other shards was ever told anyone left.
    for (const x of [pairs[safe]!.a, pairs[safe]!.b]) expect(x.all("presence_updated").some((m) => m.payload.left)).toBe(false);
    const fatal = instances.flatMap((i) => i.errors).filter((e) => e.stage !== "backplane");
    expect(fatal).toEqual([]);
  });
});
