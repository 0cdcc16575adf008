/**
 * One instance's link to a Redis Cluster cut and restored, through loopback TCP proxies (the cluster
 * version of test/cluster/redis-instances.test.ts's Redis cut). ioredis's `Cluster` learns node addresses from
 * `CLUSTER SLOTS` and connects to every node, so one proxy in front of a startup node is not enough: each node
 * gets its own proxy, the instance starts from the proxies and maps every announced node address to
 * its proxy (`natMap`). The other instance and the test read the cluster directly.
 */
import { Cluster } from "ioredis";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { redisKeys } from "../../src/cluster/redis-codec.ts";
import { DIST, startInstance, type Instance, type InstanceConfig } from "../helpers/cluster.ts";
import { pause, TestClient } from "../helpers/client.ts";
import { startPrivateRedisCluster, type PrivateRedisCluster } from "../helpers/redis-cluster.ts";
import { createTcpProxy, type TcpProxy } from "../helpers/tcp-proxy.ts";
import { joinedOf, leftOf, repeatedNews, view } from "../helpers/views.ts";

const run = `${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
const room = () => `room-${Math.random().toString(36).slice(2, 10)}`;

let redisCluster: PrivateRedisCluster | undefined;
try {
  redisCluster = await startPrivateRedisCluster();
} catch (error) {
  console.warn(`[skip] Redis Cluster cut tests: ${error}`);
}
if (!redisCluster && process.env.CI === "true") {
  it("starts a Redis Cluster (required when CI=true)", () => {
    throw new Error("No Redis Cluster: install redis-server and redis-cli, or set REDIS_CLUSTER_URL");
  });
}

/** The numbers of the `tag` broadcasts a client received, in arrival order. */
const seqs = (c: TestClient, tag: string) =>
  c
    .all("broadcast_event")
    .filter((m) => m.payload.event === tag)
    .map((m) => m.payload.payload);

/** Received `tag` #k … #sent-1 exactly once each and in order: a suffix of what was sent, nothing twice. */
function expectSuffix(c: TestClient, tag: string, sent: number): void {
  const got = seqs(c, tag);
  expect(got.length).toBeGreaterThan(0);
  expect(got).toEqual(Array.from({ length: got.length }, (_, k) => sent - got.length + k));
}

/**
 * `from` broadcasts `tag` #0, #1, … every 200 ms until `to` (on the other instance) heard one: the link
 * may still be coming back (ioredis resubscribes with backoff). Returns how many were sent.
 */
async function sendUntilHeard(from: TestClient, to: TestClient, tag: string, timeoutMs = 15_000): Promise<number> {
  const heard = () => seqs(to, tag).length > 0;
  const deadline = Date.now() + timeoutMs;
  let sent = 0;
  while (!heard()) {
    if (Date.now() > deadline) throw new Error(`"${tag}" never crossed in ${timeoutMs} ms`);
    from.send("broadcast_event", { event: tag, payload: sent++ });
    await to.until(heard, 200).catch(() => {});
  }
  return sent;
}

/** Waits until every client shows exactly `truth` in `roomId`; the error names the views that differ. */
async function converge(clients: TestClient[], roomId: string, truth: string[], timeoutMs = 15_000): Promise<void> {
  const same = (c: TestClient) => JSON.stringify(view(c, roomId)) === JSON.stringify(truth);
  const deadline = Date.now() + timeoutMs;
  while (!clients.every(same)) {
    if (Date.now() > deadline)
      throw new Error(`views of ${roomId} did not converge to ${truth}: ${clients.map((c) => view(c, roomId)).join(" | ")}`);
    await pause(50);
  }
}

describe.skipIf(!redisCluster)("one instance cut off from the Redis Cluster", () => {
  const instances: Instance[] = [];
  const clients: TestClient[] = [];
  let proxies: TcpProxy[] = [];
  let direct: Cluster;
  /** Through the proxies: startup nodes and every announced node address map to them. */
  let proxied: Pick<InstanceConfig, "redisUrl" | "natMap">;

  const start = async (config: Partial<InstanceConfig>) => {
    const instance = await startInstance(DIST, { redisUrl: redisCluster!.url, prefix, ...config });
    instances.push(instance);
    return instance;
  };
  const client = async (on: Instance) => {
    const c = new TestClient(on.wsUrl);
    clients.push(c);
    await c.opened;
    return c;
  };
  let prefix = "";
  let keys = redisKeys("unset");
  /** A fresh room whose slot the node at `port` serves. */
  const roomOn = (port: number) => {
    for (;;) {
      const r = room();
      if (redisCluster!.portOf(keys.room(r)) === port) return r;
    }
  };
  /** Members of a room as shared state holds them. */
  const stored = async (roomId: string) => Object.keys(await direct.hgetall(keys.room(roomId))).sort();

  beforeEach(() => {
    prefix = `olstest:${run}:cut:${Math.random().toString(36).slice(2, 8)}`;
    keys = redisKeys(prefix);
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.terminate();
    // An instance that does not exit on SIGTERM is killed (the cluster must still be stopped) and fails the test.
    const hung: string[] = [];
    const stop = async (i: Instance) => {
      if (await Promise.race([i.stop().then(() => true), pause(10_000).then(() => false)])) return;
      hung.push(i.instanceId);
      i.kill9();
      await i.exited;
    };
    await Promise.all(instances.splice(0).map(stop));
    for (const p of proxies) p.restore();
    expect(hung).toEqual([]);
  });
  beforeAll(async () => {
    const { ports } = redisCluster!;
    proxies = ports.map((port) => createTcpProxy({ host: "127.0.0.1", port }));
    await Promise.all(proxies.map((p) => p.start()));
    proxied = {
      redisUrl: proxies.map((p) => `redis://${p.address}`).join(","),
      natMap: Object.fromEntries(ports.map((port, i) => [`127.0.0.1:${port}`, { host: "127.0.0.1", port: proxies[i]!.port }])),
    };
    direct = new Cluster(ports.map((port) => ({ host: "127.0.0.1", port })));
  });
  afterAll(async () => {
    await Promise.all(proxies.map((p) => p.close()));
    direct?.disconnect();
    await redisCluster?.stop();
  });

  it("converges after a cut from every node longer than the TTL: no ghosts, no news twice, local service meanwhile", async () => {
    const fast = { heartbeatMs: 500, ttlMs: 3000 };
    const [X, Y] = await Promise.all([start({ ...fast, ...proxied }), start(fast)]);
    const rooms = redisCluster!.ports.map(roomOn); // one room on each shard
    const members: { r: string; x1: TestClient; x2: TestClient; y1: TestClient; y2: TestClient; ids: string[] }[] = [];
    for (const r of rooms) {
      const [x1, x2, y1, y2] = [await client(X), await client(X), await client(Y), await client(Y)];
      const ids = [];
      for (const c of [x1, x2, y1, y2]) ids.push((await c.join(r)).connectionId as string);
      for (const c of [x1, x2, y1, y2]) await c.until(() => view(c, r).length === 4);
      members.push({ r, x1, x2, y1, y2, ids });
    }
    // X reaches every node, and only through its proxy (X holds a room on each shard).
    expect(proxies.every((p) => p.connections > 0)).toBe(true);

    for (const p of proxies) p.cut();
    for (const { x1, x2 } of members) {
      x1.send("broadcast_event", { event: "during-cut", payload: 0 });
      expect((await x2.next("broadcast_event")).payload.event).toBe("during-cut");
    }
    // Meanwhile Y changes: one member leaves, one arrives; Y drops X's members after the TTL.
    const arrivals: { y3: TestClient; id: string }[] = [];
    for (const m of members) {
      m.y2.ws.close();
      const y3 = await client(Y);
      arrivals.push({ y3, id: (await y3.join(m.r)).connectionId as string });
    }
    for (const m of members) await m.y1.until(leftOf(m.ids[0]!), 10_000);
    const cutEnded = Date.now();
    for (const p of proxies) p.restore();

    const truths = members.map((m, i) => [m.ids[0]!, m.ids[1]!, m.ids[2]!, arrivals[i]!.id].sort());
    for (const [i, m] of members.entries()) {
      const { y3 } = arrivals[i]!;
      const truth = truths[i]!;
      await converge([m.x1, m.x2, m.y1, y3], m.r, truth);
      for (let n = 0; n < 40 && JSON.stringify(await stored(m.r)) !== JSON.stringify(truth); n++) await pause(100);
      expect(await stored(m.r)).toEqual(truth); // no ghost of y2 (left during the cut) in shared state
      for (const c of [m.x1, m.x2, m.y1, y3]) expect(repeatedNews(c, m.r)).toEqual([]);
    }
    console.log(
      `[scale-out-cluster-cut] every node cut: views and shared state converged ${Date.now() - cutEnded} ms after the link came back`,
    );
    for (const [i, m] of members.entries()) {
      const { y3 } = arrivals[i]!;
      // Broadcasts cross both ways again (once the link is fully back), each at most once, in order.
      const out = await sendUntilHeard(m.x1, y3, "after-cut");
      const back = await sendUntilHeard(y3, m.x2, "back");
      await pause(300);
      for (const c of [y3, m.y1]) expectSuffix(c, "after-cut", out);
      for (const c of [m.x1, m.x2]) expectSuffix(c, "back", back);
      expect(seqs(m.x2, "after-cut")).toHaveLength(out);
      expect(seqs(m.y1, "back")).toHaveLength(back);
      // The one sent during the cut stayed on X, once.
      expect(seqs(m.x2, "during-cut")).toEqual([0]);
      for (const c of [m.y1, y3]) expect(seqs(c, "during-cut")).toEqual([]);
      // A joiner on either side gets exactly the truth (the second one also the first, once Y shows it).
      const onX = await client(X);
      const jx = await onX.join(m.r);
      expect(Object.keys(jx.presence).sort()).toEqual([...truths[i]!, jx.connectionId].sort());
      await m.y1.until(joinedOf(jx.connectionId));
      const onY = await client(Y);
      const jy = await onY.join(m.r);
      expect(Object.keys(jy.presence).sort()).toEqual([...truths[i]!, jx.connectionId, jy.connectionId].sort());
    }
    expect(X.errors.some((e) => e.stage === "backplane")).toBe(true);
    for (const i of [X, Y]) expect(i.errors.filter((e) => e.stage !== "backplane")).toEqual([]);
  }, 60_000); // about 30 s on a loaded machine

  it("keeps rooms on the other shards crossing while the link to one node is cut shorter than the TTL, and converges that node's rooms", async () => {
    // Room streams on (the default): a message on a safe shard once reached the cut instance's channel
    // after a resync's backlog read taken before it, and its gap was skipped (see shared-streams-order.test.ts).
    const config = { heartbeatMs: 500, ttlMs: 6000 };
    const [X, Y] = await Promise.all([start({ ...config, ...proxied }), start(config)]);
    const victim = 1;
    const [hit, safe] = [roomOn(redisCluster!.ports[victim]!), roomOn(redisCluster!.ports[(victim + 1) % 3]!)];
    const pairs: Record<string, { x: TestClient; y: TestClient; jx: string; jy: string }> = {};
    for (const r of [hit, safe]) {
      const [x, y] = [await client(X), await client(Y)];
      const jx = (await x.join(r)).connectionId as string;
      const jy = (await y.join(r)).connectionId as string;
      await x.until(joinedOf(jy));
      await y.until(() => view(y, r).length === 2);
      pairs[r] = { x, y, jx, jy };
    }

    proxies[victim]!.cut();
    // The other shards carry on both ways, as if nothing happened.
    for (let i = 0; i < 5; i++) {
      pairs[safe]!.x.send("broadcast_event", { event: `x${i}` });
      pairs[safe]!.y.send("broadcast_event", { event: `y${i}` });
      await pause(100);
    }
    await pairs[safe]!.y.until((all) => all.filter((m) => m.type === "broadcast_event").length === 5);
    await pairs[safe]!.x.until((all) => all.filter((m) => m.type === "broadcast_event").length === 5);
    // The room on the cut shard changes on both sides meanwhile.
    const [x2, y2] = [await client(X), await client(Y)];
    const jx2 = (await x2.join(hit)).connectionId as string;
    const jy2 = (await y2.join(hit)).connectionId as string;
    pairs[hit]!.y.ws.close();
    await pause(1000);
    const cutEnded = Date.now();
    proxies[victim]!.restore();

    const truth = [pairs[hit]!.jx, jx2, jy2].sort();
    await converge([pairs[hit]!.x, x2, y2], hit, truth);
    for (let n = 0; n < 40 && JSON.stringify(await stored(hit)) !== JSON.stringify(truth); n++) await pause(100);
    expect(await stored(hit)).toEqual(truth);
    console.log(`[scale-out-cluster-cut] one node cut: its room converged ${Date.now() - cutEnded} ms after the link came back`);
    const after = await sendUntilHeard(x2, y2, "after");
    await pause(300);
    expectSuffix(y2, "after", after);
    for (const c of [pairs[hit]!.x, x2, y2]) expect(repeatedNews(c, hit)).toEqual([]);
    // Nobody in the room on the other shard was told anyone left, and each broadcast came once.
    for (const c of [pairs[safe]!.x, pairs[safe]!.y]) {
      expect(c.all("presence_updated").some((m) => m.payload.left)).toBe(false);
      expect(c.all("broadcast_event")).toHaveLength(5);
    }
    for (const i of [X, Y]) expect(i.errors.filter((e) => e.stage !== "backplane")).toEqual([]);
  }, 60_000);
});
