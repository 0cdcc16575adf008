/**
 * Starts the standalone server on whichever runtime runs the CLI. The only place that picks a runtime
 * entry at run time; libraries import the entry their export condition selects.
 */
import type { ServerOptions } from "./handle.ts";

export interface RunningServer {
  port: number;
  /** The monitoring listener's port, when it has its own. */
  monitoringPort?: number;
  close(): Promise<void>;
  /** Node only: the `http.Server`, for the CLI's demo page. */
  node?: import("node:http").Server;
}

/** Import this runtime's entry, which registers its SQLite driver: the CLI creates its storage before `start`. */
export function loadRuntimeEntry(): Promise<unknown> {
  if ("Bun" in globalThis) return import("../bun/index.ts");
  if ("Deno" in globalThis) return import("../deno/index.ts");
  return import("../node/index.ts");
}

export async function start(options: ServerOptions): Promise<RunningServer> {
  // Bun.serve and Deno.serve listen (or throw) synchronously.
  if ("Bun" in globalThis) {
    const { createServer } = await import("../bun/index.ts");
    const server = createServer(options);
    return { port: server.port, monitoringPort: server.monitoring?.port, close: server.close };
  }
  if ("Deno" in globalThis) {
    const { createServer } = await import("../deno/index.ts");
    const server = createServer(options);
    return { port: server.port, monitoringPort: server.monitoring?.port, close: server.close };
  }
  const { createServer } = await import("../node/index.ts");
  const server = createServer(options);
  await new Promise<void>((resolve, reject) => {
    server.once("listening", resolve);
    server.once("error", reject);
  });
  const address = server.address();
  if (server.monitoring && !server.monitoring.listening) await new Promise((resolve) => server.monitoring!.once("listening", resolve));
  const probes = server.monitoring?.address();
  return {
    node: server,
    port: typeof address === "object" && address ? address.port : (options.port ?? 3000),
    monitoringPort: typeof probes === "object" && probes ? probes.port : undefined,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
