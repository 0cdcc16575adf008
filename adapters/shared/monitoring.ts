/**
 * `GET /healthz`, `GET /readyz` and `GET /metrics` (Prometheus text format) as Hono routes: on the
 * server's own app, a Hono app you mount into, or a separate app on another port.
 */
import { Hono } from "hono";
import type { LiveEngine } from "../../src/engine/engine.ts";
import { ConfigError } from "../../src/errors.ts";

/**
 * Where the health and metrics routes are served: `true` on the server's port (the default), `false`
 * nowhere, `{ port }` on a separate listener (keep `/metrics` off the public port).
 * @default true
 * @example monitoring: { port: 9464, hostname: "127.0.0.1" }
 */
export type MonitoringOption = boolean | { port: number; hostname?: string };

/** The routes, added to `app`. */
export function addMonitoringRoutes(app: Hono<any, any, any>, engine: LiveEngine): void {
  app.get("/healthz", (c) => c.text("ok"));
  app.get("/readyz", async (c) => {
    const readiness = await engine.ready();
    return c.json(readiness, readiness.ok ? 200 : 503);
  });
  app.get("/metrics", async (c) => c.body(await engine.metrics(), 200, { "content-type": "text/plain; version=0.0.4; charset=utf-8" }));
}

/** The separate listener's address when `monitoring` asks for one; checks the option. */
export function monitoringListener(monitoring: MonitoringOption | undefined): { port: number; hostname?: string } | undefined {
  if (monitoring === undefined || typeof monitoring === "boolean") return undefined;
  const port = monitoring?.port;
  if (typeof port !== "number" || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new ConfigError(`Option monitoring.port must be a port number, got ${String(port)}`);
  }
  return monitoring;
}

/** A Hono app holding only the monitoring routes, for a separate listener. */
export function createMonitoringApp(engine: LiveEngine): Hono {
  const app = new Hono();
  addMonitoringRoutes(app, engine);
  return app;
}
