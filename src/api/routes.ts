/**
 * The HTTP API (`api: { secret }`): the in-process `LiveApi` as JSON routes under `/api`, behind a bearer
 * token. Runtime-neutral Hono: the adapters add it to the standalone server's app or to the user's app.
 */
import { type Context, Hono } from "hono";
import type { LiveApi } from "../engine/server-api.ts";
import { ErrorCodes, StorageError, type ErrorStage } from "../errors.ts";
import { createServerInputParser, type MessageLimits } from "../protocol/validate.ts";
import { checkApiSecret, createBearerCheck } from "./bearer.ts";
import { readJsonObject } from "./body.ts";
import { API_ERROR_STATUS, ApiError, type ApiErrorCode, errorBody, toApiError } from "./errors.ts";
import { createOpenApiDocument } from "./openapi.ts";
import { queryNumber } from "./schemas.ts";
import { adminCsp, adminPage } from "./admin-page.ts";
import { roomQuery, roomsPage } from "./room-query.ts";
import { tail } from "./tail.ts";
import { addAdminRoutes, type AdminSources } from "./admin-routes.ts";
import { toHex } from "../util/hex.ts";
import { addDocumentRoutes, type DocumentsTarget } from "./document-routes.ts";

/** Option `api`: turns the HTTP API on. */
export interface ApiOptions {
  /**
   * The bearer token every request must carry (`Authorization: Bearer <secret>`); at least 16 characters.
   * @example api: { secret: process.env.API_SECRET }
   */
  secret: string;
  /**
   * Serve the admin page at `/admin` (it signs in with `secret`). `false` turns it off.
   * @default true
   */
  admin?: boolean;
}

/** What the routes need from the engine: its API, its limits, its error reporter and its documents (and what the admin page reads). */
export interface ApiTarget extends AdminSources {
  readonly api: LiveApi;
  /** The shared documents; undefined with `documents: false` (their routes then answer 404). */
  readonly documents?: DocumentsTarget | undefined;
  readonly options: MessageLimits & {
    readonly maxPayload: number;
    readonly onError: (error: unknown, context: { stage: ErrorStage }) => void;
  };
}

/** Where the routes live. */
export const API_PATH = "/api";

/**
 * Adds the API's routes under `/api` to `app` when `options` is given (the `api` option); nothing
 * otherwise. Every request under `/api` then needs the bearer token; routes of the app registered before
 * this call keep answering first.
 * @example
 * addApiRoutes(app, engine, options.api);
 */
export function addApiRoutes(app: Hono<any, any, any>, target: ApiTarget, options: ApiOptions | undefined): void {
  if (options === undefined) return;
  app.route(API_PATH, createApiApp(target, options));
  if (options.admin !== false) app.get(ADMIN_PATH, (c) => serveAdminPage(c));
}

/** Where the admin page lives. */
export const ADMIN_PATH = "/admin";

function serveAdminPage(c: Context): Response {
  const nonce = toHex(crypto.getRandomValues(new Uint8Array(16)));
  c.header("content-security-policy", adminCsp(nonce));
  c.header("x-content-type-options", "nosniff");
  c.header("referrer-policy", "no-referrer");
  c.header("cache-control", "no-store");
  return c.html(adminPage(nonce));
}

function createApiApp(target: ApiTarget, options: ApiOptions): Hono {
  checkApiSecret(options?.secret);
  const authorized = createBearerCheck(options.secret);
  const input = createServerInputParser(target.options);
  let openApi: unknown;
  const app = new Hono();

  app.use("*", async (c, next) => {
    if (await authorized(c.req.header("authorization"))) return next();
    c.header("www-authenticate", 'Bearer realm="openlivesync"');
    // The body of an unauthenticated request is never read: the connection ends with the answer.
    c.header("connection", "close");
    return fail(c, ErrorCodes.UNAUTHORIZED, "Send the API secret as: Authorization: Bearer <secret>");
  });
  app.get("/openapi.json", (c) => c.json((openApi ??= createOpenApiDocument(input.schemas))));
  addRoomRoutes(app, target, input);
  addModerationRoutes(app, target, input);
  addDocumentRoutes(app, target.documents);
  addAdminRoutes(app, target);
  app.all("*", (c) => fail(c, "NOT_FOUND", `No route ${c.req.method} ${c.req.path}`));
  app.onError((error, c) => {
    const known = toApiError(error);
    if (known) return fail(c, known.code, known.message);
    target.options.onError(error, { stage: "api" });
    return fail(c, ErrorCodes.INTERNAL_ERROR, "The server failed to handle the request (reported to onError)");
  });
  return app;
}

type ServerInput = ReturnType<typeof createServerInputParser>;

/** Rooms, presence, events and chat. The room id is checked with the server API's own parser, so a bad request is refused before the API is called. */
function addRoomRoutes(app: Hono, { api, options: limits }: ApiTarget, input: ServerInput): void {
  const roomOf = (c: Context) => input.roomId(c.req.param("roomId"));
  app.get("/rooms", async (c) => c.json(roomsPage(await api.rooms(), roomQuery(c))));
  app.get("/rooms/:roomId/tail", (c) => tail(c, api, roomOf(c)));
  app.get("/rooms/:roomId/presence", async (c) => {
    const roomId = roomOf(c);
    return c.json({ roomId, presence: await api.presence(roomId) });
  });
  app.get("/rooms/:roomId/chat", async (c) => {
    const roomId = roomOf(c);
    const query = given({ before: c.req.query("before"), limit: queryNumber(c.req.query("limit")) });
    return c.json(await api.chatHistory(roomId, input.page(query)));
  });
  app.post("/rooms/:roomId/events", async (c) => {
    const roomId = roomOf(c);
    const body = input.event(await readJsonObject(c.req.raw, limits.maxPayload));
    const key = c.req.header("Idempotency-Key");
    const result = await (key === undefined
      ? api.publish(roomId, body.event, body.payload)
      : api.publish(roomId, body.event, body.payload, { idempotencyKey: key }));
    // A repeated key answers what the first request got, and says it is a replay (as Stripe does).
    if (result?.duplicate) c.header("Idempotent-Replayed", "true");
    return result?.offset === undefined ? c.body(null, 202) : c.json({ offset: result.offset }, 202);
  });
  app.post("/rooms/:roomId/chat", async (c) => {
    const roomId = roomOf(c);
    return c.json(await api.sendChat(roomId, input.chat(await readJsonObject(c.req.raw, limits.maxPayload))), 201);
  });
}

/** Disconnects, chat deletion and bans. */
function addModerationRoutes(app: Hono, { api, options: limits }: ApiTarget, input: ServerInput): void {
  const roomOf = (c: Context) => input.roomId(c.req.param("roomId"));
  app.delete("/rooms/:roomId/connections/:connectionId", async (c) => {
    const roomId = roomOf(c);
    const connectionId = c.req.param("connectionId");
    const query = given({ code: queryNumber(c.req.query("code")), reason: c.req.query("reason") });
    const close = input.close(query);
    // Cluster-wide: the connection may be on another instance.
    if (!Object.hasOwn(await api.presence(roomId), connectionId)) {
      throw new ApiError("NOT_FOUND", `No connection ${connectionId} in room ${roomId}`);
    }
    await api.disconnect({ connectionId }, close);
    return c.body(null, 204);
  });
  app.delete("/rooms/:roomId/chat/:messageId", async (c) => {
    const roomId = roomOf(c);
    const messageId = input.messageId(c.req.param("messageId"));
    let deleted: boolean;
    try {
      deleted = await api.deleteChat(roomId, messageId);
    } catch (error) {
      // Say why (e.g. a custom storage without delete), not only that storage failed.
      if (error instanceof StorageError) throw new ApiError(ErrorCodes.STORAGE_ERROR, error.message);
      throw error;
    }
    if (!deleted) throw new ApiError("NOT_FOUND", `No message ${messageId} in room ${roomId}`);
    return c.body(null, 204);
  });
  app.get("/rooms/:roomId/bans", async (c) => {
    const roomId = roomOf(c);
    return c.json({ roomId, bans: await api.bans(roomId) });
  });
  app.post("/rooms/:roomId/bans", async (c) => {
    const roomId = roomOf(c);
    return c.json(await api.ban(roomId, input.ban(await readJsonObject(c.req.raw, limits.maxPayload))), 201);
  });
  app.delete("/rooms/:roomId/bans/:userId", async (c) => {
    const roomId = roomOf(c);
    const userId = input.userId(c.req.param("userId"));
    if (!(await api.unban(roomId, userId))) throw new ApiError("NOT_FOUND", `User ${userId} is not banned from room ${roomId}`);
    return c.body(null, 204);
  });
}

function fail(c: Context, code: ApiErrorCode, message: string): Response {
  return c.json(errorBody(code, message), API_ERROR_STATUS[code]);
}

/** The query's fields that were given: an absent one is left out, not passed as `undefined`. */
function given<T extends Record<string, string | number | undefined>>(query: T): T {
  return Object.fromEntries(Object.entries(query).filter(([, value]) => value !== undefined)) as T;
}
