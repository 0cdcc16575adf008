/**
 * The engine as plain crossws hooks, for a crossws or h3 server the user runs: no runtime's fast path,
 * only crossws's public peer API.
 */
import type { Hooks } from "crossws";
import { createLiveEngine, type LiveEngine } from "../../src/engine/engine.ts";
import type { WebSocketServerOptions } from "../../src/options.ts";
import type { ServerApi } from "../../src/engine/server-api.ts";
import type { RuntimeCapabilities } from "./runtime-live.ts";

/** The engine as crossws hooks. */
export interface LiveHooks extends ServerApi {
  /** Pass to crossws (`adapter({ hooks })`, `serve({ websocket })`) or h3's `defineWebSocketHandler`. */
  readonly hooks: Partial<Hooks>;
  readonly engine: LiveEngine;
  /** Close every socket with 1001, close chat storage, and resolve when done. */
  close(): Promise<void>;
}

export type CreateLiveHooks = (options?: WebSocketServerOptions, capabilities?: RuntimeCapabilities) => LiveHooks;

/**
 * `createLiveHooks` for one runtime: `defaults` are what that runtime's crossws adapter does itself
 * (on Deno, crossws cannot ping, so the heartbeat is left to the adapter's `idleTimeout`).
 */
export function liveHooksFor(defaults: RuntimeCapabilities): CreateLiveHooks {
  return (options = {}, capabilities = {}) => {
    const engine = createLiveEngine(options, { ...defaults, ...capabilities });
    return { ...engine.api, hooks: engine.hooks, engine, close: engine.close };
  };
}
