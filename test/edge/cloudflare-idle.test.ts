/**
 * What an idle room's object keeps when workerd evicts it: room streams (a rejoiner's `since` is served
 * from the object's SQLite) and token expiry (the object's alarm, not a timer that would hold it awake).
 * Each test idles past workerd's eviction (about ten seconds after the object's last event).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { FixtureOptions } from "../fixtures/options.ts";
import { pause, TestClient } from "../helpers/client.ts";
import { makeKey, sign, startJwksServer, type JwksServer } from "../helpers/jwks-server.ts";
import { prepareWorkerd, startWorkerd, type WorkerdFixture } from "../helpers/workerd.ts";

const fixtures: WorkerdFixture[] = [];
const clients: TestClient[] = [];
const jwksServers: JwksServer[] = [];
const start = async (options: FixtureOptions & { joinTokensJwks?: string }) => {
  const fixture = await startWorkerd(options);
  fixtures.push(fixture);
  return fixture;
};
const client = (url: string) => {
  const c = new TestClient(url);
  clients.push(c);
  return c;
};
const room = () => `room-${Math.random().toString(36).slice(2, 10)}`;
const inRoom = (fixture: WorkerdFixture, roomId: string, query = "") => `${fixture.wsUrl}?room=${encodeURIComponent(roomId)}${query}`;
const constructed = async (fixture: WorkerdFixture) => Number(await (await fetch(`${fixture.httpUrl}/__fixture/constructed`)).text());
const sequenced = (c: TestClient) =>
  c.received.filter((m) => m.type === "broadcast_event" || m.type === "chat_message").map((m) => m.payload);

afterEach(() => {
  for (const c of clients.splice(0)) c.terminate();
});
afterAll(async () => {
  for (const fixture of fixtures.splice(0)) await fixture.stop();
  for (const server of jwksServers.splice(0)) await server.close();
});

// Bundling the Worker takes a while on a busy machine: not inside the first test's timeout.
beforeAll(() => prepareWorkerd(), 180_000);

describe("an idle room's object at the edge", () => {
  it("replays what a rejoiner missed from the object's SQLite after the object was evicted (since, recovered: true)", async () => {
    const fixture = await start({ rateLimit: false });
    const r = room();
    const [a, b] = [client(inRoom(fixture, r)), client(inRoom(fixture, r))];
    const { epoch, offset: start0 } = await a.join(r);
    await b.join(r);
    a.send("broadcast_event", { event: "n", payload: 1 });
    await b.until(() => sequenced(b).length === 1);
    const seen = sequenced(b)[0].offset;
    expect(seen).toBe(start0 + 1);
    b.terminate();
    for (let n = 2; n <= 5; n++) a.send("broadcast_event", { event: "n", payload: n });
    a.send("send_chat", { message: "missed" });
    expect((await a.next("chat_message")).payload.offset).toBe(start0 + 6);
    const before = await constructed(fixture);

    // Idle past eviction; a's socket stays open (hibernating), so the object is not gone for good.
    await pause(18_000);
    const back = client(inRoom(fixture, r));
    const joined = await back.join(r, undefined, { since: { offset: seen, epoch } });
    // The object was built again (evicted meanwhile), and its stream is the one a and b saw.
    expect(await constructed(fixture)).toBe(before + 1);
    expect(joined).toMatchObject({ recovered: true, offset: start0 + 6, epoch });
    await back.until(() => sequenced(back).length === 5);
    expect(sequenced(back).map((p) => p.offset)).toEqual([2, 3, 4, 5, 6].map((n) => start0 + n));
    expect(sequenced(back).map((p) => p.payload ?? p.message)).toEqual([2, 3, 4, 5, "missed"]);
    // Offsets go on from there.
    a.send("broadcast_event", { event: "n", payload: 7 });
    await back.until(() => sequenced(back).length === 6);
    expect(sequenced(back)[5]).toMatchObject({ offset: start0 + 7, payload: 7 });
  }, 90_000);

  it("lets a room hibernate with a member whose token expires later, and closes that member with 4401 on the object's alarm", async () => {
    const jwks = await startJwksServer();
    jwksServers.push(jwks);
    const key = await makeKey("ES256", "idle-1");
    jwks.setKeys("/jwks", [key.jwk]);
    const fixture = await start({ onAuth: "token", jwksUrl: jwks.url("/jwks"), presenceThrottleMs: 0 });
    const r = room();
    // a's token expires after the object has had time to be evicted; b's long after the test.
    const a = client(inRoom(fixture, r, `&access_token=${await sign(key, { sub: "short" }, { expiresIn: 28 })}`));
    const b = client(inRoom(fixture, r, `&access_token=${await sign(key, { sub: "long" })}`));
    const ja = await a.join(r);
    await b.join(r);
    const before = await constructed(fixture);

    expect((await Promise.race([a.closed, pause(60_000).then(() => ({ code: 0 }))])).code).toBe(4401);
    // A timer would have held the object in memory until then; the alarm woke an evicted one.
    expect(await constructed(fixture)).toBe(before + 1);
    await b.until((all) => all.some((m) => m.payload?.left?.includes(ja.connectionId)), 10_000);
    const c = client(inRoom(fixture, r, `&access_token=${await sign(key, { sub: "late" })}`));
    const jc = await c.join(r);
    expect(
      Object.values(jc.presence)
        .map((e: any) => e.userId)
        .sort(),
    ).toEqual(["late", "long"]);
  }, 90_000);

  it("closes a member whose join_room token expired while the object hibernated, on the alarm (the expiry kept in its attachment)", async () => {
    const jwks = await startJwksServer();
    jwksServers.push(jwks);
    const key = await makeKey("ES256", "idle-2");
    jwks.setKeys("/jwks", [key.jwk]);
    const fixture = await start({ joinTokensJwks: jwks.url("/jwks") });
    const r = room();
    const a = client(inRoom(fixture, r));
    // The identity comes from the token in join_room, whose exp is not kept in the identity itself.
    const ja = await a.join(r, undefined, { accessToken: await sign(key, { sub: "joiner" }, { expiresIn: 25 }) });
    expect(ja.presence[ja.connectionId]).toMatchObject({ userId: "joiner" });
    const b = client(inRoom(fixture, r));
    await b.join(r);
    const before = await constructed(fixture);
    expect((await Promise.race([a.closed, pause(60_000).then(() => ({ code: 0 }))])).code).toBe(4401);
    expect(await constructed(fixture)).toBe(before + 1);
    await b.until((all) => all.some((m) => m.payload?.left?.includes(ja.connectionId)), 10_000);
  }, 90_000);
});
