#!/usr/bin/env node
/**
 * `openlivesync`: the standalone server. Every flag has an environment equivalent (see CLI_FLAGS); flags win.
 */
import { defineCommand, runMain, type ArgsDef } from "citty";
import { CLI_FLAGS, settingsFromCli, type CliArgs, type CliFlag } from "./cli-config.ts";

interface ProcessLike {
  env: Record<string, string | undefined>;
  on(signal: string, fn: () => void): void;
  exit(code: number): never;
}
const proc = (globalThis as { process?: ProcessLike }).process;

const descriptions: Record<CliFlag, string> = {
  port: "Port to listen on (default 3000)",
  host: "Interface to listen on (default 127.0.0.1; 0.0.0.0 for all)",
  path: "WebSocket path (default /live)",
  "history-limit": "Chat messages sent to joiners (default 100)",
  storage: "Chat storage: memory, sqlite:./chat.db, postgres://…, mysql://… (default memory)",
  table: "Chat table name (default openlivesync_chat)",
  "auth-google-client-id": "Require Google ID tokens for these client ids (comma-separated)",
  "auth-microsoft-tenant-id": "Require Microsoft tokens from this tenant (GUID, common, organizations)",
  "auth-microsoft-client-id": "Microsoft app client id(s) accepted as audience",
  "auth-jwks-url": "Require tokens verified against this JWKS URL",
  "auth-issuer": "Issuer expected with --auth-jwks-url",
  "auth-audience": "Audience(s) expected with --auth-jwks-url",
  "auth-provider": "Provider name reported for --auth-jwks-url tokens (default custom)",
  redis: "Redis URL: join a cluster of instances (redis://127.0.0.1:6379); several comma-separated node URLs = a Redis Cluster",
  "redis-prefix": "Key and channel prefix for the cluster (default openlivesync)",
  "allowed-origin": "Browser origin allowed to connect besides the server's own (repeatable or comma-separated; * for any)",
  monitoring: "GET /healthz, /readyz, /metrics: on (the server's port), off, or a port of their own (default on)",
  "api-secret": "Turn on the HTTP API under /api; requests need Authorization: Bearer <this secret> (16+ characters)",
  "webhook-url": "POST signed webhooks (member.joined, member.left, room.emptied, chat.stored) to this http(s) URL",
  "webhook-secret": "Secret of the webhooks' HMAC-SHA256 signature (required with --webhook-url)",
};

const args = Object.fromEntries(
  (Object.keys(CLI_FLAGS) as CliFlag[]).map((flag) => [
    flag,
    { type: "string", description: `${descriptions[flag]} [env ${CLI_FLAGS[flag]}]` },
  ]),
) as ArgsDef;

const command = defineCommand({
  meta: { name: "openlivesync", description: "Real-time rooms server: presence, broadcast and chat over WebSocket." },
  args,
  async run({ args }) {
    try {
      await serve(args as CliArgs);
    } catch (error) {
      // One clear line, not a stack trace: these are configuration and connection mistakes.
      console.error(`openlivesync: ${error instanceof Error ? error.message : String(error)}`);
      proc?.exit(1);
    }
  },
});

async function serve(cliArgs: CliArgs) {
  const { start, loadRuntimeEntry } = await import("../shared/serve.ts");
  await loadRuntimeEntry();
  const settings = await settingsFromCli(cliArgs, proc?.env ?? {});
  const server = await start({ ...settings.options, port: settings.port, hostname: settings.hostname, monitoring: settings.monitoring });
  const host = settings.hostname === "0.0.0.0" || settings.hostname === "::" ? "localhost" : settings.hostname;
  console.log(
    `openlivesync listening on http://${host}:${server.port} (chat storage: ${settings.storageUrl.replace(/\/\/[^@/]*@/, "//***@")})`,
  );
  if (settings.options.api) console.log(`HTTP API: http://${host}:${server.port}/api (Authorization: Bearer <API secret>)`);
  console.log(`WebSocket endpoint: ws://${host}:${server.port}${settings.path}`);
  const probes = settings.monitoring === false ? undefined : settings.monitoring === true ? server.port : server.monitoringPort;
  if (probes !== undefined) console.log(`Health and metrics: http://${host}:${probes}/healthz, /readyz, /metrics`);
  if (settings.redisUrl)
    console.log(
      `Cluster: ${settings.redisUrl.includes(",") ? "Redis Cluster" : "Redis"} at ${settings.redisUrl.replace(/\/\/[^@/,]*@/g, "//***@")}`,
    );

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`${signal}: closing connections…`);
    await server.close();
    console.log("openlivesync stopped");
    proc?.exit(0);
  };
  proc?.on("SIGINT", () => void stop("SIGINT"));
  proc?.on("SIGTERM", () => void stop("SIGTERM"));
  const demo = server.node && (await (await import("./demo.ts")).mountDemo(server.node, settings.path));
  if (demo) console.log(`Demo: http://${host}:${server.port}${demo}`);
}

void runMain(command);
