/**
 * The Worker's HTTP side beyond the live path: the HTTP API forwarded to the room's object, `/readyz` and
 * `/metrics`. The Worker holds no room state; each answer comes from the Durable Objects.
 */
import type { Hono } from "hono";
import { createBearerCheck } from "../../src/api/bearer.ts";
import { API_ERROR_STATUS, type ApiErrorCode, errorBody, toApiError } from "../../src/api/errors.ts";
import { API_PATH } from "../../src/api/routes.ts";
import { ROOM_HEADER, USER_HEADER, type CloudflareOptions } from "./options.ts";

/** At most this many rooms' objects are asked for one `/metrics` scrape. */
export const MAX_METRICS_ROOMS = 100;

export interface EdgeRoutes {
  options: CloudflareOptions;
  /** The object of `room` (undefined: the lobby object, which serves no room). */
  objectOf(room: string | undefined): { fetch(request: Request): Promise<Response> };
  /** Checks a room id against the rules; throws a ProtocolError. */
  roomIdOf(room: string): string;
}

/** `request` as the object of `room` receives it: the Worker's own headers set, a client's of those names dropped. */
export function toObject(edge: EdgeRoutes, room: string | undefined, request: Request, path?: string): Promise<Response> {
  const headers = new Headers(request.headers);
  headers.delete(USER_HEADER);
  headers.delete(ROOM_HEADER);
  if (room !== undefined) headers.set(ROOM_HEADER, room);
  const url = path === undefined ? request.url : new URL(path, request.url).href;
  return edge.objectOf(room).fetch(new Request(url, { method: request.method, headers, body: request.body }));
}

const failure = (code: ApiErrorCode, message: string) =>
  Response.json(errorBody(code, message), { status: API_ERROR_STATUS[code], headers: { "cache-control": "no-store" } });

/**
 * `/api/rooms/:roomId/…` to the room's object, which serves the same routes as every runtime (the bearer
 * token is checked here first, so a refused request wakes no object). `GET /api/rooms` cannot be served:
 * a namespace of Durable Objects cannot be listed, nor `/api/documents` (documents are not at the edge yet).
 * Other `/api` paths (`openapi.json`) go to the lobby object.
 */
export function addEdgeApi(app: Hono, edge: EdgeRoutes): void {
  const api = edge.options.api;
  if (!api) return;
  const authorized = createBearerCheck(api.secret);
  app.all(`${API_PATH}/*`, async (c) => {
    if (!(await authorized(c.req.header("authorization")))) {
      return failure("UNAUTHORIZED", "Send the API secret as: Authorization: Bearer <secret>");
    }
    const parts = c.req.path.slice(API_PATH.length + 1).split("/");
    if (parts[0] === "documents") {
      return failure("NOT_FOUND", "Shared documents are not served on Cloudflare yet (see docs/cloudflare.md)");
    }
    if (parts[0] !== "rooms") return toObject(edge, undefined, c.req.raw);
    if (parts.length === 1) {
      return failure("NOT_FOUND", "GET /api/rooms is not served on Cloudflare: Durable Objects cannot be listed (see docs/cloudflare.md)");
    }
    let room: string;
    try {
      room = edge.roomIdOf(decodeURIComponent(parts[1] ?? ""));
    } catch (error) {
      const known = toApiError(error);
      return known ? failure(known.code, known.message) : failure("INVALID_PAYLOAD", "Invalid room id");
    }
    return toObject(edge, room, c.req.raw);
  });
}

/**
 * `GET /readyz`: the lobby object's readiness (its SQLite answers a read). `GET /metrics?room=a&room=b`:
 * the named rooms' objects' figures, summed series by series; without `room`, the lobby object's.
 */
export function addEdgeMonitoring(app: Hono, edge: EdgeRoutes): void {
  if (edge.options.monitoring === false) return;
  app.get("/readyz", (c) => toObject(edge, undefined, c.req.raw, "/readyz"));
  app.get("/metrics", async (c) => {
    const named = c.req.queries("room") ?? [];
    if (named.length > MAX_METRICS_ROOMS) return c.text(`At most ${MAX_METRICS_ROOMS} rooms per scrape`, 400);
    let rooms: (string | undefined)[];
    try {
      rooms = named.length === 0 ? [undefined] : [...new Set(named)].map((room) => edge.roomIdOf(room));
    } catch (error) {
      return c.text(`Invalid room id: ${(error as Error).message}`, 400);
    }
    const texts = await Promise.all(rooms.map(async (room) => (await toObject(edge, room, c.req.raw, "/metrics")).text()));
    return c.body(sumMetrics(texts), 200, { "content-type": "text/plain; version=0.0.4; charset=utf-8" });
  });
}

/**
 * Prometheus texts of several objects as one: each series' values added up (every figure the engine
 * reports at the edge is a count or a sum), families kept together in the order first seen.
 */
export function sumMetrics(texts: string[]): string {
  const families = new Map<string, { comments: string[]; samples: Map<string, number> }>();
  for (const text of texts) {
    let family = "";
    for (const line of text.split("\n")) {
      if (line === "") continue;
      const comment = /^# (?:HELP|TYPE) (\S+)/.exec(line);
      if (comment) family = comment[1]!;
      let entry = families.get(family);
      if (!entry) families.set(family, (entry = { comments: [], samples: new Map() }));
      if (line.startsWith("#")) {
        if (!entry.comments.includes(line)) entry.comments.push(line);
        continue;
      }
      const at = line.lastIndexOf(" ");
      const series = line.slice(0, at);
      entry.samples.set(series, (entry.samples.get(series) ?? 0) + Number(line.slice(at + 1)));
    }
  }
  const out: string[] = [];
  for (const { comments, samples } of families.values()) {
    out.push(...comments);
    for (const [series, value] of samples) out.push(`${series} ${value}`);
  }
  return `${out.join("\n")}\n`;
}
