/**
 * The HTTP API's own layer (bearer check, body bound, validation, error mapping) in front of a recording
 * `ServerApi`, through `app.request`. The real engine behind it, over real sockets on every runtime and a
 * Redis cluster, is tested in test/suites/http-api.suite.ts.
 */
import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import { checkApiSecret, createBearerCheck } from "../../src/api/bearer.ts";
import { addApiRoutes, type ApiTarget } from "../../src/api/routes.ts";
import type { ServerApi } from "../../src/engine/server-api.ts";
import { ProtocolError, StorageError } from "../../src/errors.ts";
import { resolveOptions } from "../../src/options.ts";

const SECRET = "s3cret-s3cret-s3cret";
const auth = { authorization: `Bearer ${SECRET}` };

function setup(overrides: Partial<ServerApi> = {}) {
  const calls: unknown[][] = [];
  const reported: unknown[] = [];
  const record =
    (name: string, result?: unknown) =>
    async (...args: unknown[]) => {
      calls.push([name, ...args]);
      return result;
    };
  const api: ServerApi = {
    rooms: record("rooms", [{ roomId: "a", members: 2 }]) as ServerApi["rooms"],
    presence: record("presence", { c1: { connectionId: "c1", presence: {} } }) as ServerApi["presence"],
    publish: record("publish") as ServerApi["publish"],
    sendChat: record("sendChat", { id: "m1", roomId: "a", connectionId: "server", message: "hi", createdAt: 1 }) as ServerApi["sendChat"],
    chatHistory: record("chatHistory", { messages: [], hasMore: false }) as ServerApi["chatHistory"],
    disconnect: record("disconnect") as ServerApi["disconnect"],
    deleteChat: record("deleteChat", true) as ServerApi["deleteChat"],
    ban: record("ban", { roomId: "a", userId: "u1", createdAt: 1 }) as ServerApi["ban"],
    bans: record("bans", []) as ServerApi["bans"],
    unban: record("unban", true) as ServerApi["unban"],
    watch: () => () => {},
    ...overrides,
  };
  const options = { ...resolveOptions({ maxPayload: 1024, maxRoomIdLength: 10 }), onError: (error: unknown) => void reported.push(error) };
  const target: ApiTarget = { api, options };
  const app = new Hono();
  app.get("/api/mine", (c) => c.text("the app's own route"));
  addApiRoutes(app, target, { secret: SECRET });
  const request = (path: string, init: RequestInit = {}) =>
    app.request(path, { ...init, headers: { ...auth, ...(init.headers as Record<string, string>) } });
  return { app, calls, reported, request };
}

describe("HTTP API routes", () => {
  it("answers 401 with WWW-Authenticate without the bearer token, with a wrong one, and with another scheme", async () => {
    const { app, calls } = setup();
    for (const headers of [
      {} as Record<string, string>,
      { authorization: "Bearer wrong" },
      { authorization: `Bearer ${SECRET}x` },
      { authorization: `Basic ${SECRET}` },
    ]) {
      const res = await app.request("/api/rooms", { headers });
      expect(res.status).toBe(401);
      expect(res.headers.get("www-authenticate")).toMatch(/^Bearer/);
      expect(await res.json()).toMatchObject({ error: { code: "UNAUTHORIZED" } });
    }
    const nowhere = await app.request("/api/nowhere");
    expect(nowhere.status).toBe(401); // routes are not revealed without the token
    expect(calls).toEqual([]);
    expect((await app.request("/api/rooms", { headers: { authorization: `bearer ${SECRET}` } })).status).toBe(200);
  });

  it("refuses a secret shorter than 16 characters, or none, at start-up", () => {
    expect(() => addApiRoutes(new Hono(), { api: {} as ServerApi, options: resolveOptions() }, { secret: "short" })).toThrow(/at least 16/);
    expect(() => checkApiSecret(undefined)).toThrow(/at least 16/);
    expect(() => checkApiSecret("with a space in it ok")).toThrow(/whitespace/);
  });

  it("compares the whole token: a prefix, an extension or a case change of the secret is refused", async () => {
    const check = createBearerCheck(SECRET);
    expect(await check(`Bearer ${SECRET}`)).toBe(true);
    for (const token of [SECRET.slice(0, -1), `${SECRET}0`, SECRET.toUpperCase(), ""]) expect(await check(`Bearer ${token}`)).toBe(false);
    expect(await check(null)).toBe(false);
  });

  it("leaves the app's own /api routes registered before it alone, and answers JSON 404 under /api otherwise", async () => {
    const { app, request } = setup();
    expect(await (await app.request("/api/mine")).text()).toBe("the app's own route");
    const res = await request("/api/rooms/a/unknown");
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ error: { code: "NOT_FOUND" } });
    expect((await request("/api/rooms", { method: "PUT" })).status).toBe(404);
  });

  it("passes valid requests to the ServerApi with decoded room ids", async () => {
    const { calls, request } = setup();
    expect(await (await request("/api/rooms")).json()).toEqual({ rooms: [{ roomId: "a", members: 2 }], total: 1 });
    expect(await (await request("/api/rooms/a%2Fb%20c/presence")).json()).toMatchObject({ roomId: "a/b c" });
    expect((await request("/api/rooms/r/chat?limit=5&before=m9")).status).toBe(200);
    expect((await request("/api/rooms/r/chat")).status).toBe(200);
    const event = await request("/api/rooms/r/events", { method: "POST", body: JSON.stringify({ event: "saved", payload: { v: 1 } }) });
    expect(event.status).toBe(202);
    const chat = await request("/api/rooms/r/chat", { method: "POST", body: JSON.stringify({ message: "hi", name: "Bot" }) });
    expect(chat.status).toBe(201);
    expect(await chat.json()).toMatchObject({ id: "m1", message: "hi" });
    expect((await request("/api/rooms/r/connections/c1?code=4000&reason=bye", { method: "DELETE" })).status).toBe(204);
    expect(calls).toEqual([
      ["rooms"],
      ["presence", "a/b c"],
      ["chatHistory", "r", { limit: 5, before: "m9" }],
      ["chatHistory", "r", {}],
      ["publish", "r", "saved", { v: 1 }],
      ["sendChat", "r", { message: "hi", name: "Bot" }],
      ["presence", "r"],
      ["disconnect", { connectionId: "c1" }, { code: 4000, reason: "bye" }],
    ]);
  });

  it("answers 404 to DELETE of a connection that is not in the room's presence, and disconnects nothing", async () => {
    const { calls, request } = setup();
    const res = await request("/api/rooms/r/connections/c2", { method: "DELETE" });
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ error: { code: "NOT_FOUND" } });
    expect(calls.map((c) => c[0])).toEqual(["presence"]);
  });

  it("answers 422 INVALID_PAYLOAD to bad room ids, bodies and queries, without calling the ServerApi", async () => {
    const { calls, request } = setup();
    const post = (path: string, body: unknown) => request(path, { method: "POST", body: JSON.stringify(body) });
    const responses = [
      await request("/api/rooms/elevenchars/presence"),
      await request("/api/rooms/a%00b/presence"),
      await request("/api/rooms/r/chat?limit=0"),
      await request("/api/rooms/r/chat?limit=101"),
      await request("/api/rooms/r/chat?limit=ten"),
      await post("/api/rooms/r/events", { event: 1 }),
      await post("/api/rooms/r/events", [1]),
      await post("/api/rooms/r/chat", { message: "" }),
      await post("/api/rooms/r/chat", { message: "x", metadata: [1] }),
      await post("/api/rooms/r/events", { event: "e", payload: JSON.parse(`${"[".repeat(40)}${"]".repeat(40)}`) }),
      await request("/api/rooms/r/connections/c1?code=2000", { method: "DELETE" }),
    ];
    for (const res of responses) {
      expect(res.status).toBe(422);
      expect(await res.json()).toMatchObject({ error: { code: "INVALID_PAYLOAD", message: expect.any(String) } });
    }
    const missing = await post("/api/rooms/r/events", { payload: 1 });
    expect(await missing.json()).toEqual({ error: { code: "INVALID_PAYLOAD", message: "Invalid event: event is required" } });
    expect(calls).toEqual([]);
  });

  it("answers 400 to a body that is not JSON, and 413 to one over maxPayload whether declared or streamed", async () => {
    const { calls, request } = setup();
    const bad = await request("/api/rooms/r/events", { method: "POST", body: "{nope" });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: { code: "INVALID_JSON" } });
    const big = JSON.stringify({ event: "e", payload: "x".repeat(2000) });
    expect((await request("/api/rooms/r/events", { method: "POST", body: big })).status).toBe(413);
    const stream = new ReadableStream({
      start(controller) {
        for (let i = 0; i < 10; i++) controller.enqueue(new TextEncoder().encode("x".repeat(200)));
        controller.close();
      },
    });
    const streamed = await request("/api/rooms/r/events", { method: "POST", body: stream, duplex: "half" } as RequestInit);
    expect(streamed.status).toBe(413);
    expect(await streamed.json()).toMatchObject({ error: { code: "TOO_LARGE" } });
    expect(calls).toEqual([]);
  });

  it("maps the ServerApi's errors: ProtocolError by its code, StorageError to 503, anything else to 500 and onError", async () => {
    const { request } = setup({
      publish: async () => {
        throw new ProtocolError("TOO_LARGE", "too big");
      },
      chatHistory: async () => {
        throw new StorageError("db down");
      },
    });
    const { reported, request: failing } = setup({ rooms: async () => Promise.reject(new Error("bug")) });
    expect((await request("/api/rooms/r/events", { method: "POST", body: '{"event":"e"}' })).status).toBe(413);
    const storage = await request("/api/rooms/r/chat");
    expect(storage.status).toBe(503);
    expect(await storage.json()).toMatchObject({ error: { code: "STORAGE_ERROR" } });
    const internal = await failing("/api/rooms");
    expect(internal.status).toBe(500);
    expect(await internal.json()).toMatchObject({ error: { code: "INTERNAL_ERROR" } });
    expect(reported).toEqual([new Error("bug")]);
  });

  it("serves an OpenAPI 3.1 document with the bearer scheme and the configured limits", async () => {
    const { app, request } = setup();
    expect((await app.request("/api/openapi.json")).status).toBe(401);
    const doc = (await (await request("/api/openapi.json")).json()) as any;
    expect(doc.openapi).toBe("3.1.0");
    expect(doc.components.securitySchemes.bearer).toMatchObject({ type: "http", scheme: "bearer" });
    expect(doc.security).toEqual([{ bearer: [] }]);
    expect(doc.paths["/api/rooms/{roomId}/presence"].get.parameters[0].schema).toMatchObject({ type: "string", maxLength: 10 });
    expect(doc.components.schemas.PublishEvent).toMatchObject({ type: "object", required: ["event"] });
    expect(doc.components.schemas.SendChat.properties.metadata).toEqual({ type: "object" });
    const limit = doc.paths["/api/rooms/{roomId}/chat"].get.parameters.find((p: any) => p.name === "limit");
    expect(limit.schema).toMatchObject({ type: "integer", minimum: 1, maximum: 100 });
  });
  it("searches, sorts and pages GET /api/rooms on the server, and refuses a bad sort, order or number", async () => {
    const rooms = [
      { roomId: "alpha", members: 3 },
      { roomId: "beta", members: 9 },
      { roomId: "Alphabet", members: 1 },
    ];
    const { request } = setup({ rooms: async () => rooms });
    const get = async (query: string) => (await request(`/api/rooms${query}`)).json();
    expect(await get("")).toEqual({ rooms: [rooms[2], rooms[0], rooms[1]], total: 3 }); // by id, byte order
    expect(await get("?q=ALPHA&sort=members&order=desc")).toEqual({ rooms: [rooms[0], rooms[2]], total: 2 });
    expect(await get("?sort=members&offset=1&limit=1")).toEqual({ rooms: [rooms[0]], total: 3 });
    expect(await get("?sort=roomId&order=desc&limit=2")).toEqual({ rooms: [rooms[1], rooms[0]], total: 3 });
    for (const query of ["?sort=size", "?order=up", "?limit=-1", "?limit=1001", "?offset=x"]) {
      expect((await request(`/api/rooms${query}`)).status, query).toBe(422);
    }
  });

  it("serves the admin page with a nonce-only Content-Security-Policy, unless admin: false", async () => {
    const { app } = setup();
    const res = await app.request("/admin");
    expect(res.status).toBe(200);
    const csp = res.headers.get("content-security-policy")!;
    const nonce = /script-src 'nonce-([0-9a-f]{32})'/.exec(csp)?.[1];
    expect(nonce).toBeDefined();
    const html = await res.text();
    expect(html).toContain(`<script nonce="${nonce}">`);
    expect(html).not.toMatch(/<script src|<link |https?:\/\//);
    const second = (await app.request("/admin")).headers.get("content-security-policy");
    expect(second).not.toBe(csp);
    const off = new Hono();
    addApiRoutes(off, { api: {} as ServerApi, options: resolveOptions({}) }, { secret: SECRET, admin: false });
    expect((await off.request("/admin")).status).toBe(404);
  });
});
