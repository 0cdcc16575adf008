#!/usr/bin/env node
/**
 * `openlivesync`: the standalone server. Every flag has an environment equivalent (see CLI_FLAGS); flags win.
 */
import packageJson from "../../package.json" with { type: "json" };
import { CLI_FLAGS, CliUsageError, parseCommandLine, settingsFromCli, type CliArgs, type CliFlag } from "./cli-config.ts";

interface ProcessLike {
  argv: string[];
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
  storage: "Chat and document storage: memory, sqlite:./chat.db, postgres://…, mysql://… (default memory)",
  table: "Chat table name (default openlivesync_chat)",
  "auth-google-client-id": "Require Google ID tokens for these client ids (comma-separated)",
  "auth-microsoft-tenant-id": "Require Microsoft tokens from this tenant (GUID, common, organizations)",
  "auth-microsoft-client-id": "Microsoft app client id(s) accepted as audience",
  "auth-jwks-url": "Require tokens verified against this JWKS URL",
  "auth-issuer": "Issuer expected with --auth-jwks-url",
  "auth-audience": "Audience(s) expected with --auth-jwks-url",
  "auth-provider": "Provider name reported for --auth-jwks-url tokens (default custom)",
  redis: "Join a cluster of instances through Redis (redis://127.0.0.1:6379); several comma-separated node URLs: a Redis Cluster",
  "redis-prefix": "Key and channel prefix of the cluster (default openlivesync)",
  "allowed-origin": "Browser origin allowed to connect besides the server's own (repeatable or comma-separated; * for any)",
  monitoring: "/healthz, /readyz, /metrics: on (the server's port), off, or a port of their own (default on)",
  "api-secret": "Turn on the HTTP API under /api; requests need Authorization: Bearer <this secret> (16+ characters)",
  "webhook-url": "POST signed webhooks (member.joined, member.left, room.emptied, chat.stored) to this http(s) URL",
  "webhook-secret": "Secret of the webhooks' HMAC-SHA256 signature (required with --webhook-url)",
  documents: "Shared Yjs documents (y-websocket, Hocuspocus clients): on or off (default on)",
  "documents-path": "Path of the document endpoint (default /yjs)",
};

const WIDTH = 96;

/** Words of `text` in lines of at most `width` characters. */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(" ")) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  return [...lines, line];
}

/** Plain text within 100 columns: no colour, so it reads the same in a terminal, a pipe or a file. */
export function helpText(): string {
  const flagWidth = 28;
  const rows = (Object.keys(CLI_FLAGS) as CliFlag[]).flatMap((flag) => {
    const name = `  --${flag} <value>`;
    const text = wrap(`${descriptions[flag]} [${CLI_FLAGS[flag]}]`, WIDTH - flagWidth);
    const first = name.length < flagWidth ? `${name.padEnd(flagWidth)}${text[0]}` : `${name}\n${" ".repeat(flagWidth)}${text[0]}`;
    return [first, ...text.slice(1).map((line) => `${" ".repeat(flagWidth)}${line}`)];
  });
  return [
    `openlivesync ${packageJson.version}: real-time rooms (presence, broadcast, chat) over WebSocket.`,
    "",
    "Usage: openlivesync [--flag value]...",
    "",
    "Every flag can also be set by the environment variable in brackets; flags win.",
    "",
    ...rows,
    `  --help, -h${" ".repeat(flagWidth - 12)}Print this help`,
    `  --version, -v${" ".repeat(flagWidth - 15)}Print the version`,
    "",
  ].join("\n");
}

async function main(argv: string[]) {
  let parsed: ReturnType<typeof parseCommandLine>;
  try {
    parsed = parseCommandLine(argv);
  } catch (error) {
    if (!(error instanceof CliUsageError)) throw error;
    console.error(`openlivesync: ${error.message}`);
    return proc?.exit(2);
  }
  if (parsed.kind === "help") return console.log(helpText().trimEnd());
  if (parsed.kind === "version") return console.log(packageJson.version);
  try {
    await serve(parsed.args);
  } catch (error) {
    // One clear line, not a stack trace: these are configuration and connection mistakes.
    console.error(`openlivesync: ${listenMessage(error) ?? (error instanceof Error ? error.message : String(error))}`);
    proc?.exit(1);
  }
}

/** Node's listen errors, in terms of the flag to change. */
function listenMessage(error: unknown): string | undefined {
  const e = error as { code?: unknown; address?: unknown; port?: unknown; hostname?: unknown };
  if (e?.code === "EADDRINUSE") return `--port ${e.port}: the port is already in use on ${e.address}; choose another`;
  if (e?.code === "EADDRNOTAVAIL") return `--host ${e.address}: this machine has no such address`;
  if (e?.code === "ENOTFOUND" || e?.code === "EAI_AGAIN") return `--host ${e.hostname}: no such host`;
  return undefined;
}

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
  const documents = settings.options.documents;
  if (documents)
    console.log(
      `Documents (y-websocket: ${documents.path}/<name>, Hocuspocus: ${documents.path}): ws://${host}:${server.port}${documents.path}`,
    );
  const probes = settings.monitoring === false ? undefined : settings.monitoring === true ? server.port : server.monitoringPort;
  if (probes !== undefined) console.log(`Health and metrics: http://${host}:${probes}/healthz, /readyz, /metrics`);
  const webhooks = settings.options.webhooks;
  if (webhooks) {
    // Origin and path only: a token in the URL's query or credentials stays out of the log.
    const target = new URL(webhooks.url);
    console.log(`Webhooks: POST to ${target.origin}${target.pathname} (${(webhooks.events ?? ["all events"]).join(", ")})`);
  }
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
  const demo =
    server.node && (await (await import("./demo.ts")).mountDemo(server.node, settings.path, documents ? documents.path : undefined));
  if (demo) console.log(`Demo: http://${host}:${server.port}${demo}`);
}

void main(proc?.argv.slice(2) ?? []);
