/**
 * `createServer` for runtimes whose server hands every request, upgrades included, to one `fetch`
 * function (Bun, Deno): `GET /` from the app, the live path to crossws, other upgrades 404.
 */
import { addApiRoutes } from "../../src/api/routes.ts";
import { createApp } from "../../src/app.ts";
import type { LiveEngine } from "../../src/engine/engine.ts";
import type { WebSocketServerOptions } from "../../src/options.ts";
import type { LiveServer, ServerOptions } from "./handle.ts";
import { liveHandle } from "./handle.ts";
import { displayUrl, isUpgrade, pathnameOf } from "./live-route.ts";
import { addMonitoringRoutes, createMonitoringApp, monitoringListener } from "./monitoring.ts";

/** A runtime's live endpoint, as the standalone server needs it. */
export interface FetchLive<I> {
  readonly engine: LiveEngine;
  /** Hand an upgrade on the live path to crossws; `info` is what the runtime passed to `fetch`. */
  upgrade(request: Request, info: I): Promise<Response | undefined>;
  /** Hand an upgrade under the documents' path to their crossws adapter; undefined with documents off. */
  upgradeDocuments?: (request: Request, info: I) => Promise<Response | undefined>;
  close(): Promise<void>;
}

/** A runtime's listening server, as the standalone server needs it. */
export interface Listening<S> {
  readonly server: S;
  readonly port: number;
  /** Stop listening and end open connections. */
  stop(): Promise<void>;
}

export type FetchHandler<I> = (request: Request, info: I) => Response | Promise<Response | undefined> | undefined;

/**
 * @example
 * createFetchServer(options, createDenoLive, (fetch, live, port, hostname) => {
 *   const server = Deno.serve({ port, hostname }, fetch);
 *   return { server, port: server.addr.port, stop: () => server.shutdown() };
 * });
 */
export function createFetchServer<S, I, L extends FetchLive<I>>(
  options: ServerOptions,
  createLive: (options: WebSocketServerOptions) => L,
  listen: (fetch: FetchHandler<I>, live: L, port: number, hostname: string | undefined) => Listening<S>,
): LiveServer<S> {
  const { port = 3000, hostname, monitoring = true, upgradeTimeoutMs: _, ...wsOptions } = options;
  const path = wsOptions.path ?? "/live";
  const app = createApp();
  const separate = monitoringListener(monitoring);
  const live = createLive({ ...wsOptions, path });
  if (monitoring === true) addMonitoringRoutes(app, live.engine);
  addApiRoutes(app, live.engine, wsOptions.api);
  // Its own listener: only the monitoring routes, no upgrades.
  const probes = separate && listen(createMonitoringApp(live.engine).fetch as FetchHandler<I>, live, separate.port, separate.hostname);
  const listening = listen(
    (request, info) => {
      if (!isUpgrade(request)) return app.fetch(request, info);
      const pathname = pathnameOf(request.url);
      if (pathname === path) return live.upgrade(request, info);
      if (live.upgradeDocuments && live.engine.documents?.matches(pathname)) return live.upgradeDocuments(request, info);
      return new Response("Not Found", { status: 404 });
    },
    live,
    port,
    hostname,
  );
  const ws = liveHandle(live.engine, live.close);
  let closed: Promise<void> | undefined;
  return {
    server: listening.server,
    ...ws,
    ws,
    port: listening.port,
    url: displayUrl(hostname, listening.port),
    ...(probes ? { monitoring: { port: probes.port, url: displayUrl(separate!.hostname, probes.port) } } : {}),
    close: () =>
      (closed ??= (async () => {
        await live.close();
        await Promise.all([listening.stop(), probes?.stop()]);
      })()),
  };
}
