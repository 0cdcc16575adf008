/**
 * `@openlivesync/server/hono` on Node (the "node" export condition): mount the live endpoint into your own
 * Hono app, and the plain crossws hooks for people who run crossws or h3 themselves.
 */
import { liveHooksFor } from "../shared/live-hooks.ts";

export { mountLive } from "./mount.ts";

/**
 * The live endpoint as crossws hooks, for a crossws or h3 server you run yourself. Route only the live
 * path's upgrades to them. Fan-out is one `peer.send` per member. The heartbeat uses `peer.ping`; where
 * crossws cannot ping (Deno) it is left to the adapter: set crossws's `idleTimeout` there.
 * @example
 * import { serve } from "crossws/server";
 * const live = createLiveHooks({ onAuth });
 * serve({ websocket: live.hooks, fetch: () => new Response("openlivesync") });
 */
export const createLiveHooks = liveHooksFor({});

export type { LiveHooks, CreateLiveHooks } from "../shared/live-hooks.ts";
export type { LiveHandle, LiveMount, BunWebSocketHandlers, UpgradeEmitter } from "../shared/handle.ts";
