/**
 * `@openlivesync/server/hono`: mount the live endpoint into your own Hono app on Node, Bun or Deno,
 * and the plain crossws hooks for people who run crossws or h3 themselves.
 */
import type { Hooks } from "crossws";
import type { Hono } from "hono";
import { createLiveEngine, type LiveEngine, type RuntimeHooks } from "../src/engine/engine.ts";
import type { WebSocketServerOptions } from "../src/options.ts";
import type { LiveMount } from "./live-route.ts";

type MountLive = (app: Hono<any, any, any>, path: string, options?: WebSocketServerOptions) => LiveMount;

// Each runtime's mount needs that runtime's socket layer, and each entry refuses to load elsewhere;
// only the one in use is imported.
const runtimeMount: MountLive =
  "Bun" in globalThis
    ? (await import("./bun.ts")).mountLive
    : "Deno" in globalThis
      ? (await import("./deno.ts")).mountLive
      : (await import("./hono-node.ts")).mountLive;

/**
 * Add the live endpoint to your Hono app at `path`, next to your own routes. Middleware you register
 * for the path runs before the upgrade. One extra step per runtime, as with Hono's own WebSocket helpers:
 * Node passes the server to `live.injectWebSocket`, Bun passes `live.websocket` to `Bun.serve`, Deno
 * needs nothing. `onAuth` receives the `IncomingMessage` on Node and the web `Request` on Bun and Deno.
 * @example
 * const app = new Hono();
 * app.get("/api/hello", (c) => c.json({ hello: "world" }));
 * const live = mountLive(app, "/live", { onAuth });
 * live.injectWebSocket(serve({ fetch: app.fetch, port: 3000 }));          // Node (@hono/node-server)
 * Bun.serve({ port: 3000, fetch: app.fetch, websocket: live.websocket }); // Bun
 * Deno.serve({ port: 3000 }, app.fetch);                                  // Deno
 */
export function mountLive(app: Hono<any, any, any>, path: string, options: WebSocketServerOptions = {}): LiveMount {
  return runtimeMount(app, path, options);
}

/** The engine as crossws hooks. */
export interface LiveHooks {
  /** Pass to crossws (`adapter({ hooks })`, `serve({ websocket })`) or h3's `defineWebSocketHandler`. */
  readonly hooks: Partial<Hooks>;
  readonly engine: LiveEngine;
  /** Close every socket with 1001, close chat storage, and resolve when done. */
  close(): Promise<void>;
}

/**
 * The live endpoint as crossws hooks, for a crossws or h3 server you run yourself. Route only the live
 * path's upgrades to them. Fan-out is one `peer.send` per member. The heartbeat uses `peer.ping`; where
 * crossws cannot ping (Deno) it is left to the adapter: set crossws's `idleTimeout` there.
 * @example
 * import { serve } from "crossws/server";
 * const live = createLiveHooks({ onAuth });
 * serve({ websocket: live.hooks, fetch: () => new Response("openlivesync") });
 */
export function createLiveHooks(options: WebSocketServerOptions = {}, runtime: RuntimeHooks = {}): LiveHooks {
  const engine = createLiveEngine(options, { nativeHeartbeat: "Deno" in globalThis, ...runtime });
  return { hooks: engine.hooks, engine, close: engine.close };
}

export type { LiveMount, BunWebSocketHandlers, UpgradeEmitter } from "./live-route.ts";
