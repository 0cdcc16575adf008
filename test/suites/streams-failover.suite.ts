/**
 * Room streams across instances: the "must show" list as one suite, run against two instances of
 * each runtime on Redis (single or Cluster) by a few-line file per target. A client cut mid-stream, a
 * client on an instance killed with SIGKILL, Redis losing its data, repeated idempotency keys.
 */
import { afterEach, describe, expect, it } from "vitest";
import type { TestClient } from "../helpers/client.ts";
import { disconnectAll, liveClient, rawClient, until, waitFor } from "../helpers/live-clients.ts";
import { closeProxies, startProxy } from "../helpers/tcp-proxy.ts";

/** The HTTP API's secret every instance of the suite is started with. */
export const STREAMS_API_SECRET = "streams-suite-secret-0123456789";

/** One instance on the Redis backplane under `prefix`, its HTTP API on with STREAMS_API_SECRET. */
export interface StreamsInstance {
  port: number;
  wsUrl: string;
  httpUrl: string;
  /** SIGKILL; resolves once the process is gone. */
  kill(): Promise<void>;
  stop(): Promise<void>;
}
export type StartStreamsInstance = (prefix: string) => Promise<StreamsInstance>;

export interface StreamsTarget {
  start: StartStreamsInstance;
  /**
   * Redis loses every key of `roomId` (restarted empty: the node that holds the room's slot on a
   * Cluster); resolves once it serves again. Absent: the test is skipped (a Redis this run did not start).
   */
  loseData?: (roomId: string) => Promise<void>;
}

const uniquePrefix = (name: string) => `ols-streams-${name}-${Math.random().toString(36).slice(2, 8)}`;
const nums = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

/** `broadcast_event` payloads of event `event` a raw client received. */
const eventsOf = (c: TestClient, event: string) =>
  c
    .all("broadcast_event")
    .map((m) => m.payload)
    .filter((p) => p.event === event);

/** Send `event` with a clientMessageId until it gets an offset (an instance's first moments: Redis may not answer yet). */
async function firstOffset(c: TestClient, roomId: string): Promise<number> {
  for (let i = 0; ; i++) {
    c.send("broadcast_event", { event: "first", clientMessageId: `first-${i}` });
    const { offset } = (await c.next("event_ack", 10_000)).payload;
    if (offset !== undefined) return offset;
    if (i === 100) throw new Error(`no offset in room ${roomId}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export function streamsFailoverSuite(name: string, target: StreamsTarget) {
  const { start } = target;
  describe(`room streams across instances: ${name}`, () => {
    const instances: StreamsInstance[] = [];
    const two = async (label: string) => {
      const prefix = uniquePrefix(label);
      const pair = await Promise.all([start(prefix), start(prefix)]);
      instances.push(...pair);
      return pair;
    };
    afterEach(async () => {
      disconnectAll();
      await closeProxies();
      await Promise.allSettled(instances.splice(0).map((i) => i.stop()));
    });

    it("a client cut mid-stream of 1,000 events rejoins and holds all 1,000 exactly once, in order", async () => {
      const [a, b] = await two("cut");
      const proxy = await startProxy({ host: "127.0.0.1", port: a.port });
      const sender = rawClient(b.wsUrl);
      await sender.join("room");
      const held: { offset: number; n: number }[] = [];
      const reader = () => {
        const c = rawClient(`ws://${proxy.address}/live`);
        c.ws.on("message", (data) => {
          const m = JSON.parse(data.toString());
          if (m.type === "broadcast_event" && m.payload.event === "n") held.push({ offset: m.payload.offset, n: m.payload.payload });
        });
        return c;
      };
      const first = reader();
      const { epoch, offset: start0 } = await first.join("room");
      expect(typeof epoch).toBe("string");
      for (let n = 1; n <= 900; n++) sender.send("broadcast_event", { event: "n", payload: n });
      // Cut while the stream flows; what it misses stays within the default backlog (256).
      await waitFor(() => held.length >= 800, "800 events before the cut");
      proxy.cut();
      await first.closed;
      for (let n = 901; n <= 1000; n++)
        sender.send("broadcast_event", { event: "n", payload: n, ...(n === 1000 ? { clientMessageId: "last" } : {}) });
      expect((await sender.next("event_ack", 20_000)).payload.offset).toBe(start0 + 1000);
      proxy.restore();
      const again = reader();
      const joined = await again.join("room", undefined, { since: { offset: held.at(-1)!.offset, epoch } });
      expect(joined.recovered).toBe(true);
      await waitFor(() => held.at(-1)?.n === 1000, "the 1,000th event");
      expect(held.map((h) => h.n)).toEqual(nums(1000));
      expect(held.map((h) => h.offset)).toEqual(nums(1000).map((n) => start0 + n));
    }, 60_000);

    it("a client on an instance killed with SIGKILL resumes on another with every event once, in order, recovered: true", async () => {
      const [a, b] = await two("kill");
      const to = { host: "127.0.0.1", port: a.port };
      const proxy = await startProxy(to);
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
      await a.kill();
      to.port = b.port;
      for (let n = 101; n <= 250; n++)
        sender.send("broadcast_event", { event: "n", payload: n, ...(n === 250 ? { clientMessageId: "last" } : {}) });
      expect((await sender.next("event_ack", 20_000)).payload.offset).toBe(250);
      await waitFor(
        () => got.at(-1) === 250,
        "the 250th event through B",
        20_000,
        () => JSON.stringify({ n: got.length, last: got.at(-1), state: client.getState() }).slice(0, 600),
      );
      expect(got).toEqual(nums(250));
      expect(client.getState().recovered).toBe(true);
    }, 60_000);

    it.skipIf(!target.loseData)(
      "Redis restarted with its data lost: a new epoch, and a rejoin with the old one gets recovered: false",
      async () => {
        const [a, b] = await two("lost");
        const onA = rawClient(a.wsUrl);
        const onB = rawClient(b.wsUrl);
        const { epoch } = await onA.join("room");
        await onB.join("room");
        const offset = await firstOffset(onB, "room");
        await onA.until(() => eventsOf(onA, "first").some((p) => p.offset === offset));
        await target.loseData!("room");
        // Each instance finds the room's new epoch and closes its members with 1012: they rejoin and learn it.
        expect((await onA.closed).code).toBe(1012);
        expect((await onB.closed).code).toBe(1012);
        for (const on of [a, b]) {
          const back = rawClient(on.wsUrl);
          const joined = await back.join("room", undefined, { since: { offset, epoch } });
          expect(joined.recovered).toBe(false);
          expect(typeof joined.epoch).toBe("string");
          expect(joined.epoch).not.toBe(epoch);
        }
      },
      90_000,
    );

    it("leaves a rejoiner's own events out of its replay on another instance, by its join_room.resumeKey", async () => {
      const [a, b] = await two("own");
      const [me, other] = [rawClient(a.wsUrl), rawClient(b.wsUrl)];
      await other.join("room");
      await me.join("room", undefined, { resumeKey: "me-resumeKey" });
      const start = (await firstOffset(me, "room")) - 1;
      await other.until(() => eventsOf(other, "first").length > 0);
      const { epoch } = await me.join("room", undefined, { resumeKey: "me-resumeKey" });
      me.send("broadcast_event", { event: "e", payload: "mine", clientMessageId: "m-1" });
      expect((await me.next("event_ack")).payload.offset).toBe(start + 2);
      me.ws.terminate();
      other.send("broadcast_event", { event: "e", payload: "theirs", clientMessageId: "t-1" });
      expect((await other.next("event_ack")).payload.offset).toBe(start + 3);
      const since = { offset: start + 1, epoch };
      const back = rawClient(b.wsUrl);
      expect((await back.join("room", undefined, { since, resumeKey: "me-resumeKey" })).recovered).toBe(true);
      const stranger = rawClient(a.wsUrl);
      expect((await stranger.join("room", undefined, { since, resumeKey: "another" })).recovered).toBe(true);
      other.send("broadcast_event", { event: "e", payload: "fence" });
      for (const c of [back, stranger]) await c.until(() => eventsOf(c, "e").some((p) => p.payload === "fence"));
      expect(eventsOf(back, "e").map((p) => [p.offset, p.payload])).toEqual([
        [start + 3, "theirs"],
        [start + 4, "fence"],
      ]);
      expect(eventsOf(stranger, "e").map((p) => p.payload)).toEqual(["mine", "theirs", "fence"]);
    }, 60_000);

    it("delivers a repeated clientMessageId or Idempotency-Key once, through either instance; the repeat gets the first answer", async () => {
      const [a, b] = await two("idem");
      const [onA, onB] = [rawClient(a.wsUrl), rawClient(b.wsUrl)];
      await onA.join("room");
      await onB.join("room");
      // A member's event: sent through A, then again from a new connection through B (same scope: no userId).
      const sender = rawClient(a.wsUrl);
      await sender.join("room");
      await firstOffset(sender, "room");
      sender.send("broadcast_event", { event: "e", payload: "x", clientMessageId: "once-1" });
      const ack = (await sender.next("event_ack")).payload;
      expect(ack).toEqual({ roomId: "room", clientMessageId: "once-1", offset: expect.any(Number) });
      const again = rawClient(b.wsUrl);
      await again.join("room");
      again.send("broadcast_event", { event: "e", payload: "x", clientMessageId: "once-1" });
      expect((await again.next("event_ack")).payload).toEqual(ack);
      // The server's: POSTed to A, then to B.
      const post = (on: StreamsInstance) =>
        fetch(`${on.httpUrl}/api/rooms/room/events`, {
          method: "POST",
          headers: { authorization: `Bearer ${STREAMS_API_SECRET}`, "content-type": "application/json", "idempotency-key": "once-2" },
          body: JSON.stringify({ event: "e", payload: "y" }),
        });
      const first = await post(a);
      expect(first.status).toBe(202);
      const body = await first.json();
      expect(body).toEqual({ offset: ack.offset + 1 });
      const repeat = await post(b);
      expect(repeat.status).toBe(202);
      expect(repeat.headers.get("idempotent-replayed")).toBe("true");
      expect(await repeat.json()).toEqual(body);
      again.send("broadcast_event", { event: "e", payload: "z", clientMessageId: "after" });
      expect((await again.next("event_ack")).payload.offset).toBe(body.offset + 1);
      for (const c of [onA, onB]) {
        await c.until(() => eventsOf(c, "e").some((p) => p.payload === "z"));
        expect(eventsOf(c, "e").map((p) => [p.offset, p.payload])).toEqual([
          [ack.offset, "x"],
          [body.offset, "y"],
          [body.offset + 1, "z"],
        ]);
      }
    }, 60_000);
  });
}
