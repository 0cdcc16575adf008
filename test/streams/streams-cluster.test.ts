/**
 * Room streams across instances (Redis single and Cluster): a client on an instance killed with SIGKILL
 * resumes on another with every event once, in order; Redis losing its data starts a new epoch.
 */
import type { AddressInfo } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createServer, type NodeLiveServer as LiveServer } from "../../adapters/node/index.ts";
import { createRedisBackplane } from "../../src/cluster/redis-backplane.ts";
import { DIST, startInstance, type Instance } from "../helpers/cluster.ts";
import { disconnectAll, liveClient, rawClient, until, waitFor } from "../helpers/live-clients.ts";
import { startPrivateRedisCluster, type PrivateRedisCluster } from "../helpers/redis-cluster.ts";
import { startPrivateRedis } from "../helpers/redis-server.ts";
import { describeWithService, REDIS_URL } from "../helpers/services.ts";
import { closeProxies, startProxy } from "../helpers/tcp-proxy.ts";

const instances: Instance[] = [];
afterEach(async () => {
  disconnectAll();
  await closeProxies();
  await Promise.all(instances.splice(0).map((i) => i.stop()));
});

let redisCluster: PrivateRedisCluster | undefined;
beforeAll(async () => {
  redisCluster = await startPrivateRedisCluster();
}, 60_000);
afterAll(async () => {
  await redisCluster?.stop();
});

/** A client on instance A (through a proxy), A killed with SIGKILL, the proxy pointed at B: it resumes there. */
async function killedInstanceResumes(redisUrl: () => string, prefix: string) {
  const config = { redisUrl: redisUrl(), prefix: `${prefix}-${Math.random().toString(36).slice(2, 8)}` };
  const [a, b] = await Promise.all([startInstance(DIST, config), startInstance(DIST, config)]);
  instances.push(a, b);
  const target = { host: "127.0.0.1", port: a.port };
  const proxy = await startProxy(target);
  const sender = rawClient(b.wsUrl);
  await sender.join("room");
  const client = liveClient(`ws://${proxy.address}/live`);
  const got: number[] = [];
  client.onEvent("n", (payload) => got.push(payload as number));
  client.connect();
  client.joinRoom("room");
  await until(client, (s) => s.inRoom);
  for (let n = 1; n <= 100; n++) sender.send("broadcast_event", { event: "n", payload: n });
  // At most 230 are missed: within the default backlog of 256.
  await waitFor(() => got.length >= 20, "some events through A");
  a.kill9();
  await a.exited;
  target.port = b.port;
  for (let n = 101; n <= 250; n++)
    sender.send("broadcast_event", { event: "n", payload: n, ...(n === 250 ? { clientMessageId: "last" } : {}) });
  expect((await sender.next("event_ack")).payload.offset).toBe(250);
  await waitFor(
    () => got.at(-1) === 250,
    "the 250th event through B",
    20_000,
    () => JSON.stringify({ n: got.length, last: got.at(-1), state: client.getState() }).slice(0, 600),
  );
  expect(got).toEqual(Array.from({ length: 250 }, (_, i) => i + 1));
  expect(client.getState().recovered).toBe(true);
}

await describeWithService("Redis", REDIS_URL, "REDIS_URL", () => {
  describe("room streams on a single Redis", () => {
    it("a client on an instance killed with SIGKILL resumes on another with every event once, in order, recovered: true", async () => {
      await killedInstanceResumes(() => REDIS_URL, "ols-streams-kill");
    }, 60_000);
  });
});

describe("room streams on a Redis Cluster", () => {
  it("a client on an instance killed with SIGKILL resumes on another with every event once, in order, recovered: true", async (ctx) => {
    if (!redisCluster) return ctx.skip();
    await killedInstanceResumes(() => redisCluster!.url, "ols-streams-ckill");
  }, 60_000);
});

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
