import type { Context, Hono } from "hono";
import type { LiveEngine } from "../src/engine/engine.ts";

/** The WebSocket side of a server: its engine state and an async `close()`. */
export interface LiveSocketServer {
  /** Close every socket with 1001, close chat storage, and resolve when done. */
  close(): Promise<void>;
  /** Live state, for metrics and tests. */
  readonly engine: LiveEngine;
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
export interface LiveMount extends LiveSocketServer {
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

/** What `createServer` returns on Bun and Deno: the runtime's server, the WebSocket side, and `close()`. */
export interface LiveServer<S> {
  /** The runtime's server (`Bun.serve`'s or `Deno.serve`'s). */
  readonly server: S;
  /** The WebSocket side alone. */
  readonly ws: LiveSocketServer;
  readonly port: number;
  /** `http://host:port` */
  readonly url: string;
  /** Close every socket with 1001, close chat storage, stop listening; resolves when done. */
  close(): Promise<void>;
}

/** `http://host:port` for a listening address; wildcard addresses are shown as localhost. */
export function displayUrl(hostname: string | undefined, port: number): string {
  const host = !hostname || hostname === "0.0.0.0" || hostname === "::" ? "localhost" : hostname;
  return `http://${host.includes(":") ? `[${host}]` : host}:${port}`;
}

/** True for a WebSocket upgrade request. */
export function isUpgrade(request: Request): boolean {
  return request.headers.get("upgrade")?.toLowerCase() === "websocket";
}

/**
 * Adds `GET path` to `app`: upgrades go to `upgrade`, plain requests get 426. The route sits among the
 * user's own routes, so middleware registered for the path runs before the upgrade on every runtime.
 */
export function addLiveRoute(app: Hono<any, any, any>, path: string, upgrade: (c: Context) => Promise<Response>): void {
  app.get(path, (c) => {
    if (!isUpgrade(c.req.raw)) return c.text("Upgrade Required: connect with a WebSocket client", 426, { upgrade: "websocket" });
    return upgrade(c);
  });
}

/**
 * A refused upgrade (401, 500, 503) ends the connection: Bun would otherwise keep it alive for further
 * HTTP requests that a WebSocket client never sends. (Deno ignores the header.) A 101 passes as is.
 */
export function closeAfter(response: Response | undefined): Response | undefined {
  if (response && response.status !== 101) {
    try {
      response.headers.set("connection", "close");
    } catch {} // immutable headers: leave the response as it is
  }
  return response;
}

/** Pathname of a request URL (absolute, or a Node `req.url` path) without parsing it fully. */
export function pathnameOf(url: string): string {
  const start = url.startsWith("/") ? 0 : url.indexOf("/", url.indexOf("//") + 2);
  if (start === -1) return "/";
  const q = url.indexOf("?", start);
  return q === -1 ? url.slice(start) : url.slice(start, q);
}
