/**
 * The wire-protocol contract, over real sockets. Each runtime's test file starts fixtures its own way
 * and runs this suite; nothing here knows which runtime answers.
 */
import { UnsecuredJWT } from "jose";
import { afterAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import type { FixtureOptions } from "../fixtures/options.ts";
import { connectAll, pause, TestClient, type Received } from "../helpers/client.ts";

export interface Fixture {
  /** ws://127.0.0.1:PORT/live (with the fixture's path) */
  wsUrl: string;
  /** http://127.0.0.1:PORT */
  httpUrl: string;
  stop(): Promise<void>;
  /** Child fixtures: what the process printed so far (stdout and stderr; `onError` reports among it). */
  output?(): string;
  /** Child fixtures: SIGKILL the process (no shutdown at all) and resolve once it is gone. */
  kill?(): Promise<void>;
}
export type StartFixture = (options: FixtureOptions) => Promise<Fixture>;

/** Documented, measured differences of a runtime; each test states the behaviour everywhere else. */
export interface RuntimeDifferences {
  /**
   * Close code a peer sees when it stops answering heartbeats. Deno cannot ping from JavaScript, so its
   * own idle timeout is the heartbeat, and it closes with 1001 ("No response from ping frame").
   * @default 4408
   */
  heartbeatCloseCode?: number;
  /**
   * Close code a client may see instead of the server's when the server closes its socket while it keeps
   * sending. Deno sometimes drops the connection without a close frame when frames keep arriving after
   * its close handshake began.
   * @default the code the server closed with
   */
  closeWhileSendingCode?: number;
  /**
   * The fixture spreads its clients over several instances (each read of `wsUrl` may name another):
   * the tests of one instance's own limits (maxConnections, the same-origin host) are left out.
   * @default false
   */
  severalInstances?: boolean;
  /**
   * The edge (Cloudflare): the engine sends no heartbeat pings (a timer would keep an idle room's object
   * awake; workerd answers the client's pings), workerd tells no send-buffer size (no slow-consumer close),
   * `maxConnections` counts a room object's sockets (a relayed socket reaches no object before its join),
   * and a stopped workerd drops its sockets without a close frame. Those four tests are left out.
   * @default false
   */
  edge?: boolean;
  /**
   * The fixture has no room streams (offsets, replay, idempotent events): the stream tests are left out.
   * @default false
   */
  withoutStreams?: boolean;
}

/** A room message's payload without its stream `offset` (absent where streams are off). */
function unsequenced(payload: Record<string, unknown>): Record<string, unknown> {
  const { offset, ...rest } = payload;
  if (offset !== undefined) expect(offset).toEqual(expect.any(Number));
  return rest;
}

/** An object nested `depth` levels deep: `{ a: { a: … {} } }` (depth 1 is `{}`). */
function nested(depth: number): Record<string, unknown> {
  let value: Record<string, unknown> = {};
  for (let i = 1; i < depth; i++) value = { a: value };
  return value;
}

/** The JSON of {@link nested}, built as text: JSON.stringify itself overflows the stack on thousands of levels. */
function nestedJson(depth: number): string {
  return `${'{"a":'.repeat(depth - 1)}{}${"}".repeat(depth - 1)}`;
}

export function wireProtocolSuite(runtime: string, start: StartFixture, differences: RuntimeDifferences = {}) {
  describe(`wire protocol on ${runtime}`, () => {
    const fixtures = new Map<string, Promise<Fixture>>();
    const clients: TestClient[] = [];
    /** One server per distinct option set, shared by the tests that use it. */
    const server = (options: FixtureOptions = {}) => {
      const key = JSON.stringify(options);
      let fixture = fixtures.get(key);
      if (!fixture) fixtures.set(key, (fixture = start(options)));
      return fixture;
    };
    const client = async (options: FixtureOptions = {}, wsOptions?: WebSocket.ClientOptions, suffix = "") => {
      const { wsUrl } = await server(options);
      const c = new TestClient(wsUrl + suffix, wsOptions);
      clients.push(c);
      return c;
    };
    const room = () => `room-${Math.random().toString(36).slice(2, 10)}`;

    afterAll(async () => {
      for (const c of clients) c.terminate();
      // Stop every fixture that started, even if another failed to start (its tests failed already).
      for (const started of await Promise.allSettled(fixtures.values())) {
        if (started.status === "fulfilled") await started.value.stop();
      }
    });

    describe("HTTP and upgrade", () => {
      it('answers GET / with "openlivesync"', async () => {
        const { httpUrl } = await server();
        const res = await fetch(`${httpUrl}/`);
        expect(res.status).toBe(200);
        expect(await res.text()).toBe("openlivesync");
      });

      it("refuses an upgrade on another path with an HTTP error at once", async () => {
        const { wsUrl } = await server();
        const other = wsUrl.replace(/\/live$/, "/elsewhere");
        const status = await new Promise<number>((resolve, reject) => {
          const ws = new WebSocket(other);
          ws.on("unexpected-response", (_req, res) => {
            resolve(res.statusCode ?? 0);
            ws.terminate();
          });
          ws.on("open", () => reject(new Error("upgrade on a wrong path was accepted")));
          ws.on("error", () => {});
        });
        expect(status).toBe(404);
      });

      it("serves the WebSocket at a custom path", async () => {
        const c = await client({ path: "/collab" });
        const joined = await c.join(room());
        expect(joined.connectionId).toEqual(expect.any(String));
      });
    });

    describe("rooms and presence", () => {
      it("answers join_room with room_joined holding every member, self included", async () => {
        const r = room();
        const a = await client();
        const b = await client();
        const ja = await a.join(r, { name: "A" });
        expect(ja).toMatchObject({ roomId: r, chatHistory: [] });
        expect(Object.keys(ja.presence)).toEqual([ja.connectionId]);
        const jb = await b.join(r, { name: "B" });
        expect(Object.keys(jb.presence).sort()).toEqual([ja.connectionId, jb.connectionId].sort());
        expect(jb.presence[ja.connectionId]).toMatchObject({ connectionId: ja.connectionId, presence: { name: "A" } });
        const seen = await a.next("presence_updated");
        expect(seen.payload).toEqual({ roomId: r, joined: [{ connectionId: jb.connectionId, presence: { name: "B" } }] });
      });

      it("tells the others when a member leaves, changes room, or closes the socket", async () => {
        const r = room();
        const [a, b, c] = [await client(), await client(), await client()];
        await a.join(r);
        const jb = await b.join(r);
        const jc = await c.join(r);

        // Presence is batched per room: a member that joins and leaves within one window is told to nobody,
        // so b leaves once a has seen it join.
        expect((await a.next("presence_updated")).payload.joined).toBeDefined();
        await a.until((all) => all.some((m) => m.payload?.joined?.some((e: any) => e.connectionId === jb.connectionId)));
        b.send("leave_room", { roomId: r });
        await a.until((all) => all.some((m) => m.payload?.left?.includes(jb.connectionId)));

        await c.join(room());
        await a.until((all) => all.some((m) => m.payload?.left?.includes(jc.connectionId)));

        const d = await client();
        const jd = await d.join(r);
        await a.until((all) => all.some((m) => m.payload?.joined?.some((e: any) => e.connectionId === jd.connectionId)));
        d.ws.close();
        await a.until((all) => all.some((m) => m.payload?.left?.includes(jd.connectionId)));
      });

      it("replaces presence on update_presence and sends it to the others only", async () => {
        const r = room();
        const a = await client({ presenceThrottleMs: 0 });
        const b = await client({ presenceThrottleMs: 0 });
        const ja = await a.join(r, { cursor: { x: 1, y: 1 }, color: "red" });
        await b.join(r);
        a.send("update_presence", { presence: { cursor: { x: 5, y: 6 } } });
        const update = await b.next("presence_updated");
        expect(update.payload).toEqual({ roomId: r, updated: [{ connectionId: ja.connectionId, presence: { cursor: { x: 5, y: 6 } } }] });
        await pause(100);
        expect(a.all("presence_updated").filter((m) => m.payload.updated)).toEqual([]);
        // A joiner sees the replaced presence, not a merge.
        const c = await client({ presenceThrottleMs: 0 });
        const jc = await c.join(r);
        expect(jc.presence[ja.connectionId].presence).toEqual({ cursor: { x: 5, y: 6 } });
      });

      // One instance's batching: across instances each one batches for its own members.
      it.skipIf(differences.severalInstances)(
        "batches presence: the members without news share each frame, and no member gets its own entry",
        async () => {
          const r = room();
          const opts = { presenceThrottleMs: 0 };
          const [a, b, c, d] = [await client(opts), await client(opts), await client(opts), await client(opts)];
          const joins = [];
          for (const x of [a, b, c, d]) joins.push(await x.join(r));
          const ids = joins.map((j) => j.connectionId);
          const sees = (_x: TestClient, id: string, want: unknown) => (all: Received[]) =>
            all.some(
              (m) =>
                m.type === "presence_updated" &&
                [...(m.payload.joined ?? []), ...(m.payload.updated ?? [])].some(
                  (e: any) => e.connectionId === id && JSON.stringify(e.presence) === JSON.stringify(want),
                ),
            );
          for (const x of [a, b, c]) await x.until(sees(x, ids[3]!, {})); // every join went out
          const [markC, markD] = [c.received.length, d.received.length];
          a.send("update_presence", { presence: { x: 1 } });
          b.send("update_presence", { presence: { x: 2 } });
          for (const x of [c, d]) {
            await x.until(sees(x, ids[0]!, { x: 1 }));
            await x.until(sees(x, ids[1]!, { x: 2 }));
          }
          await a.until(sees(a, ids[1]!, { x: 2 }));
          await b.until(sees(b, ids[0]!, { x: 1 }));
          const frames = (x: TestClient, from: number) =>
            x.received
              .slice(from)
              .filter((m) => m.type === "presence_updated")
              .map((m) => m.payload);
          expect(frames(c, markC)).toEqual(frames(d, markD));
          for (const [x, id] of [
            [a, ids[0]],
            [b, ids[1]],
          ] as const) {
            const own = frames(x, 0)
              .flatMap((p) => [...(p.joined ?? []), ...(p.updated ?? [])])
              .filter((e: any) => e.connectionId === id);
            expect(own).toEqual([]);
          }
        },
      );

      it("keeps the resting cursor position when updates are throttled", async () => {
        const r = room();
        const a = await client({ presenceThrottleMs: 100 });
        const b = await client({ presenceThrottleMs: 100 });
        await a.join(r);
        await b.join(r);
        for (let x = 1; x <= 30; x++) a.send("update_presence", { presence: { x } });
        await b.until((all) => all.some((m) => m.payload?.updated?.[0]?.presence?.x === 30), 3000);
        await pause(250);
        const updates = b.all("presence_updated").filter((m) => m.payload.updated);
        expect(updates.at(-1)!.payload.updated[0].presence).toEqual({ x: 30 });
        // Coalesced: far fewer frames than updates sent, and never more than one per window plus the first.
        expect(updates.length).toBeLessThan(10);
      });

      it("keeps a room joinable after every member left (rooms are freed and recreated)", async () => {
        const r = room();
        for (let i = 0; i < 3; i++) {
          const a = await client();
          const joined = await a.join(r);
          expect(Object.keys(joined.presence)).toHaveLength(1);
          await a.close();
        }
      });
    });

    describe("broadcast and chat", () => {
      it("relays broadcast_event to the others without echoing it to the sender", async () => {
        const r = room();
        const [a, b, c] = [await client(), await client(), await client()];
        const ja = await a.join(r);
        await b.join(r);
        await c.join(r);
        a.send("broadcast_event", { event: "cursor-click", payload: { x: 1, nested: { ok: true } } });
        for (const other of [b, c]) {
          const ev = await other.next("broadcast_event");
          expect(unsequenced(ev.payload)).toEqual({
            roomId: r,
            connectionId: ja.connectionId,
            event: "cursor-click",
            payload: { x: 1, nested: { ok: true } },
          });
        }
        await pause(100);
        expect(a.all("broadcast_event")).toEqual([]);
      });

      it("does not relay events across rooms", async () => {
        const [a, b] = [await client(), await client()];
        await a.join(room());
        await b.join(room());
        a.send("broadcast_event", { event: "x" });
        await pause(150);
        expect(b.all("broadcast_event")).toEqual([]);
      });

      it("stores a chat message, then sends it to everyone with its id and createdAt", async () => {
        const r = room();
        const [a, b] = [await client(), await client()];
        const ja = await a.join(r);
        await b.join(r);
        a.send("send_chat", { message: "hello 👋", metadata: { replyTo: null, tags: ["x"] } });
        const mine = await a.next("chat_message");
        const theirs = await b.next("chat_message");
        expect(mine.payload).toEqual(theirs.payload);
        expect(mine.payload).toMatchObject({
          roomId: r,
          connectionId: ja.connectionId,
          message: "hello 👋",
          metadata: { replyTo: null, tags: ["x"] },
        });
        expect(mine.payload.id).toEqual(expect.any(String));
        expect(mine.payload.createdAt).toEqual(expect.any(Number));

        const c = await client();
        const jc = await c.join(r);
        expect(jc.chatHistory).toEqual([unsequenced(mine.payload)]);
      });

      it("gives joiners the newest historyLimit messages, oldest first, in the order each sender sent them", async () => {
        const r = room();
        const a = await client({ historyLimit: 5 });
        await a.join(r);
        for (let i = 0; i < 12; i++) a.send("send_chat", { message: `m${i}` });
        await a.until((all) => all.filter((m) => m.type === "chat_message").length === 12);
        expect(a.all("chat_message").map((m) => m.payload.message)).toEqual(Array.from({ length: 12 }, (_, i) => `m${i}`));
        const b = await client({ historyLimit: 5 });
        const jb = await b.join(r);
        expect(jb.chatHistory.map((m: any) => m.message)).toEqual(["m7", "m8", "m9", "m10", "m11"]);
      });

      it("answers STORAGE_ERROR when storage fails, broadcasts nothing, and keeps serving", async () => {
        const r = room();
        const a = await client({ storage: "failing" });
        const b = await client({ storage: "failing" });
        await a.join(r);
        await b.join(r);
        a.send("send_chat", { message: "lost?" });
        expect((await a.next("error")).payload.code).toBe("STORAGE_ERROR");
        a.send("broadcast_event", { event: "still-alive" });
        expect((await b.next("broadcast_event")).payload.event).toBe("still-alive");
        expect(a.all("chat_message")).toEqual([]);
        expect(b.all("chat_message")).toEqual([]);
      });
    });

    describe.skipIf(differences.withoutStreams)("room streams: offsets, replay on rejoin, idempotent events", () => {
      const sequenced = (c: TestClient) =>
        c.received.filter((m) => m.type === "broadcast_event" || m.type === "chat_message").map((m) => m.payload);

      it("numbers a room's events and chats consecutively and replays what a rejoiner missed, once, in order", async () => {
        const r = room();
        const [a, b] = [await client({ rateLimit: false }), await client({ rateLimit: false })];
        const { epoch, offset: start } = await a.join(r);
        await b.join(r);
        expect(typeof epoch).toBe("string");
        b.send("broadcast_event", { event: "n", payload: 1 });
        await a.until(() => sequenced(a).length === 1);
        const seen = sequenced(a)[0].offset;
        expect(seen).toBe(start + 1);
        a.terminate();
        for (let n = 2; n <= 50; n++) b.send("broadcast_event", { event: "n", payload: n });
        b.send("send_chat", { message: "missed", clientMessageId: "w-1" });
        expect((await b.next("chat_message")).payload.offset).toBe(start + 51);
        const back = await client({ rateLimit: false });
        const joined = await back.join(r, undefined, { since: { offset: seen, epoch } });
        expect(joined).toMatchObject({ recovered: true, offset: start + 51, epoch });
        b.send("broadcast_event", { event: "n", payload: 52 });
        await back.until(() => sequenced(back).length === 51);
        expect(sequenced(back).map((p) => p.offset)).toEqual(Array.from({ length: 51 }, (_, i) => start + 2 + i));
        expect(sequenced(back).map((p) => p.payload ?? p.message)).toEqual([...Array.from({ length: 49 }, (_, i) => i + 2), "missed", 52]);
      });

      it("a client cut mid-stream of 1,000 events rejoins and holds all 1,000 exactly once, in order", async () => {
        const r = room();
        const sender = await client({ rateLimit: false });
        await sender.join(r);
        const held: { offset: number; n: number }[] = [];
        const reader = async () => {
          const c = await client({ rateLimit: false });
          c.ws.on("message", (data) => {
            const m = JSON.parse(data.toString());
            if (m.type === "broadcast_event" && m.payload.event === "n") held.push({ offset: m.payload.offset, n: m.payload.payload });
          });
          return c;
        };
        const first = await reader();
        const { epoch, offset: start } = await first.join(r);
        for (let n = 1; n <= 900; n++) sender.send("broadcast_event", { event: "n", payload: n });
        // Cut while the stream is flowing; what it misses stays within the default backlog (256).
        await first.until(() => held.length >= 800, 20_000);
        first.terminate();
        await first.closed;
        for (let n = 901; n <= 1000; n++) sender.send("broadcast_event", { event: "n", payload: n });
        const again = await reader();
        const joined = await again.join(r, undefined, { since: { offset: held.at(-1)!.offset, epoch } });
        expect(joined.recovered).toBe(true);
        await again.until(() => held.at(-1)?.n === 1000, 20_000);
        expect(held.map((h) => h.n)).toEqual(Array.from({ length: 1000 }, (_, i) => i + 1));
        expect(held.map((h) => h.offset)).toEqual(Array.from({ length: 1000 }, (_, i) => start + i + 1));
      }, 60_000);

      it("answers recovered: false for an unknown epoch or an offset ahead of the room, and INVALID_PAYLOAD for a malformed since", async () => {
        const r = room();
        const a = await client();
        const { offset, epoch } = await a.join(r);
        expect((await a.join(r, undefined, { since: { offset: 0, epoch: "no-such-epoch" } })).recovered).toBe(false);
        expect((await a.join(r, undefined, { since: { offset: offset + 5, epoch } })).recovered).toBe(false);
        for (const since of [{ offset: -1, epoch }, { offset: 0.5, epoch }, { epoch }, { offset: 0 }, 7]) {
          a.send("join_room", { roomId: r, since });
          expect((await a.next("error")).payload.code).toBe("INVALID_PAYLOAD");
        }
        expect((await a.join(r, undefined, { since: { offset, epoch } })).recovered).toBe(true);
      });

      it("leaves a rejoiner's own events out of its replay by its join_room.resumeKey; other resumeKeys get them", async () => {
        const r = room();
        const [me, other] = [await client(), await client()];
        const { epoch, offset: start } = await me.join(r, undefined, { resumeKey: "me-resumeKey" });
        await other.join(r);
        me.send("broadcast_event", { event: "e", payload: "mine", clientMessageId: "m-1" });
        expect((await me.next("event_ack")).payload.offset).toBe(start + 1);
        me.terminate();
        other.send("broadcast_event", { event: "e", payload: "theirs", clientMessageId: "t-1" });
        expect((await other.next("event_ack")).payload.offset).toBe(start + 2);
        const back = await client();
        const since = { offset: start, epoch };
        expect((await back.join(r, undefined, { since, resumeKey: "me-resumeKey" })).recovered).toBe(true);
        const stranger = await client();
        expect((await stranger.join(r, undefined, { since, resumeKey: "another" })).recovered).toBe(true);
        other.send("broadcast_event", { event: "e", payload: "fence" });
        for (const c of [back, stranger]) await c.until(() => sequenced(c).some((p) => p.payload === "fence"));
        expect(sequenced(back).map((p) => [p.offset, p.payload])).toEqual([
          [start + 2, "theirs"],
          [start + 3, "fence"],
        ]);
        expect(sequenced(stranger).map((p) => p.payload)).toEqual(["mine", "theirs", "fence"]);
      });

      it("relays a repeated broadcast_event clientMessageId once; the sender gets the same event_ack", async () => {
        const r = room();
        const [a, b] = [await client(), await client()];
        await a.join(r);
        await b.join(r);
        a.send("broadcast_event", { event: "e", payload: "x", clientMessageId: "ev-1" });
        a.send("broadcast_event", { event: "e", payload: "x", clientMessageId: "ev-1" });
        a.send("broadcast_event", { event: "e", payload: "y" });
        const [first, repeat] = [(await a.next("event_ack")).payload, (await a.next("event_ack")).payload];
        expect(first).toEqual({ roomId: r, clientMessageId: "ev-1", offset: expect.any(Number) });
        expect(repeat).toEqual(first);
        await b.until(() => sequenced(b).some((p) => p.payload === "y"));
        expect(sequenced(b).map((p) => p.payload)).toEqual(["x", "y"]);
        expect(sequenced(b)[1].offset).toBe(first.offset + 1);
      });
    });

    describe("paging, resume and exactly-once chat", () => {
      /** Send chats from `c` (16 at a time, under maxChatsInFlight) and wait for their acknowledgements; returns the stored messages. */
      const sendAll = async (c: TestClient, texts: string[]) => {
        const before = c.all("chat_message").length;
        for (let i = 0; i < texts.length; i += 16) {
          for (const message of texts.slice(i, i + 16)) c.send("send_chat", { message });
          const acked = before + Math.min(i + 16, texts.length);
          await c.until((all) => all.filter((m) => m.type === "chat_message").length === acked);
        }
        return c
          .all("chat_message")
          .slice(before)
          .map((m) => m.payload);
      };
      const texts = (n: number, prefix = "m") => Array.from({ length: n }, (_, i) => `${prefix}${i}`);
      const stored = (m: any) => {
        const { email: _e, provider: _p, clientMessageId: _c, offset: _o, ...rest } = m;
        return rest;
      };

      it("pages back through the room's history with get_chat_history, oldest first, saying whether older ones exist", async () => {
        const r = room();
        const a = await client();
        await a.join(r);
        const sent = await sendAll(a, texts(7));
        a.send("get_chat_history", { limit: 3 });
        const newest = (await a.next("chat_history")).payload;
        expect(newest).toEqual({ roomId: r, messages: sent.slice(4).map(stored), hasMore: true });
        a.send("get_chat_history", { before: sent[4].id, limit: 3 });
        expect((await a.next("chat_history")).payload).toEqual({ roomId: r, messages: sent.slice(1, 4).map(stored), hasMore: true });
        a.send("get_chat_history", { before: sent[1].id, limit: 3 });
        expect((await a.next("chat_history")).payload).toEqual({ roomId: r, messages: [stored(sent[0])], hasMore: false });
        a.send("get_chat_history");
        expect((await a.next("chat_history")).payload).toEqual({ roomId: r, messages: sent.map(stored), hasMore: false });
      });

      it("answers get_chat_history with INVALID_PAYLOAD for a before that is not a message of the room, and for a limit outside 1-100", async () => {
        const [r, other] = [room(), room()];
        const a = await client();
        await a.join(other);
        const [elsewhere] = await sendAll(a, ["in another room"]);
        await a.join(r);
        await sendAll(a, ["here"]);
        for (const payload of [
          { before: "no-such-message" },
          { before: elsewhere.id },
          { limit: 0 },
          { limit: 101 },
          { limit: 2.5 },
          { before: 7 },
        ]) {
          a.send("get_chat_history", payload);
          expect((await a.next("error")).payload.code).toBe("INVALID_PAYLOAD");
        }
        expect(a.all("chat_history")).toEqual([]);
      });

      it("resumes a client that dropped while 50 messages were sent: room_joined holds exactly those 50, in order, with resumed: true", async () => {
        const r = room();
        const [a, b] = [await client(), await client()];
        await a.join(r);
        const jb = await b.join(r);
        expect(jb).not.toHaveProperty("resumed");
        const [last] = await sendAll(a, ["seen by b"]);
        expect((await b.next("chat_message")).payload.id).toBe(last.id);
        b.terminate();
        await b.closed;
        const missed = await sendAll(a, texts(50));
        const b2 = await client();
        const resumed = await b2.join(r, undefined, { lastMessageId: last.id });
        expect(resumed.resumed).toBe(true);
        expect(resumed.chatHistory).toEqual(missed.map(stored));
        // Nothing missed: an empty resume.
        const b3 = await client();
        const upToDate = await b3.join(r, undefined, { lastMessageId: missed[49].id });
        expect(upToDate).toMatchObject({ resumed: true, chatHistory: [] });
      });

      it("gives the newest historyLimit with resumed: false when lastMessageId is unknown or another room's", async () => {
        const [r, other] = [room(), room()];
        const a = await client({ historyLimit: 3 });
        await a.join(other);
        const [elsewhere] = await sendAll(a, ["elsewhere"]);
        await a.join(r);
        const sent = await sendAll(a, texts(5));
        for (const lastMessageId of ["no-such-message", elsewhere.id]) {
          const b = await client({ historyLimit: 3 });
          const joined = await b.join(r, undefined, { lastMessageId });
          expect(joined.resumed).toBe(false);
          expect(joined.chatHistory).toEqual(sent.slice(2).map(stored));
        }
      });

      it("stores a repeated clientMessageId once: the repeat goes to the sender alone, with the stored id and createdAt", async () => {
        const r = room();
        const [a, b] = [await client(), await client()];
        await a.join(r);
        await b.join(r);
        a.send("send_chat", { message: "once", clientMessageId: "c-1" });
        a.send("send_chat", { message: "once", clientMessageId: "c-1" });
        a.send("send_chat", { message: "after" });
        const [first, repeat] = [(await a.next("chat_message")).payload, (await a.next("chat_message")).payload];
        expect(first).toMatchObject({ message: "once", clientMessageId: "c-1" });
        // The repeat's offset is the first one's where the streams still remember it, else absent.
        expect(unsequenced(repeat)).toEqual(unsequenced(first));
        if (repeat.offset !== undefined) expect(repeat.offset).toBe(first.offset);
        expect((await b.next("chat_message")).payload).toEqual(first);
        expect((await b.next("chat_message")).payload.message).toBe("after");
        expect(b.all("chat_message")).toHaveLength(2);
        const c = await client();
        expect((await c.join(r)).chatHistory.map((m: any) => m.message)).toEqual(["once", "after"]);
      });

      it("stores and broadcasts once a send whose connection died before the echo and that is retried with its clientMessageId after reconnecting", async () => {
        const r = room();
        const user = `u-${Math.random().toString(36).slice(2, 10)}`;
        const opts = { onAuth: "x-user" as const };
        const watcher = await client(opts, { headers: { "x-user": "watcher" } });
        await watcher.join(r);
        const a = await client(opts, { headers: { "x-user": user } });
        await a.join(r);
        a.send("send_chat", { message: "retried", clientMessageId: "retry-1" });
        a.terminate();
        const a2 = await client(opts, { headers: { "x-user": user } });
        await a2.join(r);
        a2.send("send_chat", { message: "retried", clientMessageId: "retry-1" });
        const ack = (await a2.next("chat_message")).payload;
        expect(ack).toMatchObject({ message: "retried", clientMessageId: "retry-1", userId: user });
        a2.send("send_chat", { message: "marker" });
        await watcher.until((all) => all.some((m) => m.type === "chat_message" && m.payload.message === "marker"));
        expect(
          watcher
            .all("chat_message")
            .filter((m) => m.payload.message === "retried")
            .map((m) => m.payload.id),
        ).toEqual([ack.id]);
        const c = await client(opts, { headers: { "x-user": "late" } });
        expect((await c.join(r)).chatHistory.map((m: any) => m.message)).toEqual(["retried", "marker"]);
        // The id is the sender's own: another user with the same clientMessageId stores its message.
        watcher.send("send_chat", { message: "mine", clientMessageId: "retry-1" });
        await c.until((all) => all.some((m) => m.type === "chat_message" && m.payload.message === "mine"));
      });
    });

    describe("bad input", () => {
      const cases: [string, string, string][] = [
        ["invalid JSON", "{nope", "INVALID_JSON"],
        ["a JSON array", "[1,2]", "INVALID_MESSAGE"],
        ["a JSON string", '"join_room"', "INVALID_MESSAGE"],
        ["a message without type", '{"payload":{}}', "INVALID_MESSAGE"],
        ["an unknown type", '{"type":"hack_server","payload":{}}', "UNKNOWN_TYPE"],
        ["a type named after an Object method", '{"type":"toString","payload":{}}', "UNKNOWN_TYPE"],
        ["join_room without payload", '{"type":"join_room"}', "INVALID_PAYLOAD"],
        ["an empty roomId", '{"type":"join_room","payload":{"roomId":""}}', "INVALID_PAYLOAD"],
        ["a numeric roomId", '{"type":"join_room","payload":{"roomId":42}}', "INVALID_PAYLOAD"],
        ["a roomId with a NUL character", JSON.stringify({ type: "join_room", payload: { roomId: "a\u0000b" } }), "INVALID_PAYLOAD"],
        ["a roomId with a lone surrogate", JSON.stringify({ type: "join_room", payload: { roomId: "room-\ud800" } }), "INVALID_PAYLOAD"],
        [
          "a presence key with a lone surrogate",
          JSON.stringify({ type: "join_room", payload: { roomId: "r", presence: { "\udc00": 1 } } }),
          "INVALID_PAYLOAD",
        ],
        ["an over-long roomId", JSON.stringify({ type: "join_room", payload: { roomId: "r".repeat(300) } }), "INVALID_PAYLOAD"],
        ["presence that is an array", '{"type":"join_room","payload":{"roomId":"r","presence":[1]}}', "INVALID_PAYLOAD"],
        ["presence that is a string", '{"type":"join_room","payload":{"roomId":"r","presence":"x"}}', "INVALID_PAYLOAD"],
        ["an empty lastMessageId", '{"type":"join_room","payload":{"roomId":"r","lastMessageId":""}}', "INVALID_PAYLOAD"],
      ];
      for (const [what, raw, code] of cases) {
        it(`answers ${what} with ${code} and keeps the connection`, async () => {
          const a = await client();
          await a.opened;
          a.sendRaw(raw);
          const err = await a.next("error");
          expect(err.payload.code).toBe(code);
          expect(err.payload.message).toEqual(expect.any(String));
          const joined = await a.join(room());
          expect(joined.roomId).toMatch(/^room-/);
        });
      }

      const inRoom: [string, unknown, string][] = [
        ["update_presence with a non-object presence", { type: "update_presence", payload: { presence: 5 } }, "INVALID_PAYLOAD"],
        ["update_presence without payload", { type: "update_presence" }, "INVALID_PAYLOAD"],
        ["send_chat with a non-string message", { type: "send_chat", payload: { message: { text: "x" } } }, "INVALID_PAYLOAD"],
        ["send_chat with an empty message", { type: "send_chat", payload: { message: "" } }, "INVALID_PAYLOAD"],
        ["send_chat with a NUL character", { type: "send_chat", payload: { message: "a\u0000b" } }, "INVALID_PAYLOAD"],
        ["send_chat with a lone surrogate", { type: "send_chat", payload: { message: "a\ud800b" } }, "INVALID_PAYLOAD"],
        ["send_chat with array metadata", { type: "send_chat", payload: { message: "x", metadata: [1] } }, "INVALID_PAYLOAD"],
        [
          "send_chat with a clientMessageId of a forbidden character",
          { type: "send_chat", payload: { message: "x", clientMessageId: "a b" } },
          "INVALID_PAYLOAD",
        ],
        [
          "send_chat with a 65-character clientMessageId",
          { type: "send_chat", payload: { message: "x", clientMessageId: "a".repeat(65) } },
          "INVALID_PAYLOAD",
        ],
        ["broadcast_event without event", { type: "broadcast_event", payload: { payload: 1 } }, "INVALID_PAYLOAD"],
        ["broadcast_event with a numeric event", { type: "broadcast_event", payload: { event: 7 } }, "INVALID_PAYLOAD"],
        [
          "update_presence nested 5,000 levels deep",
          `{"type":"update_presence","payload":{"presence":${nestedJson(5000)}}}`,
          "INVALID_PAYLOAD",
        ],
        ["update_presence nested 33 levels deep", { type: "update_presence", payload: { presence: nested(33) } }, "INVALID_PAYLOAD"],
        [
          "send_chat with metadata nested 5,000 levels deep",
          `{"type":"send_chat","payload":{"message":"m","metadata":${nestedJson(5000)}}}`,
          "INVALID_PAYLOAD",
        ],
        [
          "broadcast_event with a payload nested 5,000 levels deep",
          `{"type":"broadcast_event","payload":{"event":"e","payload":[${nestedJson(5000)}]}}`,
          "INVALID_PAYLOAD",
        ],
      ];
      for (const [what, msg, code] of inRoom) {
        it(`answers ${what} with ${code} and keeps the connection`, async () => {
          const r = room();
          const [a, b] = [await client(), await client()];
          await a.join(r);
          await b.join(r);
          a.sendRaw(typeof msg === "string" ? msg : JSON.stringify(msg));
          expect((await a.next("error")).payload.code).toBe(code);
          a.send("broadcast_event", { event: "after-error" });
          expect((await b.next("broadcast_event")).payload.event).toBe("after-error");
        });
      }

      it("refuses a join_room whose presence nests too deep, and the room stays joinable and encodable", async () => {
        const r = room();
        const [a, b] = [await client(), await client()];
        await a.opened;
        a.sendRaw(`{"type":"join_room","payload":{"roomId":"${r}","presence":${nestedJson(8000)}}}`);
        expect((await a.next("error")).payload.code).toBe("INVALID_PAYLOAD");
        // Twice in a row: the frames that used to crash a Node server from the presence timer.
        await a.join(r, { cursor: { x: 1 } });
        a.sendRaw(`{"type":"update_presence","payload":{"presence":${nestedJson(8000)}}}`);
        a.sendRaw(`{"type":"update_presence","payload":{"presence":${nestedJson(8000)}}}`);
        expect((await a.next("error")).payload.code).toBe("INVALID_PAYLOAD");
        await pause(150);
        const joined = await b.join(r);
        expect(Object.keys(joined.presence)).toHaveLength(2);
        // 32 levels is the default limit, and passes.
        a.send("update_presence", { presence: nested(32) });
        const update = await b.next("presence_updated");
        expect(update.payload.updated[0].presence).toEqual(nested(32));
      });

      for (const type of ["leave_room", "update_presence", "broadcast_event", "send_chat", "get_chat_history"]) {
        it(`answers ${type} before join_room with NOT_IN_ROOM`, async () => {
          const a = await client();
          await a.opened;
          const payload = {
            leave_room: {},
            update_presence: { presence: {} },
            broadcast_event: { event: "e" },
            send_chat: { message: "m" },
            get_chat_history: {},
          }[type];
          a.send(type, payload);
          expect((await a.next("error")).payload.code).toBe("NOT_IN_ROOM");
        });
      }

      it("answers an over-long chat message and an over-large presence with TOO_LARGE", async () => {
        const opts = { maxChatMessageLength: 100, maxPresenceBytes: 200 };
        const a = await client(opts);
        await a.join(room());
        a.send("send_chat", { message: "x".repeat(101) });
        expect((await a.next("error")).payload.code).toBe("TOO_LARGE");
        a.send("update_presence", { presence: { blob: "y".repeat(300) } });
        expect((await a.next("error")).payload.code).toBe("TOO_LARGE");
        a.send("join_room", { roomId: room(), presence: { blob: "é".repeat(150) } });
        expect((await a.next("error")).payload.code).toBe("TOO_LARGE");
        a.send("send_chat", { message: "x".repeat(100) });
        expect((await a.next("chat_message")).payload.message).toHaveLength(100);
      });

      it("closes the connection with 1009 when a frame is over maxPayload", async () => {
        const a = await client({ maxPayload: 1024 });
        await a.join(room());
        a.send("broadcast_event", { event: "big", payload: "z".repeat(2000) });
        expect((await a.closed).code).toBe(1009);
      });

      it("treats __proto__ and constructor keys as plain data", async () => {
        const r = room();
        const [a, b] = [await client(), await client()];
        await a.join(r);
        await b.join(r);
        a.sendRaw(
          '{"type":"update_presence","payload":{"presence":{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}}}}}',
        );
        const update = await b.next("presence_updated");
        const presence = update.payload.updated?.[0]?.presence ?? (await b.next("presence_updated")).payload.updated[0].presence;
        expect(Object.hasOwn(presence, "__proto__")).toBe(true);
        expect(({} as any).polluted).toBeUndefined();
        a.sendRaw('{"type":"__proto__","payload":{}}');
        expect((await a.next("error")).payload.code).toBe("UNKNOWN_TYPE");
        const c = await client();
        const jc = await c.join(r);
        expect(Object.keys(jc.presence)).toHaveLength(3);
      });
    });

    describe("limits", () => {
      it("answers RATE_LIMITED past the rate limit, keeps other rooms served, and closes with 1008 a client that keeps on", async () => {
        const opts = { rateLimit: { messagesPerSecond: 20, burstSeconds: 1, closeAfterSeconds: 1 } };
        const r = room();
        const [flooder, member] = [await client(opts), await client(opts)];
        await flooder.join(r);
        await member.join(r);
        const [quiet1, quiet2] = [await client(opts), await client(opts)];
        const q = room();
        await quiet1.join(q);
        await quiet2.join(q);
        let code: number | undefined;
        void flooder.closed.then((c) => (code = c.code));
        for (let i = 0; i < 400 && code === undefined; i++) {
          flooder.send("broadcast_event", { event: "flood", payload: i });
          if (i % 10 === 9) await pause(50);
        }
        expect([1008, differences.closeWhileSendingCode ?? 1008]).toContain((await flooder.closed).code);
        expect(flooder.all("error").some((m) => m.payload.code === "RATE_LIMITED")).toBe(true);
        // Only what the bucket allowed reached the room: far fewer than were sent.
        expect(member.all("broadcast_event").length).toBeLessThan(200);
        quiet1.send("broadcast_event", { event: "still-served" });
        expect((await quiet2.next("broadcast_event")).payload.event).toBe("still-served");
      });

      it("sends RATE_LIMITED at most once a second per connection, whatever refused the frames", async () => {
        const opts = { storage: "stuck", maxChatsInFlight: 1 } as const;
        const a = await client(opts);
        await a.join(room());
        const started = Date.now();
        a.send("get_chat_history", {});
        for (let i = 0; i < 60; i++) {
          a.send("send_chat", { message: `m${i}`, clientMessageId: `c${i}` });
          a.send("get_chat_history", {});
        }
        a.sendRaw("not json"); // answered in order: once it is here, every frame before it was handled
        await a.until((all) => all.some((m) => m.type === "error" && m.payload.code === "INVALID_JSON"), 10_000);
        const span = Date.now() - started;
        const limited = a.all("error").filter((m) => m.payload.code === "RATE_LIMITED");
        expect(limited.length).toBeGreaterThanOrEqual(1);
        expect(limited.length).toBeLessThanOrEqual(1 + Math.floor(span / 1000));
      });

      it.skipIf(differences.severalInstances)(
        "refuses an upgrade from another Origin with HTTP 403, and accepts listed, same-origin and non-browser ones",
        async () => {
          const opts = { allowedOrigins: ["http://good.example"] };
          const { wsUrl } = await server(opts);
          const evil = await client(opts, { headers: { origin: "http://evil.example" } });
          await expect(evil.opened).rejects.toMatchObject({ status: 403 });
          const good = await client(opts, { headers: { origin: "http://good.example" } });
          await good.join(room());
          const same = await client(opts, { headers: { origin: `http://${new URL(wsUrl).host}` } });
          await same.join(room());
          const none = await client(opts);
          await none.join(room());
        },
      );

      it.skipIf(differences.severalInstances || differences.edge)(
        "refuses upgrades past maxConnections with HTTP 503 and accepts again once one closed",
        async () => {
          const opts = { maxConnections: 2 };
          const [a, b] = [await client(opts), await client(opts)];
          await a.join(room());
          await b.join(room());
          const c = await client(opts);
          await expect(c.opened).rejects.toMatchObject({ status: 503 });
          a.close();
          await a.closed;
          await pause(100);
          const d = await client(opts);
          await d.join(room());
        },
      );
    });

    describe("auth at upgrade", () => {
      it("rejects an upgrade with HTTP 401 before the socket opens when onAuth returns null", async () => {
        const c = await client({ onAuth: "x-user" });
        await expect(c.opened).rejects.toMatchObject({ status: 401 });
      });

      it("rejects the upgrade when onAuth throws", async () => {
        const c = await client({ onAuth: "throw" });
        await expect(c.opened).rejects.toMatchObject({ status: 500 });
      });

      it("puts onAuth's user, extra fields included, in presence entries, and its userId on chat messages and relayed events", async () => {
        const r = room();
        const a = await client({ onAuth: "x-user" }, { headers: { "x-user": "alice" } });
        const b = await client({ onAuth: "x-user" }, { headers: { "x-user": "bob" } });
        const ja = await a.join(r, { cursor: 1 });
        const jb = await b.join(r);
        expect(jb.presence[ja.connectionId]).toEqual({
          connectionId: ja.connectionId,
          userId: "alice",
          name: "Name of alice",
          email: "alice@example.test",
          provider: "fixture",
          team: "blue",
          presence: { cursor: 1 },
        });
        a.send("send_chat", { message: "hi" });
        expect((await b.next("chat_message")).payload).toMatchObject({ userId: "alice", name: "Name of alice", message: "hi" });
        a.send("broadcast_event", { event: "e" });
        expect((await b.next("broadcast_event")).payload).toMatchObject({ userId: "alice", connectionId: ja.connectionId });
      });

      it("refuses a room that authorizeRoom denies with FORBIDDEN and leaves the connection in no room", async () => {
        const a = await client({ authorizeRoom: true });
        await a.opened;
        a.send("join_room", { roomId: "private-1" });
        expect((await a.next("error")).payload.code).toBe("FORBIDDEN");
        a.send("broadcast_event", { event: "e" });
        expect((await a.next("error")).payload.code).toBe("NOT_IN_ROOM");
        const joined = await a.join("public-1");
        expect(joined.roomId).toBe("public-1");
      });
    });

    describe("scoped members", () => {
      it("lets a read-only member join and receive everything, and refuses its presence, events and chat with FORBIDDEN", async () => {
        const r = `read-${room()}`;
        const [writer, reader] = [await client({ authorizeRoom: true }), await client({ authorizeRoom: true })];
        // A plain join: authorizeRoom's "read" applies to everyone here, so the writer is read-only too.
        const joined = await reader.join(r, { cursor: 1 });
        expect(joined.permissions).toEqual({ presence: "read", events: "read", chat: "read" });
        expect(joined.presence[joined.connectionId].presence).toEqual({});
        await writer.join(r);
        for (const [type, payload] of [
          ["update_presence", { presence: { cursor: 2 } }],
          ["broadcast_event", { event: "e" }],
          ["send_chat", { message: "hi", clientMessageId: "c-1" }],
        ] as const) {
          reader.send(type, payload);
          const error = (await reader.next("error")).payload;
          expect(error).toMatchObject({ code: "FORBIDDEN" });
          if (type === "send_chat") expect(error.clientMessageId).toBe("c-1");
        }
        reader.send("get_chat_history", {});
        expect((await reader.next("chat_history")).payload).toMatchObject({ roomId: r, messages: [] });
        expect(writer.all("chat_message")).toEqual([]);
        expect(writer.all("broadcast_event")).toEqual([]);
      });

      it("applies grants by kind and says them in room_joined.permissions; full access carries no permissions field", async () => {
        const r = `scoped-${room()}`;
        const [a, b] = [await client({ authorizeRoom: true }), await client({ authorizeRoom: true })];
        const ja = await a.join(r, { here: true });
        expect(ja.permissions).toEqual({ presence: "write", events: "read", chat: "write" });
        expect(ja.presence[ja.connectionId].presence).toEqual({ here: true });
        await b.join(r);
        a.send("broadcast_event", { event: "e" });
        expect((await a.next("error")).payload).toMatchObject({ code: "FORBIDDEN" });
        a.send("send_chat", { message: "allowed" });
        expect((await b.next("chat_message")).payload).toMatchObject({ message: "allowed" });
        const full = await (await client({ authorizeRoom: true })).join(`public-${room()}`);
        expect(full).not.toHaveProperty("permissions");
      });

      it('takes grants from the token\'s openlivesync.rooms claim: its room, else "*", else refused', async () => {
        const token = (rooms: Record<string, unknown>) =>
          `Bearer ${new UnsecuredJWT({ sub: "t1", openlivesync: { rooms } }).setExpirationTime("1h").encode()}`;
        const r = room();
        const viewer = await client({ onAuth: "token" }, { headers: { authorization: token({ [r]: "read", "*": false }) } });
        const joined = await viewer.join(r);
        expect(joined.permissions).toEqual({ presence: "read", events: "read", chat: "read" });
        // The claim stays out of the member's presence entry.
        expect(joined.presence[joined.connectionId]).not.toHaveProperty("openlivesync");
        viewer.send("join_room", { roomId: room() });
        expect((await viewer.next("error")).payload).toMatchObject({ code: "FORBIDDEN" });
        const scoped = await client(
          { onAuth: "token" },
          { headers: { authorization: token({ "*": { presence: "read", events: "write", chat: "write" } }) } },
        );
        expect((await scoped.join(room())).permissions).toEqual({ presence: "read", events: "write", chat: "write" });
      });
    });

    describe("liveness and bounds", () => {
      it.skipIf(differences.edge)("removes a peer that stops answering heartbeats and tells the room it left", async () => {
        const opts = { heartbeatIntervalMs: 200 };
        const r = room();
        const watcher = await client(opts);
        await watcher.join(r);
        const silent = await client(opts, { autoPong: false });
        const js = await silent.join(r);
        await watcher.until((all) => all.some((m) => m.payload?.left?.includes(js.connectionId)), 5000);
        const { code } = await silent.closed;
        expect([differences.heartbeatCloseCode ?? 4408, 1006]).toContain(code);
      });

      it("keeps a peer that answers heartbeats", async () => {
        const opts = { heartbeatIntervalMs: 100 };
        const a = await client(opts);
        await a.join(room());
        await pause(450);
        expect(a.ws.readyState).toBe(WebSocket.OPEN);
      });

      it.skipIf(differences.edge)(
        "closes a slow consumer whose outgoing buffer passes maxBufferedBytes, and keeps the others",
        async () => {
          // The sender floods on purpose: this is about the slow reader, not the sender's rate limit.
          const opts = { maxBufferedBytes: 1024 * 1024, rateLimit: false as const };
          const r = room();
          const [sender, reader] = [await client(opts), await client(opts)];
          await sender.join(r);
          await reader.join(r);
          const slow = await client(opts);
          const jslow = await slow.join(r);
          // Stop reading: the kernel buffers fill, then the server's queue grows past the bound.
          (slow.ws as any)._socket.pause();
          const slowLeft = () => reader.received.some((m) => m.payload?.left?.includes(jslow.connectionId));
          const chunk = "x".repeat(16 * 1024);
          // Paced in small bursts that the healthy reader drains, so only the stalled peer piles up.
          // Loopback kernel buffers hold several MB, so this may take a few thousand frames (bounded: 4000).
          let sent = 0;
          for (let i = 0; i < 500 && !slowLeft(); i++) {
            for (let k = 0; k < 8; k++, sent++) sender.send("broadcast_event", { event: "flood", payload: chunk });
            const want = sent;
            await reader.until((all) => all.filter((m) => m.type === "broadcast_event").length >= want || slowLeft(), 10_000);
          }
          await reader.until(slowLeft, 10_000);
          expect(reader.ws.readyState).toBe(WebSocket.OPEN);
          sender.send("broadcast_event", { event: "after-flood" });
          await reader.until((all) => all.some((m) => m.payload?.event === "after-flood"), 10_000);
        },
      );

      it.skipIf(differences.edge)("closes every socket with 1001 on shutdown", async () => {
        const fixture = await start({});
        const cs = await connectAll(fixture.wsUrl, 3);
        clients.push(...cs);
        await cs[0]!.join(room());
        await fixture.stop();
        for (const c of cs) expect((await c.closed).code).toBe(1001);
      });
    });
  });
}
