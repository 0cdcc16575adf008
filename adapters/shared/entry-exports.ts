/**
 * What every runtime's main entry (`@openlivesync/server` on Node, Bun, Deno) exports besides its own
 * `createServer` & co.: the shared public shapes and the whole runtime-neutral API.
 */
export type {
  LiveHandle,
  LiveMount,
  LiveServer,
  ServerOptions,
  MountOptions,
  WebSocketServer,
  BunWebSocketHandlers,
  UpgradeEmitter,
} from "./handle.ts";
export type { MonitoringOption } from "./monitoring.ts";

export * from "../../src/index.ts";
