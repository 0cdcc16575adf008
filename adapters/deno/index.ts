/**
 * Deno entry: `createServer` and `mountLive`, the same API as the Node entry.
 * Sockets: crossws's Deno adapter (https://crossws.h3.dev/adapters/deno) on `Deno.upgradeWebSocket`
 * (https://docs.deno.com/api/deno/~/Deno.upgradeWebSocket); HTTP: Hono on `Deno.serve`.
 *
 * Known differences from Node and Bun, measured here:
 * - `createServer` puts a front before `Deno.serve` (front/listen.ts, option `denoFront`): Deno's server has
 *   no header timeout, reassembles fragmented messages of any size and accepts unmasked frames. With
 *   `mountLive`, `serveWithFront` does the same for the user's app.
 * - Deno has no max-payload setting: besides the front, the engine checks each message's size (1009).
 * - crossws's Deno peer cannot ping, so Deno's own idle timeout is the heartbeat. It pings after
 *   `heartbeatIntervalMs` of silence and closes the socket with **1001** ("No response from ping frame")
 *   after two, where Node and Bun close with 4408.
 * - Deno has no drain event; the outgoing bound is checked on `bufferedAmount` after each send.
 * - Deno passes no close code to the `close` hook (the engine does not need it).
 * - Transport errors (a client vanishing, a missed pong) are not passed to `onError`: Deno reports them
 *   just before `close`, and crossws keeps no detail of them.
 * - A refused upgrade (401) is an ordinary keep-alive response on Deno, which ignores `Connection: close`:
 *   without the front the connection stays open until the client closes it.
 */
import { DatabaseSync } from "node:sqlite";
import denoAdapter from "crossws/adapters/deno";
import type { Hono } from "hono";
import type { WebSocketServerOptions } from "../../src/options.ts";
import { addRedisDriverImport } from "../../src/cluster/redis-backplane.ts";
import { registerSqliteDriver } from "../../src/storage/sqlite-driver.ts";
import { releaseDenoUpgradeRequest } from "../shared/crossws-internals.ts";
import { createFrontFanout } from "./front/fanout.ts";
import { listenFront, type NetAddr } from "./front/listen.ts";
import { FRONT_READER, FRONT_WRITER, frontReaderOf } from "./front/client-writer.ts";

import { createFetchServer, type FetchHandler } from "../shared/fetch-server.ts";
import type { LiveMount, LiveServer, ServerOptions, MountOptions } from "../shared/handle.ts";
import { liveHandle } from "../shared/handle.ts";
import { addDocumentRoutes, addLiveRoute, startMount } from "../shared/live-route.ts";
import { createRuntimeLive } from "../shared/runtime-live.ts";

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

/** The crossws context of the request a peer was upgraded from (crossws's public `peer.request`). */
const upgradeContextOf = (peer: { request?: unknown }) => (peer.request as { context?: unknown } | undefined)?.context;

function createDenoLive(options: WebSocketServerOptions) {
  const { engine, adapter, close } = createRuntimeLive(
    options,
    () => ({ nativeHeartbeat: true, createFanout: createFrontFanout }),
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
            // Behind the front, messages come from the front's reader from now on, not through Deno. The
            // reader waits for this however late it comes; a peer whose context lost the reader (and the
            // writer beside it) gets its frames through Deno, and that is reported.
            const reader = frontReaderOf(peer.context);
            const lost = reader ? undefined : frontReaderOf(upgradeContextOf(peer));
            if (!releaseDenoUpgradeRequest(peer)) fellBack("Deno upgrade request release");
            const opened = engine.hooks.open?.(peer);
            reader?.attach((text) => engine.receiveText(peer, text));
            if (lost) {
              fellBack("Deno front: the peer's context did not carry the front's reader and writer (crossws keeps it elsewhere)");
              lost.forward();
            }
            return opened;
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
  const upgrade = async (request: Request, info: unknown): Promise<Response> => {
    // Came through the front: its reader holds this client's first frames until the engine's open.
    // Deno pings after `heartbeatIntervalMs` without a frame; a sending client is kept known to it at half that.
    const keepaliveMs = engine.options.heartbeatIntervalMs / 2;
    const reader = frontReaderOf((request as Request & { context?: unknown }).context);
    reader?.expect(keepaliveMs);
    let response: Response | undefined;
    try {
      response = await adapter.handleUpgrade(request, (info ?? {}) as never);
    } finally {
      // Refused (401, 403, 503…): no open will come for the reader to wait for.
      if (response?.status !== 101) reader?.forward();
    }
    return response;
  };
  const side = engine.documents;
  if (!side) return { engine, upgrade, close, upgradeDocuments: undefined };
  const documents = denoAdapter({
    // As above: Deno's "error" before "close" carries no detail.
    hooks: { ...side.hooks, error: undefined },
    getNamespace: () => side.path,
    idleTimeout: engine.options.heartbeatIntervalMs > 0 ? (2 * engine.options.heartbeatIntervalMs) / 1000 : 0,
  });
  return {
    engine,
    upgrade,
    // Deno has no message size setting: without the front, the engine's hooks see every message whole.
    upgradeDocuments: (request: Request, info: unknown) => documents.handleUpgrade(request, (info ?? {}) as never),
    async close() {
      await close();
      await documents.close(1001, "Server is shutting down");
    },
  };
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
  const { engine, upgrade, upgradeDocuments, close } = startMount(app, path, options, createDenoLive);
  // c.env is Deno.serve's ServeHandlerInfo when the app is served with app.fetch.
  addLiveRoute(app, path, (c) => upgrade(c.req.raw, c.env));
  if (upgradeDocuments) addDocumentRoutes(app, engine.documents!.path, (c) => upgradeDocuments(c.req.raw, c.env));
  return { ...liveHandle(engine, close), websocket: undefined, injectWebSocket() {} };
}

/**
 * A standalone server: `GET /` answers `openlivesync`, the WebSocket is at `path`. It listens at once.
 * `onAuth` receives the upgrade's web `Request`.
 * @example
 * const server = createServer({ port: 3000 }); // ws://localhost:3000/live
 * await server.close();
 */
export function createServer(options: DenoServerOptions = {}): DenoLiveServer {
  const { denoFront = true, upgradeSlots = UPGRADE_SLOTS, upgradeQueue = UPGRADE_QUEUE, ...serverOptions } = options;
  const headersTimeoutMs = options.upgradeTimeoutMs ?? 30_000;
  const upgrades = { upgradeSlots, upgradeQueue };
  return createFetchServer(serverOptions, createDenoLive, (fetch: FetchHandler<unknown>, live, port, hostname) => {
    const handler = fetch as (request: Request, info: unknown) => Promise<Response>;
    if (!denoFront) {
      const server = Deno.serve({ port, hostname, onListen() {} }, handler);
      return { server, port: server.addr.port, stop: () => server.shutdown() };
    }
    return serveBehindFront(handler, live.engine, { port, hostname, headersTimeoutMs, requestTimeoutMs: REQUEST_TIMEOUT_MS, ...upgrades });
  });
}

type DenoHandler = (request: Request, info: unknown) => Response | Promise<Response>;

/** `Deno.serve` on a loopback port, behind the front (front/listen.ts), which hands on each client's address. */
function serveBehindFront(
  handler: DenoHandler,
  engine: LiveMount["engine"],
  {
    port,
    hostname,
    ...limits
  }: { port: number; hostname?: string; headersTimeoutMs: number; requestTimeoutMs: number; upgradeSlots: number; upgradeQueue: number },
) {
  const inner = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, (request, info) => {
    const remote = (info as { remoteAddr?: NetAddr }).remoteAddr;
    const client = remote && front.clientOf(remote.port);
    if (!client) return handler(request, info);
    client.pickedUp(); // its upgrade slot goes to the next one now, however long onAuth takes
    // crossws starts a peer's context from `request.context`: the fan-out finds the front's writer there.
    (request as Request & { context?: Record<symbol, unknown> }).context = {
      [FRONT_WRITER]: client.writer,
      [FRONT_READER]: client.reader,
    };
    return handler(request, { ...(info as object), remoteAddr: client.addr });
  });
  const { maxPayload, heartbeatIntervalMs } = engine.options;
  // Node's heartbeat closes a client that reads nothing for two intervals; the front does the same.
  const stallTimeoutMs = 2 * heartbeatIntervalMs;
  const target = inner.addr.port;
  // Document connections are relayed to Deno message by message (the reader takes only the live path's), with their own bound.
  const documents = engine.documents;
  const payloadFor = documents && ((pathname: string) => (documents.matches(pathname) ? documents.maxMessageBytes : undefined));
  const front = listenFront({ port, hostname, target, ...limits, maxPayload, stallTimeoutMs, payloadFor });
  const stop = async () => {
    front.close();
    await inner.shutdown();
  };
  const server: DenoServerLike = Object.assign(Object.create(inner) as DenoServerLike, {
    addr: { ...inner.addr, hostname: hostname ?? "0.0.0.0", port: front.port },
    shutdown: stop,
  });
  return { server, port: front.port, stop };
}

/** Node's `requestTimeout` default: a request's body must have arrived 5 minutes after its head. */
const REQUEST_TIMEOUT_MS = 300_000;
/**
 * Upgrade requests waiting inside `Deno.serve` for its handler, at most: more queued there starve the
 * front's reads (bench/README.md, issue 27: 64 let 3,000 upgrades at once open, 256 did not).
 */
const UPGRADE_SLOTS = 64;
/** Upgrades waiting in the front, at most: more than one process holds behind it (≈ 6,600 at 20,000 open files). */
const UPGRADE_QUEUE = 10_000;

/** The front's bound on upgrades waiting for `Deno.serve` (docs/deno-front.md). */
export interface FrontUpgradeOptions {
  /**
   * Upgrade requests handed to `Deno.serve` whose handler has not started yet, at most; the others wait in
   * the front, their head timer stopped. A slot is free again as soon as the handler starts, so a slow
   * `onAuth` holds none. 0: no bound. @default 64
   */
  upgradeSlots?: number;
  /** Upgrade requests waiting in the front for a slot, at most; the next one is answered 503. @default 10000 */
  upgradeQueue?: number;
}

/** Where and how `serveWithFront` listens. */
export interface FrontServeOptions extends FrontUpgradeOptions {
  /** @default 3000 */
  port?: number;
  hostname?: string;
  /**
   * A request head (an upgrade's or any request's of your app) must be complete this long after the
   * connection was accepted, or after the previous response on a kept-alive connection; else the
   * connection is closed (slowloris). 0 disables it. @default 30000
   */
  upgradeTimeoutMs?: number;
  /**
   * A request's body must be complete this long after its head (Node's `requestTimeout`). Responses have
   * no limit: downloads, server-sent events and long polls last as long as they need. 0 disables it.
   * @default 300000
   */
  requestTimeoutMs?: number;
}

/**
 * Serve your Hono app (with `mountLive` in it) behind the same front as `createServer`: request heads
 * within `upgradeTimeoutMs`, RFC 6455 and `maxPayload` over all fragments, stalled readers (docs/deno-front.md).
 * Use it instead of `Deno.serve(app.fetch)` when clients connect directly.
 * @example
 * const live = mountLive(app, "/live", { onAuth });
 * const server = serveWithFront(app.fetch, live, { port: 3000 });
 */
export function serveWithFront(
  fetch: DenoHandler,
  live: LiveMount,
  options: FrontServeOptions = {},
): { server: DenoServerLike; port: number; close(): Promise<void> } {
  const { port = 3000, hostname, upgradeTimeoutMs = 30_000, requestTimeoutMs = REQUEST_TIMEOUT_MS } = options;
  const { upgradeSlots = UPGRADE_SLOTS, upgradeQueue = UPGRADE_QUEUE } = options;
  const timeouts = { headersTimeoutMs: upgradeTimeoutMs, requestTimeoutMs, upgradeSlots, upgradeQueue };
  const { server, port: listening, stop } = serveBehindFront(fetch, live.engine, { port, hostname, ...timeouts });
  return { server, port: listening, close: stop };
}

/** The Deno `createServer`'s options: `ServerOptions`, and whether the front checks connections first. */
export interface DenoServerOptions extends ServerOptions, FrontUpgradeOptions {
  /**
   * Listen with `Deno.listen` and relay to `Deno.serve` on a loopback port, enforcing what Deno's own
   * server does not: `upgradeTimeoutMs`, `maxPayload` across a message's fragments, masked client frames
   * (README, Security and limits). `false` serves with `Deno.serve` directly and gives those checks up
   * (nginx, for one, relays WebSocket frames untouched). @default true
   */
  denoFront?: boolean;
}

export * from "../shared/entry-exports.ts";
