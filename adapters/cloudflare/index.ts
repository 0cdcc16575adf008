// `@openlivesync/server/cloudflare`: rooms on Cloudflare Workers, one Durable Object per room.
import { Hono } from "hono";
import { Guard } from "../../src/engine/guard.ts";
import { ConfigError } from "../../src/errors.ts";
import { resolveOptions } from "../../src/options.ts";
import { MSG_JOIN_ROOM } from "../../src/protocol/messages.ts";
import { createMessageParser, createServerInputParser } from "../../src/protocol/validate.ts";
import { addLiveRoute } from "../shared/live-route.ts";
import { optionsResolver, ROOM_HEADER, USER_HEADER, type CloudflareOptions, type CloudflareOptionsInput } from "./options.ts";
import { startRelay } from "./relay.ts";
import { addEdgeApi, addEdgeMonitoring } from "./edge-http.ts";
import { createRoomClass, type LiveRoomClass } from "./room-object.ts";
import { socketPair, switchingProtocols, type DurableNamespaceLike, type WorkerSocket } from "./shapes.ts";

export { createDurableChatStorage } from "./durable-storage.ts";
export { createTokenAuth, decodeAccessToken } from "../../src/auth/tokens.ts";
export type { CloudflareOptions, CloudflareOptionsInput } from "./options.ts";
export type { AuthOptions, DecodedToken } from "../../src/auth/tokens.ts";
export type { LiveRoomClass, LiveRoomObject } from "./room-object.ts";
export type { DurableObjectStateLike, HibernatableSocket, DurableNamespaceLike } from "./shapes.ts";

type Env = Record<string, unknown>;

/** What `createLiveWorker` returns: the Worker's handler and the Durable Object class to export. */
export interface LiveWorker {
  /** The Worker's `fetch`: `export default live` (or call it from your own Worker). */
  fetch(request: Request, env: Env, ctx?: unknown): Promise<Response>;
  /** The Durable Object class holding one room: `export const LiveRoom = live.Room`, bound in wrangler.toml. */
  readonly Room: LiveRoomClass;
  /** The Worker's Hono app for `env` (add your own routes before the first request). */
  app(env: Env): Hono;
}

/**
 * Rooms on Cloudflare: a Worker (a Hono app) that checks each upgrade (Origin, `onAuth`) and hands the
 * socket to its room's Durable Object, which runs the engine over hibernatable WebSockets with chat in
 * its own SQLite. `ws://host/live?room=<id>` goes straight to the room's object; a plain `/live` is
 * relayed by the Worker, which moves it to another room's object on each `join_room` (docs/cloudflare.md).
 * @example
 * import { createLiveWorker } from "@openlivesync/server/cloudflare";
 * const live = createLiveWorker((env) => ({ allowedOrigins: [String(env.APP_ORIGIN)] }));
 * export const LiveRoom = live.Room;
 * export default live;
 */
export function createLiveWorker(input: CloudflareOptionsInput = {}): LiveWorker {
  const optionsFor = optionsResolver(input);
  const apps = new WeakMap<object, Hono>();
  const app = (env: Env) => {
    let built = apps.get(env);
    if (!built) apps.set(env, (built = createWorkerApp(optionsFor(env), env)));
    return built;
  };
  return {
    Room: createRoomClass(optionsFor),
    app,
    fetch: async (request, env, ctx) => app(env).fetch(request, env, ctx as never),
  };
}

/** The Worker's routes: `GET /`, `GET /healthz`, `/readyz`, `/metrics`, the HTTP API (with `api`) and the live path. */
function createWorkerApp(options: CloudflareOptions, env: Env): Hono {
  const bindingName = options.binding ?? "ROOMS";
  const namespace = env[bindingName] as DurableNamespaceLike | undefined;
  if (!namespace || typeof namespace.idFromName !== "function") {
    throw new ConfigError(
      `createLiveWorker: no Durable Object binding "${bindingName}" in env. Bind the exported room class under that name in wrangler.toml ([[durable_objects.bindings]]), or set the \`binding\` option.`,
    );
  }
  const resolved = resolveOptions(options);
  const guard = new Guard(resolved.guard);
  const parse = createMessageParser(resolved);
  const roomIdOf = createServerInputParser(resolved).roomId;
  // Room objects and the lobby live under distinct names, whatever the room ids.
  const objectOf = (room: string | undefined) => namespace.get(namespace.idFromName(room === undefined ? "lobby" : `room:${room}`));
  const joinTarget = (raw: string) => {
    try {
      const msg = parse(raw);
      return msg.type === MSG_JOIN_ROOM ? msg.payload.roomId : undefined;
    } catch {
      return undefined; // the object answers it with the error code
    }
  };

  const upgrade = async (request: Request): Promise<Response> => {
    const refusal = guard.checkUpgrade(request, () => undefined);
    if (refusal) return new Response(refusal.text, { status: refusal.status });
    const headers = new Headers(request.headers);
    headers.delete(USER_HEADER);
    headers.delete(ROOM_HEADER);
    if (options.onAuth) {
      let user: unknown;
      try {
        user = await options.onAuth(request);
      } catch (error) {
        resolved.onError(error, { stage: "auth" });
        return new Response("Authentication failed", { status: 500 });
      }
      if (!user) return new Response("Unauthorized", { status: 401 });
      headers.set(USER_HEADER, encodeURIComponent(JSON.stringify(user)));
    }
    const forward = (room: string | undefined) => {
      const h = new Headers(headers);
      if (room !== undefined) h.set(ROOM_HEADER, room);
      return objectOf(room).fetch(new Request(request.url, { headers: h }));
    };
    const room = new URL(request.url).searchParams.get("room");
    if (room !== null) {
      try {
        roomIdOf(room);
      } catch (error) {
        return new Response(`Invalid room id: ${(error as Error).message}`, { status: 400 });
      }
      return forward(room);
    }
    const { client, server } = socketPair<WorkerSocket>();
    startRelay(server, { connect: forward, joinTarget, maxPayload: resolved.maxPayload, report: resolved.onError });
    return switchingProtocols(client);
  };

  const app = new Hono();
  app.get("/", (c) => c.text("openlivesync"));
  app.get("/healthz", (c) => c.text("ok"));
  const edge = { options, objectOf, roomIdOf };
  addEdgeMonitoring(app, edge);
  addEdgeApi(app, edge);
  addLiveRoute(app, resolved.path, (c) => upgrade(c.req.raw));
  return app;
}
