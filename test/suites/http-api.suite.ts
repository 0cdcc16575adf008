/**
 * The HTTP API's contract over real HTTP and real sockets: each runtime's test file starts fixtures its
 * own way (createServer, the Hono mount) and runs this suite; members are WebSocket clients.
 */
import { afterAll, describe, expect, it } from "vitest";
import type { FixtureOptions } from "../fixtures/options.ts";
import { TestClient } from "../helpers/client.ts";
import type { Fixture, StartFixture } from "./wire-protocol.suite.ts";
import { documentRouteTests } from "./http-api-documents.ts";

export const API_SECRET = "test-api-secret-0123456789";

/** Requests to one server's API, with the bearer token unless `headers` replace it. */
export function httpApi(httpUrl: string, secret = API_SECRET) {
  const call = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
    fetch(`${httpUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${secret}`, ...(body === undefined ? {} : { "content-type": "application/json" }), ...headers },
      body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    });
  return {
    get: (path: string, headers?: Record<string, string>) => call("GET", path, undefined, headers),
    post: (path: string, body: unknown, headers?: Record<string, string>) => call("POST", path, body, headers),
    del: (path: string) => call("DELETE", path),
  };
}

/** The JSON of a response, with its status, for one `toMatchObject`. */
export async function answer(res: Response): Promise<{ status: number; body: any }> {
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

/** `mounted`: the fixture is the Hono mount, whose app has its own `GET /api/hello` (server-entry.ts). */
export function httpApiSuite(runtime: string, start: StartFixture, mounted = false) {
  describe(`HTTP API on ${runtime}`, () => {
    const fixtures = new Map<string, Promise<Fixture>>();
    const clients: TestClient[] = [];
    const server = (options: FixtureOptions = { apiSecret: API_SECRET, maxPayload: 4096 }) => {
      const key = JSON.stringify(options);
      if (!fixtures.has(key)) fixtures.set(key, start(options));
      return fixtures.get(key)!;
    };
    const api = async () => httpApi((await server()).httpUrl);
    const member = async (roomId: string, presence?: Record<string, unknown>) => {
      const c = new TestClient((await server()).wsUrl);
      clients.push(c);
      const joined = await c.join(roomId, presence);
      return Object.assign(c, { connectionId: joined.connectionId as string });
    };
    const room = () => `api room/${Math.random().toString(36).slice(2, 10)}`;
    const at = (roomId: string) => `/api/rooms/${encodeURIComponent(roomId)}`;

    afterAll(async () => {
      for (const c of clients) c.terminate();
      for (const started of await Promise.allSettled(fixtures.values())) {
        if (started.status === "fulfilled") await started.value.stop();
      }
    });

    it("has nothing under /api when the api option is unset", async () => {
      const { httpUrl } = await server({});
      const res = await httpApi(httpUrl).get("/api/rooms");
      expect(res.status).toBe(404);
      await res.body?.cancel();
    });

    it("answers 401 with WWW-Authenticate: Bearer without the token or with a wrong one", async () => {
      const { httpUrl } = await server();
      for (const res of [await fetch(`${httpUrl}/api/rooms`), await httpApi(httpUrl, "x".repeat(26)).get("/api/rooms")]) {
        expect(res.headers.get("www-authenticate")).toMatch(/^Bearer/);
        expect(await answer(res)).toMatchObject({ status: 401, body: { error: { code: "UNAUTHORIZED" } } });
      }
    });

    it("lists the rooms with their member counts, and a room's presence as room_joined gives it", async () => {
      const r = room();
      const a = await member(r, { cursor: 1 });
      const b = await member(r);
      const rooms = await answer(await (await api()).get("/api/rooms"));
      expect(rooms.status).toBe(200);
      expect(rooms.body.rooms).toContainEqual({ roomId: r, members: 2 });
      const presence = await answer(await (await api()).get(`${at(r)}/presence`));
      expect(presence).toMatchObject({ status: 200, body: { roomId: r } });
      expect(Object.keys(presence.body.presence).sort()).toEqual([a.connectionId, b.connectionId].sort());
      expect(presence.body.presence[a.connectionId]).toMatchObject({ connectionId: a.connectionId, presence: { cursor: 1 } });
      expect(await answer(await (await api()).get(`${at(room())}/presence`))).toEqual({
        status: 200,
        body: expect.objectContaining({ presence: {} }),
      });
    });

    it("sends a POSTed event to every member as a broadcast_event from the server (202)", async () => {
      const r = room();
      const [a, b] = [await member(r), await member(r)];
      const res = await (await api()).post(`${at(r)}/events`, { event: "doc.saved", payload: { version: 3 } });
      // `{ offset }` where streams are on (one instance), no body where they are off.
      const { status, body } = await answer(res);
      expect(status).toBe(202);
      if (body !== undefined) expect(body).toEqual({ offset: expect.any(Number) });
      for (const c of [a, b]) {
        expect((await c.next("broadcast_event")).payload).toMatchObject({
          roomId: r,
          connectionId: "server",
          event: "doc.saved",
          payload: { version: 3 },
        });
      }
    });

    it("publishes a POSTed event with a repeated Idempotency-Key once; the repeat gets the first answer and Idempotent-Replayed", async () => {
      const r = room();
      const [a, b] = [await member(r), await member(r)];
      const post = async (key: string, version: number) =>
        (await api()).post(`${at(r)}/events`, { event: "doc.saved", payload: { version } }, { "idempotency-key": key });
      const first = await post("save-1", 1);
      const firstBody = await answer(first);
      expect(firstBody).toEqual({ status: 202, body: { offset: expect.any(Number) } });
      const repeat = await post("save-1", 1);
      expect(repeat.headers.get("idempotent-replayed")).toBe("true");
      expect(await answer(repeat)).toEqual(firstBody);
      expect(await answer(await post("save-2", 2))).toEqual({ status: 202, body: { offset: firstBody.body.offset + 1 } });
      for (const c of [a, b]) {
        await c.until((all) => all.filter((m) => m.type === "broadcast_event").length === 2);
        expect(c.all("broadcast_event").map((m) => [m.payload.payload.version, m.payload.offset])).toEqual([
          [1, firstBody.body.offset],
          [2, firstBody.body.offset + 1],
        ]);
      }
    });

    it("stores a POSTed chat message (201 with it), sends it to every member, and pages it like get_chat_history", async () => {
      const r = room();
      const a = await member(r);
      const first = await answer(await (await api()).post(`${at(r)}/chat`, { message: "one", name: "Bot", metadata: { k: 1 } }));
      expect(first).toMatchObject({
        status: 201,
        body: { roomId: r, message: "one", name: "Bot", metadata: { k: 1 }, id: expect.any(String) },
      });
      expect((await a.next("chat_message")).payload).toMatchObject({ id: first.body.id, message: "one", name: "Bot" });
      for (const message of ["two", "three"]) expect((await (await api()).post(`${at(r)}/chat`, { message })).status).toBe(201);
      const newest = await answer(await (await api()).get(`${at(r)}/chat?limit=2`));
      expect(newest.status).toBe(200);
      expect(newest.body).toMatchObject({ hasMore: true, messages: [{ message: "two" }, { message: "three" }] });
      const older = await answer(await (await api()).get(`${at(r)}/chat?limit=2&before=${encodeURIComponent(newest.body.messages[0].id)}`));
      expect(older.body).toMatchObject({ hasMore: false, messages: [{ id: first.body.id, message: "one" }] });
    });

    it("closes a member's socket with 4403 on DELETE (204), and answers 404 for a connection not in the room", async () => {
      const r = room();
      const [a, b] = [await member(r), await member(room())];
      expect(await answer(await (await api()).del(`${at(r)}/connections/${b.connectionId}`))).toMatchObject({
        status: 404,
        body: { error: { code: "NOT_FOUND" } },
      });
      expect(await answer(await (await api()).del(`${at(r)}/connections/${a.connectionId}`))).toEqual({ status: 204, body: undefined });
      expect((await a.closed).code).toBe(4403);
      expect(b.ws.readyState).toBe(b.ws.OPEN);
    });

    it("answers 413 to a body over maxPayload, 400 to one that is not JSON, 422 to invalid input, 404 to unknown routes", async () => {
      const r = room();
      const http = await api();
      const cases: [Promise<Response>, number, string][] = [
        [http.post(`${at(r)}/events`, { event: "big", payload: "x".repeat(5000) }), 413, "TOO_LARGE"],
        [http.post(`${at(r)}/events`, "{not json"), 400, "INVALID_JSON"],
        [http.post(`${at(r)}/events`, { payload: 1 }), 422, "INVALID_PAYLOAD"],
        [http.post(`${at(r)}/chat`, { message: 5 }), 422, "INVALID_PAYLOAD"],
        [http.get(`${at("x".repeat(300))}/presence`), 422, "INVALID_PAYLOAD"],
        [http.get(`${at(r)}/chat?limit=500`), 422, "INVALID_PAYLOAD"],
        [http.get("/api/nothing-here"), 404, "NOT_FOUND"],
      ];
      for (const [res, status, code] of cases) expect(await answer(await res)).toMatchObject({ status, body: { error: { code } } });
    });

    it("answers 413 to a chunked body as soon as it passes maxPayload", async () => {
      const chunk = new TextEncoder().encode(`"${"x".repeat(998)}"`);
      const body = new ReadableStream({
        start(controller) {
          for (let i = 0; i < 5; i++) controller.enqueue(chunk);
          controller.close();
        },
      });
      const res = await fetch(`${(await server()).httpUrl}${at(room())}/events`, {
        method: "POST",
        headers: { authorization: `Bearer ${API_SECRET}` },
        body,
        duplex: "half",
      } as RequestInit);
      expect(await answer(res)).toMatchObject({ status: 413, body: { error: { code: "TOO_LARGE" } } });
    });

    it("deletes a stored chat message (204): members get chat_deleted, no history page or resume returns it; 404 when unknown", async () => {
      const r = room();
      const [a, b] = [await member(r), await member(r)];
      const http = await api();
      const kept = await answer(await http.post(`${at(r)}/chat`, { message: "kept" }));
      const gone = await answer(await http.post(`${at(r)}/chat`, { message: "gone" }));
      for (const c of [a, b]) await c.next("chat_message"), await c.next("chat_message");
      expect(await answer(await http.del(`${at(r)}/chat/${gone.body.id}`))).toEqual({ status: 204, body: undefined });
      // A room message like the others: on the room's stream (an offset where streams are on).
      for (const c of [a, b]) {
        const { offset: _o, ...deleted } = (await c.next("chat_deleted")).payload;
        expect(deleted).toEqual({ roomId: r, id: gone.body.id });
      }
      expect(await answer(await http.del(`${at(r)}/chat/${gone.body.id}`))).toMatchObject({
        status: 404,
        body: { error: { code: "NOT_FOUND" } },
      });
      expect(await answer(await http.del(`${at(room())}/chat/${kept.body.id}`))).toMatchObject({ status: 404 });
      const page = await answer(await http.get(`${at(r)}/chat`));
      expect(page.body.messages.map((m: { message: string }) => m.message)).toEqual(["kept"]);
      const late = await member(r);
      expect(late.all("room_joined")[0]!.payload.chatHistory.map((m: { id: string }) => m.id)).toEqual([kept.body.id]);
      const resumer = new TestClient((await server()).wsUrl);
      clients.push(resumer);
      const resumed = await resumer.join(r, undefined, { lastMessageId: kept.body.id });
      expect(resumed).toMatchObject({ resumed: true, chatHistory: [] });
    });

    it("bans a user from a room: its sockets there close (4403), its joins get FORBIDDEN until lifted; lists and lifts bans", async () => {
      const options = { apiSecret: API_SECRET, maxPayload: 4096, onAuth: "x-user" } as const;
      const { wsUrl, httpUrl } = await server(options);
      const http = httpApi(httpUrl);
      const as = async (user: string, roomId: string) => {
        const c = new TestClient(wsUrl, { headers: { "x-user": user } });
        clients.push(c);
        await c.join(roomId);
        return c;
      };
      const r = room();
      const elsewhere = room();
      const [mallory, alice, malloryElsewhere] = [await as("mallory", r), await as("alice", r), await as("mallory", elsewhere)];
      const ban = await answer(await http.post(`${at(r)}/bans`, { userId: "mallory", reason: "spam" }));
      expect(ban).toMatchObject({ status: 201, body: { roomId: r, userId: "mallory", reason: "spam", createdAt: expect.any(Number) } });
      expect(ban.body.expiresAt).toBeUndefined();
      expect(await mallory.closed).toMatchObject({ code: 4403 });
      expect(alice.ws.readyState).toBe(alice.ws.OPEN);
      expect(malloryElsewhere.ws.readyState).toBe(malloryElsewhere.ws.OPEN);

      const again = new TestClient(wsUrl, { headers: { "x-user": "mallory" } });
      clients.push(again);
      await again.opened;
      again.send("join_room", { roomId: r });
      expect((await again.next("error")).payload).toMatchObject({ code: "FORBIDDEN", message: expect.stringContaining("Banned") });
      expect(await answer(await http.get(`${at(r)}/bans`))).toMatchObject({
        status: 200,
        body: { roomId: r, bans: [{ userId: "mallory" }] },
      });
      expect(await answer(await http.post(`${at(r)}/bans`, { userId: "" }))).toMatchObject({ status: 422 });
      expect(await answer(await http.post(`${at(r)}/bans`, { userId: "x", durationMs: -1 }))).toMatchObject({ status: 422 });

      expect((await http.del(`${at(r)}/bans/mallory`)).status).toBe(204);
      expect(await answer(await http.del(`${at(r)}/bans/mallory`))).toMatchObject({ status: 404, body: { error: { code: "NOT_FOUND" } } });
      expect(await answer(await http.get(`${at(r)}/bans`))).toMatchObject({ body: { bans: [] } });
      again.send("join_room", { roomId: r });
      expect((await again.next("room_joined")).payload.roomId).toBe(r);
    });

    it("lets a timed ban expire by itself", async () => {
      const { wsUrl, httpUrl } = await server({ apiSecret: API_SECRET, maxPayload: 4096, onAuth: "x-user" });
      const r = room();
      expect((await httpApi(httpUrl).post(`${at(r)}/bans`, { userId: "brief", durationMs: 300 })).status).toBe(201);
      const c = new TestClient(wsUrl, { headers: { "x-user": "brief" } });
      clients.push(c);
      await c.opened;
      c.send("join_room", { roomId: r });
      expect((await c.next("error")).payload).toMatchObject({ code: "FORBIDDEN" });
      await new Promise((resolve) => setTimeout(resolve, 400));
      c.send("join_room", { roomId: r });
      expect((await c.next("room_joined")).payload.roomId).toBe(r);
    });

    if (mounted) {
      it("leaves the app's own /api route, added before mountLive, to the app", async () => {
        const res = await fetch(`${(await server()).httpUrl}/api/hello`);
        expect(await answer(res)).toMatchObject({ status: 200, body: { hello: "world" } });
      });
    }

    it("serves the admin page at /admin under a nonce-only Content-Security-Policy", async () => {
      const res = await fetch(`${(await server()).httpUrl}/admin`);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-security-policy")).toMatch(/^default-src 'none'; script-src 'nonce-[0-9a-f]{32}'/);
      expect(await res.text()).toContain("openlivesync admin");
    });

    it("serves its OpenAPI 3.1 document to a request with the token", async () => {
      const doc = await answer(await (await api()).get("/api/openapi.json"));
      expect(doc).toMatchObject({ status: 200, body: { openapi: "3.1.0", security: [{ bearer: [] }] } });
      expect(Object.keys(doc.body.paths)).toContain("/api/rooms/{roomId}/connections/{connectionId}");
      expect(Object.keys(doc.body.paths)).toEqual(
        expect.arrayContaining([
          "/api/rooms/{roomId}/chat/{messageId}",
          "/api/rooms/{roomId}/bans/{userId}",
          "/api/documents",
          "/api/documents/{name}",
          "/api/documents/{name}/updates",
        ]),
      );
    });

    documentRouteTests(server);
  });
}
