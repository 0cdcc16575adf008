/**
 * Bun entry: `createServer` and `mountLive`, the same API as the Node entry.
 * Sockets: crossws's Bun adapter (https://crossws.h3.dev/adapters/bun) on `Bun.serve`'s uWebSockets
 * (https://bun.sh/docs/api/websockets); HTTP: Hono. Room fan-out uses Bun's native pub/sub.
 */
import { Database } from "bun:sqlite";
import bunAdapter from "crossws/adapters/bun";
import type { Hono } from "hono";
import { createApp } from "../src/app.ts";
import { createLiveEngine } from "../src/engine/engine.ts";
import type { WebSocketServerOptions } from "../src/options.ts";
import { createBunFanout } from "./bun-fanout.ts";
import { registerSqliteDriver } from "../src/storage/sqlite-driver.ts";
import {
  addLiveRoute,
  closeAfter,
  displayUrl,
  isUpgrade,
  pathnameOf,
  type BunWebSocketHandlers,
  type LiveMount,
  type LiveServer,
  type LiveSocketServer,
} from "./live-route.ts";

if (!("Bun" in globalThis)) {
  throw new Error(
    "[openlivesync] The Bun entry needs Bun. On Node or Deno import @openlivesync/server (export conditions pick the runtime) or the /node or /deno subpath.",
  );
}

// SQLite storages open files with Bun's built-in driver (https://bun.sh/docs/api/sqlite).
registerSqliteDriver({ name: "bun:sqlite", open: (filename) => new Database(filename) });

/** Bun's `Server`, by the parts used here (https://bun.sh/docs/api/http). */
export interface BunServerLike {
  readonly port: number;
  upgrade(request: Request, options?: unknown): boolean;
  publish(topic: string, data: string): number;
  stop(closeActiveConnections?: boolean): Promise<void> | void;
}

declare const Bun: {
  serve(options: {
    port: number;
    hostname?: string;
    fetch(request: Request, server: BunServerLike): Response | Promise<Response | undefined> | undefined;
    websocket: BunWebSocketHandlers;
  }): BunServerLike;
};

export interface ServerOptions extends WebSocketServerOptions {
  /** Port to listen on; 0 picks a free one. @default 3000 */
  port?: number;
  /** Interface to listen on. @default "0.0.0.0" (Bun's default) */
  hostname?: string;
}

export type BunLiveServer = LiveServer<BunServerLike>;

/** crossws 0.4's Bun peer, by the parts `slimPeer` touches (node_modules/crossws/dist/adapters/bun.mjs). */
interface BunPeerInternals {
  _topics: Set<string>;
  _internal: {
    ws: { data: { server?: unknown; namespace: string; peer?: unknown } };
    hooks: unknown;
    peers: Set<unknown>;
  };
}

/**
 * Shared by every Bun peer. The Bun fan-out subscribes sockets to room topics itself
 * (`ws.subscribe`), never through `peer.subscribe`, so crossws's per-peer topic set stays empty.
 */
class NoTopics extends Set<string> {
  override add(): this {
    throw new Error("[openlivesync] Bun peers are subscribed by the fan-out (ws.subscribe), not peer.subscribe");
  }
}
const NO_TOPICS = new NoTopics();

/**
 * Trims what crossws keeps per Bun socket once the engine's open hook has read the identity: the
 * upgrade Request (held twice), the upgrade context, an empty topic set, an entry in the
 * namespace's peer set, and two objects where one will do. Idle connections are most of a
 * server's memory, and this brings one close to what a bare `Bun.serve` socket costs.
 *
 * What stays is what crossws still reads: its socket handlers read `ws.data.namespace` and
 * `ws.data.peer`; the peer reads `_internal.ws`, `_internal.namespace` and `_internal.hooks`.
 * One object serves as both. The namespace's peer set is crossws's list for `adapter.close()` and
 * `peer.peers`; the engine keeps its own and closes every connection itself on `close()`.
 */
function slimPeer(peer: BunPeerInternals) {
  const { ws, hooks, peers } = peer._internal;
  const { server, namespace } = ws.data;
  // `server` stays although nothing reads it now: without it idle connections measured 3.1 KB instead of
  // 2.8 KB each (JavaScriptCore lays a 4-property literal out differently); re-measure before trimming.
  const shared = { ws, server, namespace, peer, hooks };
  ws.data = shared;
  peer._internal = shared as unknown as BunPeerInternals["_internal"];
  peer._topics = NO_TOPICS;
  peers.delete(peer);
}

function createBunLive(options: WebSocketServerOptions) {
  const engine = createLiveEngine(options, { createFanout: createBunFanout, nativeMaxPayload: true });
  const adapter = bunAdapter({
    hooks: {
      ...engine.hooks,
      open(peer) {
        const result = engine.hooks.open?.(peer);
        slimPeer(peer as unknown as BunPeerInternals);
        return result;
      },
    },
    getNamespace: () => engine.options.path, // one namespace; spares parsing each upgrade URL
  });
  // https://bun.sh/docs/api/websockets#configuration
  const websocket: BunWebSocketHandlers = {
    ...(adapter.websocket as unknown as BunWebSocketHandlers),
    // Bun closes a socket sending a bigger frame with 1009 before any JavaScript sees it.
    maxPayloadLength: engine.options.maxPayload,
    // Without closeOnBackpressureLimit Bun silently drops frames past the limit; with it, Bun closes the
    // slow consumer (its client sees 1006, not 4429) and its room is told it left, as on Node and Deno.
    backpressureLimit: engine.options.maxBufferedBytes,
    closeOnBackpressureLimit: true,
    // The engine's heartbeat (peer.ping + the pong hook) works on Bun at millisecond precision and closes
    // with 4408; Bun's own idle timeout counts whole seconds, so it stays off.
    idleTimeout: 0,
    sendPings: false,
    perMessageDeflate: false,
  };
  const close = async () => {
    await engine.close();
    await adapter.close(1001, "Server is shutting down");
  };
  return { engine, adapter, websocket, close };
}

/**
 * Add the live endpoint to your Hono app at `path`, next to your own routes. Pass `live.websocket` to
 * `Bun.serve`: Bun needs the socket handlers when the server starts.
 * @example
 * const app = new Hono();
 * app.get("/api/hello", (c) => c.json({ hello: "world" }));
 * const live = mountLive(app, "/live", { onAuth });
 * Bun.serve({ port: 3000, fetch: app.fetch, websocket: live.websocket });
 */
export function mountLive(app: Hono<any, any, any>, path: string, options: WebSocketServerOptions = {}): LiveMount {
  const { engine, adapter, websocket, close } = createBunLive({ ...options, path });
  addLiveRoute(app, path, async (c) => {
    const server = c.env as BunServerLike | undefined;
    if (typeof server?.upgrade !== "function") {
      return c.text("openlivesync: serve the app with Bun.serve({ fetch: app.fetch, websocket: live.websocket })", 500);
    }
    // crossws answers refused upgrades (401, 500, 503) itself; after a successful upgrade Bun ignores the response.
    return closeAfter(await adapter.handleUpgrade(c.req.raw, server as never)) ?? new Response(null);
  });
  return { engine, websocket, close, injectWebSocket() {} };
}

/**
 * A standalone server: `GET /` answers `openlivesync`, the WebSocket is at `path`. It listens at once.
 * `onAuth` receives the upgrade's web `Request`.
 * @example
 * const server = createServer({ port: 3000 }); // ws://localhost:3000/live
 * await server.close();
 */
export function createServer(options: ServerOptions = {}): BunLiveServer {
  const { port = 3000, hostname, ...wsOptions } = options;
  const path = wsOptions.path ?? "/live";
  const app = createApp();
  const { engine, adapter, websocket, close } = createBunLive({ ...wsOptions, path });
  const server = Bun.serve({
    port,
    hostname,
    fetch(request, server) {
      if (!isUpgrade(request)) return app.fetch(request, server);
      if (pathnameOf(request.url) !== path) return new Response("Not Found", { status: 404 });
      return adapter.handleUpgrade(request, server as never).then(closeAfter);
    },
    websocket,
  });
  const ws: LiveSocketServer = { engine, close };
  let closed: Promise<void> | undefined;
  return {
    server,
    ws,
    port: server.port,
    url: displayUrl(hostname, server.port),
    close: () =>
      (closed ??= (async () => {
        await ws.close();
        // `true` also ends idle keep-alive connections, e.g. one that got a 401.
        await server.stop(true);
      })()),
  };
}

export * from "../src/index.ts";
