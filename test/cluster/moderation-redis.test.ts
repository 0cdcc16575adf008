/**
 * Moderation across instances on the local Redis: a ban made on one instance closes the user's sockets
 * on another and refuses its joins there, also on an instance started after the ban (the ban is in
 * Redis, with a TTL when timed); a deleted chat message reaches members on every instance.
 */
import { Redis } from "ioredis";
import { afterAll, expect, it } from "vitest";
import { startNodeInProcess } from "../fixtures/node-inprocess.ts";
import type { FixtureOptions } from "../fixtures/options.ts";
import { TestClient } from "../helpers/client.ts";
import { describeWithService, REDIS_URL } from "../helpers/services.ts";
import { API_SECRET, answer, httpApi } from "../suites/http-api.suite.ts";
import type { Fixture } from "../suites/wire-protocol.suite.ts";

const PREFIX = `olstest:mod:${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
const options: FixtureOptions = { apiSecret: API_SECRET, onAuth: "x-user", redisPrefix: PREFIX, redisUrl: REDIS_URL };

await describeWithService("Redis", REDIS_URL, "REDIS_URL", () => {
  const started: Fixture[] = [];
  const clients: TestClient[] = [];
  const start = async () => {
    const fixture = await startNodeInProcess(options);
    started.push(fixture);
    return fixture;
  };
  const as = async (fixture: Fixture, user: string, roomId?: string) => {
    const c = new TestClient(fixture.wsUrl, { headers: { "x-user": user } });
    clients.push(c);
    await c.opened;
    if (roomId !== undefined) await c.join(roomId);
    return c;
  };
  const room = () => `mod room/${Math.random().toString(36).slice(2, 10)}`;
  const at = (roomId: string) => `/api/rooms/${encodeURIComponent(roomId)}`;

  afterAll(async () => {
    for (const c of clients) c.terminate();
    for (const f of started) await f.stop();
    const redis = new Redis(REDIS_URL);
    const keys = await redis.keys(`${PREFIX}:*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
  });

  it("closes a banned user's sockets on every instance and refuses its joins there, also on an instance started later", async () => {
    const [a, b] = [await start(), await start()];
    const r = room();
    const onB = await as(b, "mallory", r);
    const bob = await as(b, "bob", r);
    await as(a, "alice", r);
    const ban = await answer(await httpApi(a.httpUrl).post(`${at(r)}/bans`, { userId: "mallory", durationMs: 60_000 }));
    expect(ban.status).toBe(201);
    expect(await onB.closed).toMatchObject({ code: 4403 });
    expect(bob.ws.readyState).toBe(bob.ws.OPEN);

    const retry = await as(b, "mallory");
    retry.send("join_room", { roomId: r });
    expect((await retry.next("error")).payload).toMatchObject({ code: "FORBIDDEN" });

    const redis = new Redis(REDIS_URL);
    const ttl = await redis.pttl(`${PREFIX}:ban:{${r.replace(/%/g, "%25")}}:mallory`);
    await redis.quit();
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(60_000);

    const c = await start();
    const late = await as(c, "mallory");
    late.send("join_room", { roomId: r });
    expect((await late.next("error")).payload).toMatchObject({ code: "FORBIDDEN" });
    expect(await answer(await httpApi(c.httpUrl).get(`${at(r)}/bans`))).toMatchObject({ body: { bans: [{ userId: "mallory" }] } });

    expect((await httpApi(c.httpUrl).del(`${at(r)}/bans/mallory`)).status).toBe(204);
    // Lifted through instance C: instance B forgets the ban it was told of and lets the user in.
    let joined = false;
    for (let i = 0; i < 50 && !joined; i++) {
      retry.send("join_room", { roomId: r });
      const next = await retry.next();
      joined = next.type === "room_joined";
      if (!joined) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(joined).toBe(true);
  });

  it("sends chat_deleted to members on every instance", async () => {
    const [a, b] = [started[0] ?? (await start()), started[1] ?? (await start())];
    const r = room();
    const [onA, onB] = [await as(a, "alice", r), await as(b, "bob", r)];
    const sent = await answer(await httpApi(a.httpUrl).post(`${at(r)}/chat`, { message: "oops" }));
    for (const c of [onA, onB]) await c.next("chat_message");
    expect((await httpApi(a.httpUrl).del(`${at(r)}/chat/${sent.body.id}`)).status).toBe(204);
    for (const c of [onA, onB]) expect((await c.next("chat_deleted")).payload).toMatchObject({ roomId: r, id: sent.body.id });
  });
});
