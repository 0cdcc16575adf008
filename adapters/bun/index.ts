/**
 * Bun entry: `createServer` and `mountLive`, the same API as the Node entry.
 * Sockets: crossws's Bun adapter (https://crossws.h3.dev/adapters/bun) on `Bun.serve`'s uWebSockets
 * (https://bun.sh/docs/api/websockets); HTTP: Hono. Room fan-out uses Bun's native pub/sub.
 */
import { Database } from "bun:sqlite";
import bunAdapter from "crossws/adapters/bun";
import type { Hono } from "hono";
import type { WebSocketServerOptions } from "../../src/options.ts";
import { setTurnScheduler } from "../../src/util/async.ts";
import { createBunFanout } from "./publish-fanout.ts";
import { registerSqliteDriver } from "../../src/storage/sqlite-driver.ts";
import { slimBunPeer } from "../shared/crossws-bun-peer.ts";
import { createFetchServer, type FetchHandler } from "../shared/fetch-server.ts";
import type { BunWebSocketHandlers, LiveMount, LiveServer, ServerOptions, MountOptions } from "../shared/handle.ts";
import { liveHandle } from "../shared/handle.ts";
import { addDocumentRoutes, addLiveRoute, closeAfter, startMount } from "../shared/live-route.ts";
import { createRuntimeLive } from "../shared/runtime-live.ts";

if (!("Bun" in globalThis)) {
  throw new Error(
    "[openlivesync] The Bun entry needs Bun. On Node or Deno import @openlivesync/server (export conditions pick the runtime) or the /node or /deno subpath.",
  );
}

// SQLite storages open files with Bun's built-in driver (https://bun.sh/docs/api/sqlite).
registerSqliteDriver({ name: "bun:sqlite", open: (filename) => new Database(filename) });
setTurnScheduler((fn) => setImmediate(fn));

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

export type BunLiveServer = LiveServer<BunServerLike>;

/** Default of `documents.maxMessageBytes` (src/documents/options.ts), needed before the engine exists. */
const DOCUMENT_MESSAGE_BYTES = 1024 * 1024;

function createBunLive(options: WebSocketServerOptions) {
  // Bun has one maxPayloadLength per server: with documents' larger bound, the engine checks the live path's.
  const documentBytes = options.documents === false ? 0 : (options.documents?.maxMessageBytes ?? DOCUMENT_MESSAGE_BYTES);
  const nativeMaxPayload = documentBytes <= (options.maxPayload ?? 64 * 1024);
  const { engine, adapter, close } = createRuntimeLive(
    options,
    (fellBack) => ({ createFanout: createBunFanout(fellBack), nativeMaxPayload }),
    (engine, fellBack) =>
      bunAdapter({
        hooks: {
          ...engine.hooks,
          open(peer) {
            const result = engine.hooks.open?.(peer);
            if (!slimBunPeer(peer)) fellBack("Bun peer slimming");
            return result;
          },
        },
        getNamespace: () => engine.options.path, // one namespace; spares parsing each upgrade URL
      }),
  );
  const side = engine.documents;
  const documents = side && bunAdapter({ hooks: side.hooks, getNamespace: () => side.path });
  const handlers = adapter.websocket as unknown as BunWebSocketHandlers;
  // https://bun.sh/docs/api/websockets#configuration
  const websocket: BunWebSocketHandlers = {
    ...(documents ? muxHandlers(handlers, documents.websocket as unknown as BunWebSocketHandlers, side.path) : handlers),
    // Bun closes a socket sending a bigger frame with 1009 before any JavaScript sees it.
    maxPayloadLength: Math.max(engine.options.maxPayload, side?.maxMessageBytes ?? 0),
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
  const upgrade = async (request: Request, server: BunServerLike) =>
    // crossws answers refused upgrades (401, 500, 503) itself; a refused one then ends the connection.
    closeAfter(await adapter.handleUpgrade(request, server as never));
  const upgradeDocuments =
    documents && (async (request: Request, server: unknown) => closeAfter(await documents.handleUpgrade(request, server as never)));
  return {
    engine,
    websocket,
    upgrade,
    upgradeDocuments,
    async close() {
      await close();
      await documents?.close(1001, "Server is shutting down");
    },
  };
}

/**
 * One Bun server has one set of socket handlers: each socket goes to the crossws adapter that upgraded it,
 * told apart by the namespace crossws keeps in `ws.data`.
 */
function muxHandlers(live: BunWebSocketHandlers, documents: BunWebSocketHandlers, namespace: string): BunWebSocketHandlers {
  const pick = (ws: { data?: { namespace?: string } }) => (ws.data?.namespace === namespace ? documents : live);
  const mux: Record<string, unknown> = { ...live };
  for (const event of ["open", "message", "close", "drain", "ping", "pong"] as const) {
    const handler = (live as unknown as Record<string, unknown>)[event];
    if (typeof handler !== "function") continue;
    mux[event] = (ws: { data?: { namespace?: string } }, ...rest: unknown[]) =>
      (pick(ws) as unknown as Record<string, (...args: unknown[]) => unknown>)[event]?.(ws, ...rest);
  }
  return mux as unknown as BunWebSocketHandlers;
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
export function mountLive(app: Hono<any, any, any>, path: string, options: MountOptions = {}): LiveMount {
  const { engine, websocket, upgrade, upgradeDocuments, close } = startMount(app, path, options, createBunLive);
  addLiveRoute(app, path, async (c) => {
    const server = c.env as BunServerLike | undefined;
    if (typeof server?.upgrade !== "function") {
      return c.text("openlivesync: serve the app with Bun.serve({ fetch: app.fetch, websocket: live.websocket })", 500);
    }
    // After a successful upgrade Bun ignores the response.
    return (await upgrade(c.req.raw, server)) ?? new Response(null);
  });
  if (upgradeDocuments) {
    addDocumentRoutes(
      app,
      engine.documents!.path,
      async (c) => (await upgradeDocuments(c.req.raw, c.env as BunServerLike)) ?? new Response(null),
    );
  }
  return { ...liveHandle(engine, close), websocket, injectWebSocket() {} };
}

/**
 * A standalone server: `GET /` answers `openlivesync`, the WebSocket is at `path`. It listens at once.
 * `onAuth` receives the upgrade's web `Request`.
 * @example
 * const server = createServer({ port: 3000 }); // ws://localhost:3000/live
 * await server.close();
 */
export function createServer(options: ServerOptions = {}): BunLiveServer {
  return createFetchServer(options, createBunLive, (fetch: FetchHandler<BunServerLike>, live, port, hostname) => {
    const server = Bun.serve({ port, hostname, fetch, websocket: live.websocket });
    // `true` also ends idle keep-alive connections, e.g. one that got a 401.
    return { server, port: server.port, stop: async () => void (await server.stop(true)) };
  });
}

export * from "../shared/entry-exports.ts";
