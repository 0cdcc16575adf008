/**
 * Deno entry: `createServer` and `mountLive`, the same API as the Node entry.
 * Sockets: crossws's Deno adapter (https://crossws.h3.dev/adapters/deno) on `Deno.upgradeWebSocket`
 * (https://docs.deno.com/api/deno/~/Deno.upgradeWebSocket); HTTP: Hono on `Deno.serve`.
 *
 * Known differences from Node and Bun, measured here:
 * - Deno has no max-payload setting: the engine checks each frame's size and closes with 1009.
 * - crossws's Deno peer cannot ping, so Deno's own idle timeout is the heartbeat. It pings after
 *   `heartbeatIntervalMs` of silence and closes the socket with **1001** ("No response from ping frame")
 *   after two, where Node and Bun close with 4408.
 * - Deno has no drain event; the outgoing bound is checked on `bufferedAmount` after each send.
 * - Deno passes no close code to the `close` hook (the engine does not need it).
 * - Transport errors (a client vanishing, a missed pong) are not passed to `onError`: Deno reports them
 *   just before `close`, and crossws keeps no detail of them.
 * - A refused upgrade (401) is an ordinary keep-alive response on Deno, which ignores `Connection: close`:
 *   the connection stays open until the client closes it.
 */
import { DatabaseSync } from "node:sqlite";
import denoAdapter from "crossws/adapters/deno";
import type { Hono } from "hono";
import type { WebSocketServerOptions } from "../src/options.ts";
import { addRedisDriverImport } from "../src/cluster/redis-backplane.ts";
import { registerSqliteDriver } from "../src/storage/sqlite-driver.ts";
import { releaseDenoUpgradeRequest } from "./crossws-internals.ts";
import { createFetchServer, type FetchHandler } from "./fetch-server.ts";
import type { LiveMount, LiveServer, ServerOptions, MountOptions } from "./handle.ts";
import { liveHandle } from "./handle.ts";
import { addLiveRoute } from "./live-route.ts";
import { addApiRoutes } from "../src/api/routes.ts";
import { addMonitoringRoutes } from "./monitoring.ts";
import { createRuntimeLive } from "./runtime-live.ts";

if (!("Deno" in globalThis)) {
  throw new Error(
    "[openlivesync] The Deno entry needs Deno. On Node or Bun import @openlivesync/server (export conditions pick the runtime) or the /node or /bun subpath.",
  );
}

// SQLite storages open files with node:sqlite (https://docs.deno.com/api/node/sqlite/), built into Deno 2.2+.
// Without ioredis in a package.json, Deno still finds it through an npm: specifier (kept in a variable
// so bundlers leave it alone).
const ioredisNpm = "npm:ioredis";
addRedisDriverImport(() => import(ioredisNpm));
registerSqliteDriver({ name: "node:sqlite", open: (filename) => new DatabaseSync(filename) });

/** `Deno.HttpServer`, by the parts used here (https://docs.deno.com/api/deno/~/Deno.HttpServer). */
export interface DenoServerLike {
  readonly addr: { hostname: string; port: number };
  shutdown(): Promise<void>;
}

declare const Deno: {
  serve(
    options: { port: number; hostname?: string; onListen?(addr: unknown): void },
    handler: (request: Request, info: unknown) => Response | Promise<Response>,
  ): DenoServerLike;
};

export type DenoLiveServer = LiveServer<DenoServerLike>;

function createDenoLive(options: WebSocketServerOptions) {
  const { engine, adapter, close } = createRuntimeLive(
    options,
    () => ({ nativeHeartbeat: true }),
    (engine, fellBack) => {
      const interval = engine.options.heartbeatIntervalMs;
      return denoAdapter({
        // Deno fires "error" just before "close" when a client vanishes (EOF, reset) or misses a pong, and
        // crossws hands it on as WSError("[object ErrorEvent]"): a disconnect with no detail, which Node and
        // Bun do not report at all. Left out so onError is not called once per dropped client.
        hooks: {
          ...engine.hooks,
          error: undefined,
          open(peer) {
            if (!releaseDenoUpgradeRequest(peer)) fellBack("Deno upgrade request release");
            return engine.hooks.open?.(peer);
          },
        },
        getNamespace: () => engine.options.path, // one namespace; spares parsing each upgrade URL
        // Seconds. Deno pings after half of it idle and closes after the other half without a pong, which
        // matches "a peer silent for two intervals is closed". 0 disables it, as heartbeatIntervalMs: 0 does.
        idleTimeout: interval > 0 ? (2 * interval) / 1000 : 0,
      });
    },
  );
  // `info` is Deno.serve's ServeHandlerInfo (remote address); crossws reads `info.remoteAddr`.
  const upgrade = (request: Request, info: unknown): Promise<Response> => adapter.handleUpgrade(request, (info ?? {}) as never);
  return { engine, upgrade, close };
}

/**
 * Add the live endpoint to your Hono app at `path`, next to your own routes. Serve the app as usual.
 * @example
 * const app = new Hono();
 * app.get("/api/hello", (c) => c.json({ hello: "world" }));
 * const live = mountLive(app, "/live", { onAuth });
 * Deno.serve({ port: 3000 }, app.fetch);
 */
export function mountLive(app: Hono<any, any, any>, path: string, options: MountOptions = {}): LiveMount {
  const { monitoring = true, ...liveOptions } = options;
  const { engine, upgrade, close } = createDenoLive({ ...liveOptions, path });
  if (monitoring) addMonitoringRoutes(app, engine);
  addApiRoutes(app, engine, liveOptions.api);
  // c.env is Deno.serve's ServeHandlerInfo when the app is served with app.fetch.
  addLiveRoute(app, path, (c) => upgrade(c.req.raw, c.env));
  return { ...liveHandle(engine, close), websocket: undefined, injectWebSocket() {} };
}

/**
 * A standalone server: `GET /` answers `openlivesync`, the WebSocket is at `path`. It listens at once.
 * `onAuth` receives the upgrade's web `Request`.
 * @example
 * const server = createServer({ port: 3000 }); // ws://localhost:3000/live
 * await server.close();
 */
export function createServer(options: ServerOptions = {}): DenoLiveServer {
  return createFetchServer(options, createDenoLive, (fetch: FetchHandler<unknown>, _live, port, hostname) => {
    const server = Deno.serve({ port, hostname, onListen() {} }, fetch as (request: Request, info: unknown) => Promise<Response>);
    return { server, port: server.addr.port, stop: () => server.shutdown() };
  });
}

export type {
  LiveHandle,
  LiveMount,
  LiveServer,
  ServerOptions,
  MountOptions,
  WebSocketServer,
  BunWebSocketHandlers,
  UpgradeEmitter,
} from "./handle.ts";
export type { MonitoringOption } from "./monitoring.ts";

export * from "../src/index.ts";
