/**
 * The public shapes every entry shares: one handle for a running live endpoint, the two things built
 * around it (a standalone server on Bun and Deno, a mount in a Hono app), and one `ServerOptions`.
 */
import type { LiveEngine } from "../../src/engine/engine.ts";
import type { ServerApi } from "../../src/engine/server-api.ts";
import type { DocumentApi } from "../../src/documents/document-api.ts";
import type { WebSocketServerOptions } from "../../src/options.ts";
import type { MonitoringOption } from "./monitoring.ts";

/**
 * A running live endpoint: the server API for your backend (`rooms`, `presence`, `publish`,
 * `sendChat`, `chatHistory`, `disconnect`; see `ServerApi`), its engine and `close()`. It is `server.ws`
 * on every runtime, what `createWebSocketServer` returns, and what the standalone servers and the Hono
 * mount extend.
 */
export interface LiveHandle extends ServerApi {
  /** Close every socket with 1001, close chat storage, and resolve when done. */
  close(): Promise<void>;
  /** Live state, for metrics and tests. */
  readonly engine: LiveEngine;
  /** Shared documents from the server: `read`, `apply`, `list` (docs/documents.md); undefined with `documents: false`. */
  readonly documents: DocumentApi | undefined;
}

/** The handle of `engine`: its server API, the engine, and `close`. */
export function liveHandle(engine: LiveEngine, close: () => Promise<void>): LiveHandle {
  return { ...engine.api, engine, close, documents: engine.documents?.api };
}

/** The upstream project's name for the handle (`server.ws`, `createWebSocketServer`'s result). */
export type WebSocketServer = LiveHandle;

/** Options of every `createServer`: where to listen, and all `WebSocketServerOptions`. */
export interface ServerOptions extends WebSocketServerOptions {
  /** Port to listen on; 0 picks a free one. @default 3000 */
  port?: number;
  /** Interface to listen on. @default all interfaces (the runtime's default) */
  hostname?: string;
  /**
   * A connection that has not sent a complete request (an upgrade's headers) within this many ms is
   * closed (slowloris). Node: `headersTimeout`, and an idle timeout for a socket that sends nothing. Deno:
   * the front (`denoFront`) closes a connection that is not a WebSocket this long after it was accepted.
   * Bun closes such connections itself after 10–20 s (its `idleTimeout` does not change that). 0 disables it.
   * @default 30000
   */
  upgradeTimeoutMs?: number;
  /**
   * `GET /healthz`, `GET /readyz` and `GET /metrics`: on the server's port (`true`), off (`false`), or on
   * a separate listener (`{ port, hostname? }`; `server.monitoring` is then that listener's address).
   * @default true
   */
  monitoring?: MonitoringOption;
}

/** Options of `mountLive`: the WebSocket options, and whether the monitoring routes join your app. */
export interface MountOptions extends WebSocketServerOptions {
  /** Add `GET /healthz`, `/readyz` and `/metrics` to the app. @default true */
  monitoring?: boolean;
}

/** What `createServer` returns on Bun and Deno: the runtime's server, the handle, and where it listens. */
export interface LiveServer<S> extends LiveHandle {
  /** The runtime's server (`Bun.serve`'s or `Deno.serve`'s). */
  readonly server: S;
  /** The handle alone; `close()` here leaves the server listening. */
  readonly ws: LiveHandle;
  readonly port: number;
  /** `http://host:port` */
  readonly url: string;
  /** The monitoring listener, when `monitoring: { port }` asked for one. */
  readonly monitoring?: { readonly port: number; readonly url: string };
  /** Close every socket with 1001, close chat storage, stop listening; resolves when done. */
  close(): Promise<void>;
}

/** Bun's `websocket` handlers and settings for `Bun.serve`, by shape (https://bun.sh/docs/api/websockets). */
export interface BunWebSocketHandlers {
  open(ws: any): void;
  message(ws: any, message: any): void;
  close(ws: any, code: number, reason: string): void;
  drain?(ws: any): void;
  ping?(ws: any, data: any): void;
  pong?(ws: any, data: any): void;
  maxPayloadLength: number;
  backpressureLimit: number;
  closeOnBackpressureLimit: boolean;
  idleTimeout: number;
  sendPings: boolean;
  perMessageDeflate: boolean;
}

/** A Node `http.Server`, as far as upgrades go. */
export interface UpgradeEmitter {
  on(event: "upgrade", listener: (...args: any[]) => void): unknown;
  off(event: "upgrade", listener: (...args: any[]) => void): unknown;
  listenerCount(event: "upgrade"): number;
}

/** The live endpoint mounted on a Hono app. The same shape on every runtime. */
export interface LiveMount extends LiveHandle {
  /**
   * Bun: pass it to `Bun.serve({ fetch: app.fetch, websocket: live.websocket })`; Bun needs the socket
   * handlers when the server starts. `undefined` on Node and Deno.
   */
  readonly websocket: BunWebSocketHandlers | undefined;
  /**
   * Node: send upgrades of the server that `serve()` from `@hono/node-server` returned through the app.
   * A no-op on Bun and Deno, whose `fetch` sees upgrades already.
   */
  injectWebSocket(server: UpgradeEmitter): void;
}
