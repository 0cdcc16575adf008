/**
 * Several instances on the local Redis act as one: Node child processes (test/fixtures/cluster-instance.mjs
 * over a build of the sources), plus Bun and Deno children joining the same cluster. Every run uses its
 * own key prefix, so parallel runs never meet; Redis restarts use a private redis-server, never the shared one.
 */
import { Redis } from "ioredis";
import type { AddressInfo } from "node:net";
import { spawnSync } from "node:child_process";
import { rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createServer } from "../../adapters/node/index.ts";
import { createRedisBackplane } from "../../src/cluster/redis-backplane.ts";
import { startChild } from "../fixtures/child.ts";
import { startNodeInProcess } from "../fixtures/node-inprocess.ts";
import { DIST, instanceGroup, type Instance } from "../helpers/cluster.ts";
import { pause, TestClient } from "../helpers/client.ts";
import { describeWithService, REDIS_URL } from "../helpers/services.ts";
import { startPrivateRedis } from "../helpers/redis-server.ts";
import { monitorRedis } from "../helpers/redis-monitor.ts";
import { createTcpProxy } from "../helpers/tcp-proxy.ts";
import { joinedOf, leftOf, view } from "../helpers/views.ts";
import { wireProtocolSuite } from "../suites/wire-protocol.suite.ts";

const run = `${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
const PREFIX = `olstest:${run}`;

async function keysOf(redis: Redis, pattern: string): Promise<string[]> {
  const found: string[] = [];
  let cursor = "0";
  for (let i = 0; i < 1000; i++) {
    const [next, keys] = await redis.scan(cursor, "MATCH", pattern, "COUNT", 500);
    found.push(...keys);
    cursor = next;
    if (cursor === "0") break;
  }
  return found;
}

/** Everything under `prefix` that still mentions `instanceId` (keys, hash fields, set members). */
async function traces(redis: Redis, prefix: string, instanceId: string): Promise<string[]> {
  const out: string[] = [];
  for (const key of await keysOf(redis, `${prefix}:*`)) {
    if (key.includes(instanceId)) out.push(key);
    const type = await redis.type(key);
    if (type === "hash") {
      for (const [field, value] of Object.entries(await redis.hgetall(key))) {
        if (value.startsWith(`${instanceId} `)) out.push(`${key} ${field}`);
      }
    } else if (type === "set" && (await redis.sismember(key, instanceId))) out.push(`${key} ∋ ${instanceId}`);
  }
  return out;
}

describe("createRedisBackplane", () => {
  it("refuses a missing URL and a TTL that does not outlast two heartbeats, naming the fix", () => {
    expect(() => createRedisBackplane({})).toThrow(/needs a url/);
    expect(() => createRedisBackplane({ url: REDIS_URL, heartbeatMs: 5000, ttlMs: 8000 })).toThrow(/more than twice heartbeatMs/);
    expect(() => createRedisBackplane({ url: REDIS_URL, keyPrefix: "has space" })).toThrow(/keyPrefix/);
  });

  it("loads no Redis driver when no backplane is configured", async () => {
    const dist = DIST;
    const script = `
      const { createServer } = await import(${JSON.stringify(`${dist}/node.js`)});
      const { createRequire } = await import("node:module");
      const server = createServer({ port: 0, hostname: "127.0.0.1" });
      await new Promise((r) => server.once("listening", r));
      const loaded = Object.keys(createRequire(import.meta.url).cache).filter((k) => k.includes("/ioredis/"));
      console.log(JSON.stringify(loaded));
      server.close(() => process.exit(0));
    `;
    const out = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8", timeout: 20_000 });
    expect(out.stderr).toBe("");
    expect(JSON.parse(out.stdout.trim())).toEqual([]);
  });
});

await describeWithService("Redis", REDIS_URL, "REDIS_URL", () => {
  describe("several instances over Redis", () => {
    let redis: Redis;
    const { instances, clients, start, client } = instanceGroup(() => ({ redisUrl: REDIS_URL, prefix: PREFIX }));
    let A: Instance, B: Instance, C: Instance;
    const room = () => `room-${Math.random().toString(36).slice(2, 10)}`;

    beforeAll(async () => {
      redis = new Redis(REDIS_URL);
      [A, B, C] = await Promise.all([start(), start(), start()]);
    });

    afterAll(async () => {
      for (const c of clients) c.terminate();
      await Promise.all(instances.map((i) => i.stop()));
      const keys = await keysOf(redis, `${PREFIX}*`);
      if (keys.length > 0) await redis.del(...keys);
      await redis.quit();
    });

    it("lists members of every instance in room_joined and sends joined, updated and left across instances", async () => {
      const r = room();
      const a = await client(A);
      const b = await client(B);
      const c = await client(C);
      const ja = await a.join(r, { name: "a" });
      const jb = await b.join(r, { name: "b" });
      expect(Object.keys(jb.presence).sort()).toEqual([ja.connectionId, jb.connectionId].sort());
      expect(jb.presence[ja.connectionId]).toEqual({ connectionId: ja.connectionId, presence: { name: "a" } });
      await a.until(joinedOf(jb.connectionId));
      const jc = await c.join(r, { name: "c" });
      expect(Object.keys(jc.presence).sort()).toEqual([ja.connectionId, jb.connectionId, jc.connectionId].sort());
      for (const other of [a, b]) await other.until(joinedOf(jc.connectionId));

      a.send("update_presence", { presence: { name: "a", cursor: 7 } });
      for (const other of [b, c]) {
        await other.until((all) => all.some((m) => m.payload?.updated?.[0]?.presence?.cursor === 7));
      }
      const later = await client(B);
      const jl = await later.join(r);
      expect(jl.presence[ja.connectionId].presence).toEqual({ name: "a", cursor: 7 });

      b.send("leave_room", { roomId: r });
      await a.until(leftOf(jb.connectionId));
      await c.until(leftOf(jb.connectionId));
      c.ws.close();
      await a.until(leftOf(jc.connectionId));
      expect(view(a, r)).toEqual([ja.connectionId, jl.connectionId].sort());
      expect(a.all("presence_updated").filter((m) => m.payload.joined?.some((e: any) => e.connectionId === jb.connectionId))).toHaveLength(
        1,
      );
    });

    it("relays broadcast_event to all instances without echo, and chat once to each with the same id and createdAt", async () => {
      const r = room();
      const [a, b, c] = [await client(A), await client(B), await client(C)];
      const ja = await a.join(r);
      await b.join(r);
      await c.join(r);
      await pause(100);
      a.send("broadcast_event", { event: "ping", payload: { n: 1 } });
      for (const other of [b, c]) {
        expect((await other.next("broadcast_event")).payload).toEqual({
          offset: 1, // one authority per room: the same offset on every instance
          roomId: r,
          connectionId: ja.connectionId,
          event: "ping",
          payload: { n: 1 },
        });
      }
      b.send("send_chat", { message: "hello from B" });
      const copies = [await a.next("chat_message"), await b.next("chat_message"), await c.next("chat_message")];
      expect(copies[1]!.payload).toEqual(copies[0]!.payload);
      expect(copies[2]!.payload).toEqual(copies[0]!.payload);
      await pause(200);
      expect(a.all("broadcast_event")).toEqual([]);
      for (const x of [a, b, c]) expect(x.all("chat_message")).toHaveLength(1);
    });

    it("sends each room message through Redis once, in at most one PUBLISH, however many receivers and instances", async () => {
      const r = room();
      const sender = await client(A);
      const receivers = [await client(A), await client(B), await client(B), await client(C), await client(C)];
      const js = await sender.join(r);
      for (const x of receivers) await x.join(r);
      await pause(200);
      const published: string[] = [];
      const monitor = await monitorRedis(REDIS_URL, (args) => {
        if (args[0]?.toLowerCase() === "publish" && args[1] === `${PREFIX}:ch:{${r}}` && args[2]?.includes(js.connectionId))
          published.push(args[2]);
      });
      try {
        for (let i = 0; i < 100; i++) sender.send("broadcast_event", { event: "count", payload: i });
        for (const x of receivers) await x.until((all) => all.filter((m) => m.type === "broadcast_event").length === 100);
        await pause(200);
      } finally {
        monitor.close();
      }
      // A burst may share a PUBLISH (records joined by newlines); each message is in exactly one.
      const head = `"e",${JSON.stringify(r)},"${js.connectionId}"]`;
      const records = published.reduce((n, payload) => n + payload.split(head).length - 1, 0);
      expect(records).toBe(100);
      expect(published.length).toBeGreaterThan(0);
      expect(published.length).toBeLessThanOrEqual(100);
    });

    it("writes a joining member into shared state before the PUBLISH that announces it", async () => {
      const r = room();
      const a = await client(A);
      const seen: string[] = [];
      const monitor = await monitorRedis(REDIS_URL, (args) => {
        const command = args[0]?.toLowerCase();
        if (command === "hset" && args[1] === `${PREFIX}:room:{${r}}`) seen.push(`hset ${args[2]}`);
        if (command === "publish" && args[1] === `${PREFIX}:ch:{${r}}` && args[2]?.includes(`"p",${JSON.stringify(r)}`))
          seen.push("publish");
      });
      let joined: string;
      try {
        joined = (await a.join(r)).connectionId;
        for (let i = 0; i < 100 && !seen.includes("publish"); i++) await pause(20);
      } finally {
        monitor.close();
      }
      // A peer that hears the join and then reads the room must find the member there.
      expect(seen).toEqual([`hset ${joined}`, "publish"]);
    });

    it("keeps each sender's order at every receiver across instances (1,000 messages per sender)", async () => {
      const r = room();
      const [sa, sb, ra, rb, rc] = [await client(A), await client(B), await client(A), await client(B), await client(C)];
      const jsa = await sa.join(r);
      const jsb = await sb.join(r);
      for (const x of [ra, rb, rc]) await x.join(r);
      await pause(100);
      for (let i = 0; i < 1000; i++) {
        sa.send("broadcast_event", { event: "seq", payload: i });
        sb.send("broadcast_event", { event: "seq", payload: i });
        if (i % 10 === 0) sa.send("send_chat", { message: `chat ${i / 10}` });
      }
      const seqFrom = (x: TestClient, id: string) =>
        x
          .all("broadcast_event")
          .filter((m) => m.payload.connectionId === id)
          .map((m) => m.payload.payload);
      const expected = Array.from({ length: 1000 }, (_, i) => i);
      const chats = Array.from({ length: 100 }, (_, i) => `chat ${i}`);
      for (const x of [ra, rb, rc]) {
        await x.until(
          (all) =>
            all.filter((m) => m.type === "broadcast_event").length >= 2000 && all.filter((m) => m.type === "chat_message").length >= 100,
          20_000,
        );
        expect(seqFrom(x, jsa.connectionId)).toEqual(expected);
        expect(seqFrom(x, jsb.connectionId)).toEqual(expected);
        expect(x.all("chat_message").map((m) => m.payload.message)).toEqual(chats);
      }
    });

    it("sends left for the members of a kill -9'd instance within 15 s and leaves nothing of it in Redis", async () => {
      const D = await start();
      const r = room();
      const [wa, wb] = [await client(A), await client(B)];
      await wa.join(r);
      await wb.join(r);
      const doomed = [await client(D), await client(D)];
      const ids: string[] = [];
      for (const d of doomed) ids.push((await d.join(r, { on: "D" })).connectionId);
      for (const id of ids) await wa.until(joinedOf(id));
      expect(await traces(redis, PREFIX, D.instanceId)).not.toEqual([]);

      const killedAt = Date.now();
      D.kill9();
      await D.exited;
      for (const w of [wa, wb]) await w.until((all) => ids.every((id) => leftOf(id)(all)), 15_000);
      console.log(`[scale-out] kill -9: left reached the other instances after ${Date.now() - killedAt} ms`);
      expect(view(wa, r)).not.toContain(ids[0]);
      // The sweep runs in the same tick as the local removal; give its reply a moment.
      for (let i = 0; i < 40 && (await traces(redis, PREFIX, D.instanceId)).length > 0; i++) await pause(100);
      expect(await traces(redis, PREFIX, D.instanceId)).toEqual([]);
      // A joiner never sees the dead instance's members.
      const late = await client(C);
      const jl = await late.join(r);
      for (const id of ids) expect(jl.presence[id]).toBeUndefined();
    });

    it("removes the members of a cleanly stopped instance at once, without waiting for the TTL", async () => {
      const E = await start();
      const r = room();
      const w = await client(A);
      await w.join(r);
      const e = await client(E);
      const je = await e.join(r);
      await w.until(joinedOf(je.connectionId));
      await E.stop();
      // Well inside the 10 s TTL: the leave was published on shutdown.
      await w.until(leftOf(je.connectionId), 5000);
      expect(await traces(redis, PREFIX, E.instanceId)).toEqual([]);
    });

    it("keeps serving local clients while Redis is cut off, and converges once it is back", async () => {
      const target = new URL(REDIS_URL);
      const proxy = createTcpProxy({ host: target.hostname, port: Number(target.port) || 6379 });
      await proxy.start();
      try {
        const fast = { heartbeatMs: 500, ttlMs: 3000 };
        const X = await start({ ...fast, redisUrl: `redis://${proxy.address}` });
        const Y = await start(fast);
        const r = room();
        const [x1, x2, y1, y2] = [await client(X), await client(X), await client(Y), await client(Y)];
        const jx1 = await x1.join(r);
        const jx2 = await x2.join(r);
        await y1.join(r);
        const jy2 = await y2.join(r);
        await x1.until(joinedOf(jy2.connectionId));

        proxy.cut();
        // Local service goes on: X's clients still talk to each other.
        x1.send("broadcast_event", { event: "during-cut" });
        expect((await x2.next("broadcast_event")).payload.event).toBe("during-cut");
        x1.send("send_chat", { message: "local chat during the cut" });
        expect((await x2.next("chat_message")).payload.message).toBe("local chat during the cut");
        // Meanwhile Y changes: one member leaves, one arrives; Y drops X's members after the TTL.
        y2.ws.close();
        const y3 = await client(Y);
        const jy3 = await y3.join(r);
        await y1.until(leftOf(jx1.connectionId), 10_000);
        const cutFor = Date.now();
        proxy.restore();

        // Everyone converges to the truth without reconnecting.
        const truth = [
          jx1.connectionId,
          jx2.connectionId,
          jy3.connectionId,
          y1.received.find((m) => m.type === "room_joined")!.payload.connectionId,
        ].sort();
        for (const x of [x1, x2, y1, y3]) await x.until(() => JSON.stringify(view(x, r)) === JSON.stringify(truth), 15_000);
        console.log(`[scale-out] Redis cut: all views converged ${Date.now() - cutFor} ms after the link came back`);
        x1.send("broadcast_event", { event: "after-cut" });
        expect((await y3.next("broadcast_event")).payload.event).toBe("after-cut");
        expect(X.errors.some((e) => e.stage === "backplane")).toBe(true);
        expect([x1, x2, y1, y3].every((x) => x.ws.readyState === 1)).toBe(true);
      } finally {
        await proxy.close();
      }
    });

    it("converges after a cut shorter than the TTL: changes made meanwhile on both sides reach the other", async () => {
      const target = new URL(REDIS_URL);
      const proxy = createTcpProxy({ host: target.hostname, port: Number(target.port) || 6379 });
      await proxy.start();
      try {
        const X = await start({ redisUrl: `redis://${proxy.address}` });
        const r = room();
        const [x1, x2, y1] = [await client(X), await client(X), await client(A)];
        await x1.join(r);
        const jx2 = await x2.join(r, { v: 1 });
        const jy1 = await y1.join(r);
        await x1.until(joinedOf(jy1.connectionId));
        // y1 learns of x2 from the snapshot or, when the two joins raced, from the joined diff.
        await y1.until(() => view(y1, r).includes(jx2.connectionId));

        proxy.cut();
        x1.ws.close();
        x2.send("update_presence", { presence: { v: 2 } });
        const y2 = await client(B);
        const jy2 = await y2.join(r);
        await pause(500);
        proxy.restore();

        await x2.until(joinedOf(jy2.connectionId), 10_000);
        await y1.until((all) => leftOf(x1.received.find((m) => m.type === "room_joined")!.payload.connectionId)(all), 10_000);
        await y2.until(
          (all) =>
            all.some((m) => m.payload?.updated?.[0]?.presence?.v === 2) ||
            all.some((m) => m.payload?.presence?.[jx2.connectionId]?.presence?.v === 2),
          10_000,
        );
        expect(view(x2, r)).toEqual(view(y1, r));
        expect(view(y2, r)).toEqual(view(y1, r));
        expect(X.errors.filter((e) => e.stage !== "backplane")).toEqual([]);
      } finally {
        await proxy.close();
      }
    });

    it("converges after Redis itself restarts empty, without clients reconnecting or seeing members flicker", async (ctx) => {
      const own = await startPrivateRedis();
      if (!own) return ctx.skip();
      const config = { redisUrl: own.url, heartbeatMs: 1000, ttlMs: 6000 };
      const [X, Y] = await Promise.all([start(config), start(config)]);
      try {
        const r = room();
        const [x1, x2, y1] = [await client(X), await client(X), await client(Y)];
        const jx1 = await x1.join(r);
        const _jx2 = await x2.join(r);
        const jy1 = await y1.join(r);
        await x1.until(joinedOf(jy1.connectionId));

        await own.kill();
        x1.send("broadcast_event", { event: "while-redis-is-down" });
        expect((await x2.next("broadcast_event")).payload.event).toBe("while-redis-is-down");
        x2.ws.close();
        const y2 = await client(Y);
        const jy2 = await y2.join(r);
        await pause(1500);
        const restartedAt = Date.now();
        await own.start();

        const truth = [jx1.connectionId, jy1.connectionId, jy2.connectionId].sort();
        for (const x of [x1, y1, y2]) await x.until(() => JSON.stringify(view(x, r)) === JSON.stringify(truth), 20_000);
        console.log(`[scale-out] Redis restart: all views converged ${Date.now() - restartedAt} ms after Redis came back`);
        // Nobody who stayed was ever reported gone while the instances found each other again.
        expect(x1.all("presence_updated").some((m) => m.payload.left?.includes(jy1.connectionId))).toBe(false);
        expect(y1.all("presence_updated").some((m) => m.payload.left?.includes(jx1.connectionId))).toBe(false);
        // Shared state was rebuilt: a new joiner anywhere gets the truth.
        const z = await client(X);
        const jz = await z.join(r);
        expect(Object.keys(jz.presence).sort()).toEqual([...truth, jz.connectionId].sort());
        x1.send("broadcast_event", { event: "after-restart" });
        expect((await y2.next("broadcast_event")).payload.event).toBe("after-restart");
        for (const i of [X, Y]) expect(i.errors.filter((e) => e.stage !== "backplane")).toEqual([]);
      } finally {
        // Stop them first: their reconnect attempts must not find whatever takes the port next.
        await Promise.all([X.stop(), Y.stop()]);
        await own.stop();
      }
    });

    it("drops and reports garbled and foreign messages on the channel, and keeps working", async () => {
      const r = room();
      const [a, b] = [await client(A), await client(B)];
      await a.join(r);
      const jb = await b.join(r);
      await a.until(joinedOf(jb.connectionId));
      const before = A.errors.length;
      await redis.publish(`${PREFIX}:ch:{${r}}`, "definitely not openlivesync");
      await pause(1100); // foreign-message reports are capped at one per second
      await redis.publish(`${PREFIX}:ch:{${r}}`, `["ols1","someone","e",${JSON.stringify(r)},"conn"]\n{not json`);
      await redis.publish(
        `${PREFIX}:ch:{${r}}`,
        `["ols1","someone","j",${JSON.stringify(r)},"conn"]\n{"type":"presence_updated","payload":{"roomId":${JSON.stringify(r)}}}`,
      );
      b.send("broadcast_event", { event: "still-here" });
      expect((await a.next("broadcast_event")).payload.event).toBe("still-here");
      await a.until(() => A.errors.length >= before + 3);
      expect(A.errors.slice(before).every((e) => e.stage === "backplane" && e.code === "BACKPLANE_ERROR")).toBe(true);
      expect(view(a, r)).toHaveLength(2);
      expect(a.all("broadcast_event")).toHaveLength(1);
    });

    it("keeps rooms of the same name apart under different key prefixes", async () => {
      const other = await start({ prefix: `${PREFIX}-other` });
      try {
        const r = room();
        const [a, o] = [await client(A), await client(other)];
        const ja = await a.join(r);
        const jo = await o.join(r);
        expect(Object.keys(jo.presence)).toEqual([jo.connectionId]);
        o.send("broadcast_event", { event: "other-cluster" });
        a.send("broadcast_event", { event: "this-cluster" });
        await pause(300);
        expect(a.all("broadcast_event")).toEqual([]);
        expect(o.all("broadcast_event")).toEqual([]);
        expect(view(a, r)).toEqual([ja.connectionId]);
      } finally {
        await other.stop();
        const keys = await keysOf(redis, `${PREFIX}-other*`);
        if (keys.length > 0) await redis.del(...keys);
      }
    });

    it("joins Bun, Deno and a Hono mount to the same cluster as Node instances", async () => {
      const options = { redisPrefix: PREFIX, redisUrl: REDIS_URL, presenceThrottleMs: 0 };
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
        const copies = await Promise.all([onNode, onBun, onDeno].map((x) => x.next("chat_message")));
        for (const copy of copies) expect(copy.payload).toEqual(copies[0]!.payload);
        onDeno.ws.close();
        await onNode.until(leftOf(jd.connectionId));
        await onBun.until(leftOf(jd.connectionId));
      } finally {
        await Promise.allSettled([bun.stop(), deno.stop()]);
      }
      // Their clean shutdown took them out of the registry: only the Node instances of this run remain.
      const nodeIds = new Set(instances.map((i) => i.instanceId));
      expect((await redis.smembers(`${PREFIX}:instances`)).filter((id) => !nodeIds.has(id))).toEqual([]);
    });

    it("serves one chat history from shared storage on every instance, each message stored once", async () => {
      const file = join(tmpdir(), `ols-scale-out-${run}.sqlite`);
      const options = { redisPrefix: PREFIX, redisUrl: REDIS_URL, sqliteFile: file };
      // One after the other: two processes creating the same new SQLite file at once can hit "database is locked".
      const one = await startChild("node", "standalone", options);
      const two = await startChild("node", "standalone", options).catch(async (error) => {
        await one.stop();
        throw error;
      });
      try {
        const r = room();
        const a = new TestClient(one.wsUrl);
        const b = new TestClient(two.wsUrl);
        clients.push(a, b);
        await a.join(r);
        await b.join(r);
        a.send("send_chat", { message: "sent on one" });
        const fromA = (await b.next("chat_message")).payload;
        expect((await a.next("chat_message")).payload).toEqual(fromA); // the sender's own copy
        b.send("send_chat", { message: "sent on two" });
        const fromB = (await a.next("chat_message")).payload;
        expect(fromB.message).toBe("sent on two");
        for (const fixture of [one, two]) {
          const late = new TestClient(fixture.wsUrl);
          clients.push(late);
          const joined = await late.join(r);
          // History is stored messages: no stream offset.
          expect(joined.chatHistory).toEqual([fromA, fromB].map(({ offset: _o, ...stored }) => stored));
        }
      } finally {
        await Promise.allSettled([one.stop(), two.stop()]);
        for (const suffix of ["", "-wal", "-shm"]) rmSync(file + suffix, { force: true });
      }
    });

    it("stores nothing for a clientMessageId repeated on another instance, nor for two racing on two instances, and resumes across instances", async () => {
      const file = join(tmpdir(), `ols-scale-out-once-${run}.sqlite`);
      const options = { redisPrefix: PREFIX, redisUrl: REDIS_URL, sqliteFile: file, onAuth: "x-user" as const };
      const one = await startChild("node", "standalone", options);
      const two = await startChild("node", "standalone", options).catch(async (error) => {
        await one.stop();
        throw error;
      });
      try {
        const r = room();
        const as = (fixture: { wsUrl: string }, user: string) => {
          const c = new TestClient(fixture.wsUrl, { headers: { "x-user": user } });
          clients.push(c);
          return c;
        };
        const [a1, a2, watcher] = [as(one, "alice"), as(two, "alice"), as(two, "watcher")];
        for (const c of [a1, a2, watcher]) await c.join(r);
        a1.send("send_chat", { message: "once", clientMessageId: "x-1" });
        const original = (await a1.next("chat_message")).payload;
        expect((await watcher.next("chat_message")).payload).toEqual(original);
        // The same user repeats it through the other instance: only that connection hears it again.
        a2.send("send_chat", { message: "once", clientMessageId: "x-1" });
        await a2.until((all) => all.filter((m) => m.type === "chat_message" && m.payload.clientMessageId === "x-1").length === 2);
        // The repeat's answer has no offset here (its instance's stream is in Redis, which keeps no chat ids).
        const { offset: _o, ...stored } = original;
        expect(a2.all("chat_message").map(({ payload: { offset: _x, ...p } }) => p)).toEqual([stored, stored]);
        // Racing: both instances get the same id at once; one row, one broadcast.
        a1.send("send_chat", { message: "race", clientMessageId: "x-2" });
        a2.send("send_chat", { message: "race", clientMessageId: "x-2" });
        const raced = (c: TestClient) =>
          c
            .all("chat_message")
            .filter((m) => m.payload.clientMessageId === "x-2")
            .map((m) => m.payload.id);
        await a1.until(() => raced(a1).length > 0);
        await a2.until(() => raced(a2).length > 0);
        expect(new Set([...raced(a1), ...raced(a2)]).size).toBe(1);
        // One marker from each instance, sent after its racer's answer: once the watcher has both, every
        // broadcast of the race has reached it (the backplane keeps each instance's order).
        a1.send("send_chat", { message: "marker one" });
        a2.send("send_chat", { message: "marker two" });
        const texts = () => watcher.all("chat_message").map((m) => m.payload.message);
        await watcher.until(() => texts().includes("marker one") && texts().includes("marker two"));
        expect(texts().filter((t) => t === "race")).toHaveLength(1);
        expect(texts()).toHaveLength(4);
        // A client of one instance resumes on the other.
        const late = as(one, "late");
        const joined = await late.join(r, undefined, { lastMessageId: original.id });
        expect(joined.resumed).toBe(true);
        expect(joined.chatHistory.map((m: any) => m.message).sort()).toEqual(["marker one", "marker two", "race"]);
      } finally {
        await Promise.allSettled([one.stop(), two.stop()]);
        for (const suffix of ["", "-wal", "-shm"]) rmSync(file + suffix, { force: true });
      }
    });

    it("never lets a Redis failure become an unhandled rejection or exception in any instance", () => {
      const fatal = instances.flatMap((i) => i.errors).filter((e) => e.stage.startsWith("unhandled") || e.stage.startsWith("uncaught"));
      expect(fatal).toEqual([]);
    });

    it("warns at start-up when a backplane is combined with in-memory chat history", async () => {
      const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
      const server = createServer({
        port: 0,
        hostname: "127.0.0.1",
        backplane: createRedisBackplane({ url: REDIS_URL, keyPrefix: `${PREFIX}-warn` }),
      });
      await new Promise<void>((resolve) => server.once("listening", resolve));
      expect((server.address() as AddressInfo).port).toBeGreaterThan(0);
      expect(warn.mock.calls.filter((call) => String(call[0]).includes("chat history is in memory"))).toHaveLength(1);
      // With history off there is nothing to share, and nothing to warn about.
      const quiet = createServer({
        port: 0,
        hostname: "127.0.0.1",
        chat: { historyLimit: 0 },
        backplane: createRedisBackplane({ url: REDIS_URL, keyPrefix: `${PREFIX}-warn-quiet` }),
      });
      await new Promise<void>((resolve) => quiet.once("listening", resolve));
      expect(warn.mock.calls.filter((call) => String(call[0]).includes("chat history is in memory"))).toHaveLength(1);
      warn.mockRestore();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await new Promise<void>((resolve) => quiet.close(() => resolve()));
    });
  });

  let single = 0;
  wireProtocolSuite("Node with a Redis backplane (one instance)", (options) =>
    startNodeInProcess({ ...options, redisPrefix: `${PREFIX}-single-${single++}` }),
  );
});
