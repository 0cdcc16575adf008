/** The pieces every runtime's HTTP side shares: the live route in a Hono app, and request helpers. */
import type { Context, Hono } from "hono";
import { addApiRoutes } from "../../src/api/routes.ts";
import type { LiveEngine } from "../../src/engine/engine.ts";
import type { WebSocketServerOptions } from "../../src/options.ts";
import type { MountOptions } from "./handle.ts";
import { addMonitoringRoutes } from "./monitoring.ts";

/**
 * What every runtime's `mountLive` does first: build its live endpoint for `path` with `create`, then add
 * the monitoring routes (unless `monitoring: false`) and the HTTP API (with `api`) to `app`.
 */
export function startMount<L extends { engine: LiveEngine }>(
  app: Hono<any, any, any>,
  path: string,
  options: MountOptions,
  create: (options: WebSocketServerOptions) => L,
): L {
  const { monitoring = true, ...liveOptions } = options;
  const live = create({ ...liveOptions, path });
  if (monitoring) addMonitoringRoutes(app, live.engine);
  addApiRoutes(app, live.engine, liveOptions.api);
  return live;
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

/** The document endpoint's routes: `path` (Hocuspocus) and `path/<name>` (y-websocket), like {@link addLiveRoute}. */
export function addDocumentRoutes(app: Hono<any, any, any>, path: string, upgrade: (c: Context) => Promise<Response>): void {
  addLiveRoute(app, path, upgrade);
  addLiveRoute(app, `${path}/*`, upgrade);
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
