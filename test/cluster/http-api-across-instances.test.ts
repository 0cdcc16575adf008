/**
 * The HTTP API across two instances linked by the local Redis: a request to instance A acts on members
 * connected to instance B. Each run uses its own key prefix.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { startNodeInProcess } from "../fixtures/node-inprocess.ts";
import { TestClient } from "../helpers/client.ts";
import { describeWithService, REDIS_URL } from "../helpers/services.ts";
import { API_SECRET, answer, httpApi } from "../suites/http-api.suite.ts";
import type { Fixture } from "../suites/wire-protocol.suite.ts";

const PREFIX = `olstest:api:${process.pid}-${Math.random().toString(36).slice(2, 8)}`;

await describeWithService("HTTP API across two instances (Redis)", REDIS_URL, "REDIS_URL", () => {
  let a: Fixture;
  let b: Fixture;
  const clients: TestClient[] = [];
  const room = () => `cluster-api-${Math.random().toString(36).slice(2, 10)}`;
  /** A member connected to instance B. */
  const memberOnB = async (roomId: string) => {
    const c = new TestClient(b.wsUrl);
    clients.push(c);
    return Object.assign(c, { connectionId: (await c.join(roomId, { on: "B" })).connectionId as string });
  };
  /** Instance A's view of the room's presence, once it lists `connectionId` (B's join reaches A through Redis). */
  const presenceOnA = async (roomId: string, connectionId: string) => {
    for (let attempt = 0; ; attempt++) {
      const { body } = await answer(await httpApi(a.httpUrl).get(`/api/rooms/${roomId}/presence`));
      if (body.presence[connectionId] || attempt === 100) return body.presence;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };

  beforeAll(async () => {
    const options = { apiSecret: API_SECRET, redisPrefix: PREFIX, redisUrl: REDIS_URL, presenceThrottleMs: 0 };
    [a, b] = await Promise.all([startNodeInProcess(options), startNodeInProcess(options)]);
  });
  afterAll(async () => {
    for (const c of clients) c.terminate();
    await Promise.allSettled([a?.stop(), b?.stop()]);
  });

  it("publishes an event POSTed to A and repeated with its Idempotency-Key to B once; B answers as A did", async () => {
    const r = room();
    const m = await memberOnB(r);
    const post = (on: Fixture) =>
      fetch(`${on.httpUrl}/api/rooms/${r}/events`, {
        method: "POST",
        headers: { authorization: `Bearer ${API_SECRET}`, "content-type": "application/json", "idempotency-key": "once-across" },
        body: JSON.stringify({ event: "saved", payload: 1 }),
      });
    const first = await answer(await post(a));
    expect(first).toEqual({ status: 202, body: { offset: expect.any(Number) } });
    const repeat = await post(b);
    expect(repeat.headers.get("idempotent-replayed")).toBe("true");
    expect(await answer(repeat)).toEqual(first);
    m.send("broadcast_event", { event: "after" });
    await m.next("broadcast_event");
    const after = await answer(await httpApi(b.httpUrl).post(`/api/rooms/${r}/events`, { event: "later" }));
    expect(after.body).toEqual({ offset: first.body.offset + 2 });
    await m.until((all) => all.some((e) => e.payload?.event === "later"));
    expect(m.all("broadcast_event").map((e) => e.payload.event)).toEqual(["saved", "later"]);
  });

  it("GET presence and GET rooms on A list a member connected to B", async () => {
    const r = room();
    const onB = await memberOnB(r);
    expect((await presenceOnA(r, onB.connectionId))[onB.connectionId]).toMatchObject({
      connectionId: onB.connectionId,
      presence: { on: "B" },
    });
    const { body } = await answer(await httpApi(a.httpUrl).get("/api/rooms"));
    expect(body.rooms).toContainEqual({ roomId: r, members: 1 });
  });

  it("POST events and POST chat on A reach a member connected to B", async () => {
    const r = room();
    const onB = await memberOnB(r);
    await presenceOnA(r, onB.connectionId);
    expect((await httpApi(a.httpUrl).post(`/api/rooms/${r}/events`, { event: "from-a", payload: [1, 2] })).status).toBe(202);
    expect((await onB.next("broadcast_event")).payload).toMatchObject({ connectionId: "server", event: "from-a", payload: [1, 2] });
    const chat = await answer(await httpApi(a.httpUrl).post(`/api/rooms/${r}/chat`, { message: "hello B" }));
    expect(chat.status).toBe(201);
    expect((await onB.next("chat_message")).payload).toMatchObject({ id: chat.body.id, message: "hello B" });
  });

  it("DELETE on A closes a connection on B with 4403", async () => {
    const r = room();
    const onB = await memberOnB(r);
    await presenceOnA(r, onB.connectionId);
    expect((await httpApi(a.httpUrl).del(`/api/rooms/${r}/connections/${onB.connectionId}`)).status).toBe(204);
    expect((await onB.closed).code).toBe(4403);
  });
});
