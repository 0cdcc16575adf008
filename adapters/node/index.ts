/**
 * Node.js entry: `createServer`, `createWebSocketServer`, `createWebSocketHandler`, and `mountLive`.
 * Sockets: crossws's Node adapter (https://crossws.h3.dev/adapters/node) on top of `ws`;
 * HTTP: Hono through `@hono/node-server`.
 */
import type { IncomingMessage, Server, ServerOptions as ServerOptionsOfHttp } from "node:http";
import { createRequire } from "node:module";
import type { Duplex } from "node:stream";
import { createAdaptorServer } from "@hono/node-server";
import { addApiRoutes } from "../../src/api/routes.ts";
import { createApp } from "../../src/app.ts";
import type { WebSocketServerOptions } from "../../src/options.ts";
import type { LiveHandle, ServerOptions } from "../shared/handle.ts";
import { liveHandle } from "../shared/handle.ts";
import { pathnameOf } from "../shared/live-route.ts";
import { addMonitoringRoutes, createMonitoringApp, monitoringListener } from "../shared/monitoring.ts";
import { createNodeLive, nodeUpgradeRequest, refuseUpgrade, reportUpgradeErrors } from "./node-live.ts";
import { registerSqliteDriver } from "../../src/storage/sqlite-driver.ts";
import { numberOption } from "../../src/util/number-option.ts";

if ("Bun" in globalThis || "Deno" in globalThis) {
  throw new Error(
    "[openlivesync] The Node entry was loaded under Bun or Deno. Import @openlivesync/server (export conditions pick the runtime) or the /bun or /deno subpath.",
  );
}

// SQLite storages open files with better-sqlite3, loaded on first use: it is an optional peer dependency.
type BetterSqlite3 = new (filename: string) => import("../../src/storage/sqlite-driver.ts").SqliteDatabaseLike;
registerSqliteDriver({
  name: "better-sqlite3",
  install: "npm install better-sqlite3@12",
  open: (filename) => new (createRequire(import.meta.url)("better-sqlite3") as BetterSqlite3)(filename),
});

export type UpgradeHandler = ((req: IncomingMessage, socket: Duplex, head: Buffer) => void) & LiveHandle;

/** The upstream project's `createServer` result: the `http.Server`, with the handle as `ws`. */
export type NodeLiveServer = Server & {
  ws: LiveHandle;
  /** The monitoring listener, when `monitoring: { port }` asked for one. */
  monitoring: Server | undefined;
};

function createUpgrade(options: WebSocketServerOptions) {
  const { engine, adapter, documents, close } = createNodeLive(options);
  const path = engine.options.path;
  const upgradeWith = (target: typeof adapter) => (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const upgraded = reportUpgradeErrors(socket, (error) => engine.options.onError(error, { stage: "upgrade" }));
    target.handleUpgrade(req, socket, head, nodeUpgradeRequest(req, socket, head)).then(upgraded, (error: unknown) => {
      engine.options.onError(error, { stage: "upgrade" });
      refuseUpgrade(socket, 500, "Internal Server Error");
    });
  };
  const rooms = upgradeWith(adapter);
  const docs = documents && upgradeWith(documents);
  /** The upgrade for `url`'s path: the live path, the documents' path (and below), or none. */
  const route = (url: string | undefined) => {
    const pathname = pathnameOf(url ?? "/");
    if (pathname === path) return rooms;
    return docs && engine.documents!.matches(pathname) ? docs : undefined;
  };
  return { engine, route, close };
}

/**
 * A `(req, socket, head)` handler for `server.on("upgrade")`. Upgrades on other paths get 404.
 * @example
 * server.on("upgrade", createWebSocketHandler({ path: "/live" }));
 */
export function createWebSocketHandler(options: WebSocketServerOptions = {}): UpgradeHandler {
  const { engine, route, close } = createUpgrade(options);
  const handler = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const upgrade = route(req.url);
    if (!upgrade) return refuseUpgrade(socket, 404, "Not Found");
    upgrade(req, socket, head);
  };
  return Object.assign(handler, liveHandle(engine, close));
}

/**
 * Attach the live endpoint to an existing `http.Server` (Express, Fastify, plain). Upgrades on other
 * paths are left to the server's other `upgrade` listeners, or refused with 404 when there are none.
 * @example
 * const wss = createWebSocketServer(httpServer, { path: "/live" });
 * await wss.close();
 */
export function createWebSocketServer(server: Server, options: WebSocketServerOptions = {}): LiveHandle {
  const { engine, route, close } = createUpgrade(options);
  const listener = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const upgrade = route(req.url);
    if (upgrade) return upgrade(req, socket, head);
    // Someone else may own this path; if nobody does, answer rather than leave the client hanging.
    if (server.listenerCount("upgrade") <= 1) refuseUpgrade(socket, 404, "Not Found");
  };
  server.on("upgrade", listener);
  return liveHandle(engine, async () => {
    server.off("upgrade", listener);
    await close();
  });
}

/**
 * A standalone server: `GET /` answers `openlivesync`, the WebSocket is at `path`. It listens at once.
 * `server.close()` shuts down gracefully (sockets get 1001, storage is closed); `await server.ws.close()`
 * closes the WebSocket side alone.
 * @example
 * const server = createServer({ port: 3000 }); // ws://localhost:3000/live
 */
export function createServer(options: ServerOptions = {}): NodeLiveServer {
  const { monitoring = true } = options;
  const separate = monitoringListener(monitoring);
  const app = createApp();
  const timeouts = requestTimeouts(options.upgradeTimeoutMs);
  const server = createAdaptorServer({ fetch: app.fetch, serverOptions: timeouts }) as Server;
  closeUnlessRequested(server, timeouts.first);
  const handler = createWebSocketHandler(options);
  server.on("upgrade", handler);
  if (monitoring === true) addMonitoringRoutes(app, handler.engine);
  addApiRoutes(app, handler.engine, options.api);
  // Its own listener: only the monitoring routes (`server.monitoring` is its http.Server).
  const probes = separate && (createAdaptorServer({ fetch: createMonitoringApp(handler.engine).fetch }) as Server);
  probes?.listen(separate!.port, separate!.hostname);
  const ws = liveHandle(handler.engine, handler.close);
  const httpClose = server.close.bind(server);
  server.close = ((callback?: (error?: Error) => void) => {
    void ws.close().finally(() => {
      httpClose(callback);
      server.closeAllConnections();
      probes?.close();
      probes?.closeAllConnections();
    });
    return server;
  }) as Server["close"];
  server.listen(options.port ?? 3000, options.hostname);
  return Object.assign(server, { ws, monitoring: probes || undefined });
}

/**
 * Node closes a connection whose request headers are incomplete after `headersTimeout`, but checks only
 * every `connectionsCheckingInterval` (30 s by default): a half-sent upgrade lived 75–105 s. Checking each
 * second (cheap: only connections still in a request are scanned) and subtracting that from the timeout
 * closes one within `upgradeTimeoutMs`. https://nodejs.org/api/http.html#serverheaderstimeout
 */
function requestTimeouts(upgradeTimeoutMs: number | undefined): ServerOptionsOfHttp & { first: number } {
  const timeout = numberOption("upgradeTimeoutMs", upgradeTimeoutMs, 30_000);
  if (timeout === 0) return { headersTimeout: 0, requestTimeout: 0, first: 0 };
  const interval = Math.max(50, Math.min(1000, Math.floor(timeout / 2)));
  return {
    connectionsCheckingInterval: interval,
    headersTimeout: Math.max(1, timeout - interval),
    requestTimeout: Math.max(300_000, timeout), // Node's default; it must not be below headersTimeout
    first: timeout,
  };
}

/**
 * One timer per connection for its first request: closed unless that request (or upgrade) arrived within
 * `ms`, whether the client sent nothing or only part of it; it does not depend on how Node's own checker
 * treats a socket that never started a request. Later requests on a kept-alive connection are Node's
 * (`keepAliveTimeout`, `headersTimeout`).
 */
function closeUnlessRequested(server: Server, ms: number): void {
  if (ms === 0) return;
  const timers = new WeakMap<object, ReturnType<typeof setTimeout>>();
  const arrived = (socket: object) => {
    clearTimeout(timers.get(socket));
    timers.delete(socket);
  };
  server.on("connection", (socket: Duplex) => {
    // No close listener: one per socket would stay for the life of every WebSocket. A socket that closes
    // first is only held until its (unref'd) timer fires, and destroying it again then does nothing.
    const timer = setTimeout(() => socket.destroy(), ms);
    timer.unref();
    timers.set(socket, timer);
  });
  server.on("request", (req: IncomingMessage) => arrived(req.socket));
  server.on("upgrade", (_req: IncomingMessage, socket: Duplex) => arrived(socket));
}

export { mountLive } from "./mount.ts";
// The entry is the whole package: the runtime-neutral API plus the servers above.
export * from "../shared/entry-exports.ts";
