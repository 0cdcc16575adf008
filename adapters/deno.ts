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
import { createApp } from "../src/app.ts";
import { createLiveEngine } from "../src/engine/engine.ts";
import type { WebSocketServerOptions } from "../src/options.ts";
import { registerSqliteDriver } from "../src/storage/sqlite-driver.ts";
import { addLiveRoute, displayUrl, isUpgrade, pathnameOf, type LiveMount, type LiveServer, type LiveSocketServer } from "./live-route.ts";

if (!("Deno" in globalThis)) {
  throw new Error(
    "[openlivesync] The Deno entry needs Deno. On Node or Bun import @openlivesync/server (export conditions pick the runtime) or the /node or /bun subpath.",
  );
}

// SQLite storages open files with node:sqlite (https://docs.deno.com/api/node/sqlite/), built into Deno 2.2+.
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

export interface ServerOptions extends WebSocketServerOptions {
  /** Port to listen on; 0 picks a free one. @default 3000 */
  port?: number;
  /** Interface to listen on. @default "0.0.0.0" (Deno's default) */
  hostname?: string;
}

export type DenoLiveServer = LiveServer<DenoServerLike>;

function createDenoLive(options: WebSocketServerOptions) {
  const engine = createLiveEngine(options, { nativeHeartbeat: true });
  const interval = engine.options.heartbeatIntervalMs;
  const adapter = denoAdapter({
    // Deno fires "error" just before "close" when a client vanishes (EOF, reset) or misses a pong, and
    // crossws hands it on as WSError("[object ErrorEvent]"): a disconnect with no detail, which Node and
    // Bun do not report at all. Left out so onError is not called once per dropped client.
    hooks: {
      ...engine.hooks,
      error: undefined,
      open(peer) {
        // crossws keeps a snapshot of the upgrade request (a Proxy over it and a copy of its headers) for
        // the socket's lifetime; onAuth has run and nothing reads it again, so let it go.
        (peer as unknown as { _internal: { request?: unknown } })._internal.request = undefined;
        return engine.hooks.open?.(peer);
      },
    },
    getNamespace: () => engine.options.path, // one namespace; spares parsing each upgrade URL
    // Seconds. Deno pings after half of it idle and closes after the other half without a pong, which
    // matches "a peer silent for two intervals is closed". 0 disables it, as heartbeatIntervalMs: 0 does.
    idleTimeout: interval > 0 ? (2 * interval) / 1000 : 0,
  });
  const close = async () => {
    await engine.close();
    await adapter.close(1001, "Server is shutting down");
  };
  return { engine, adapter, close };
}

/**
 * Add the live endpoint to your Hono app at `path`, next to your own routes. Serve the app as usual.
 * @example
 * const app = new Hono();
 * app.get("/api/hello", (c) => c.json({ hello: "world" }));
 * const live = mountLive(app, "/live", { onAuth });
 * Deno.serve({ port: 3000 }, app.fetch);
 */
export function mountLive(app: Hono<any, any, any>, path: string, options: WebSocketServerOptions = {}): LiveMount {
  const { engine, adapter, close } = createDenoLive({ ...options, path });
  addLiveRoute(app, path, (c) =>
    // c.env is Deno.serve's ServeHandlerInfo (remote address) when the app is served with app.fetch.
    adapter.handleUpgrade(c.req.raw, (c.env ?? {}) as never),
  );
  return { engine, websocket: undefined, close, injectWebSocket() {} };
}

/**
 * A standalone server: `GET /` answers `openlivesync`, the WebSocket is at `path`. It listens at once.
 * `onAuth` receives the upgrade's web `Request`.
 * @example
 * const server = createServer({ port: 3000 }); // ws://localhost:3000/live
 * await server.close();
 */
export function createServer(options: ServerOptions = {}): DenoLiveServer {
  const { port = 3000, hostname, ...wsOptions } = options;
  const path = wsOptions.path ?? "/live";
  const app = createApp();
  const { engine, adapter, close } = createDenoLive({ ...wsOptions, path });
  const server = Deno.serve({ port, hostname, onListen() {} }, (request, info) => {
    if (!isUpgrade(request)) return app.fetch(request, info);
    if (pathnameOf(request.url) !== path) return new Response("Not Found", { status: 404 });
    return adapter.handleUpgrade(request, info as never);
  });
  const ws: LiveSocketServer = { engine, close };
  let closed: Promise<void> | undefined;
  return {
    server,
    ws,
    port: server.addr.port,
    url: displayUrl(hostname, server.addr.port),
    close: () =>
      (closed ??= (async () => {
        await ws.close();
        await server.shutdown();
      })()),
  };
}

export * from "../src/index.ts";
