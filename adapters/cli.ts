#!/usr/bin/env node
/**
 * `openlivesync`: the standalone server. Every flag has an environment equivalent; flags win.
 */
import { defineCommand, runMain } from "citty";
import { OpenLiveSyncError } from "../src/errors.ts";
import type { ServerOptions } from "./node.ts";

const env = (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env ?? {};

const command = defineCommand({
  meta: { name: "openlivesync", description: "Real-time rooms server: presence, broadcast and chat over WebSocket." },
  args: {
    port: { type: "string", description: "Port to listen on (env PORT)", default: env.PORT ?? "3000" },
    host: { type: "string", description: "Interface to listen on (env HOST)", default: env.HOST ?? "127.0.0.1" },
    path: { type: "string", description: "WebSocket path (env LIVE_PATH)", default: env.LIVE_PATH ?? "/live" },
    "history-limit": {
      type: "string",
      description: "Chat messages sent to joiners (env HISTORY_LIMIT)",
      default: env.HISTORY_LIMIT ?? "100",
    },
  },
  async run({ args }) {
    try {
      await serve(args);
    } catch (error) {
      // One clear line, not a stack trace: these are configuration and connection mistakes.
      console.error(`openlivesync: ${error instanceof Error ? error.message : String(error)}`);
      exitWith(1);
    }
  },
});

type Args = { port: string; host: string; path: string; "history-limit": string };

async function serve(args: Args) {
    const port = toInt("--port", args.port);
    const historyLimit = toInt("--history-limit", args["history-limit"]);
    const options: ServerOptions = { port, hostname: args.host, path: args.path, chat: { historyLimit } };
    const { start } = await import("./serve.ts");
    const server = await start(options);
    const shown = args.host === "0.0.0.0" || args.host === "::" ? "localhost" : args.host;
    console.log(`openlivesync listening on http://${shown}:${server.port}`);
    console.log(`WebSocket endpoint: ws://${shown}:${server.port}${args.path}`);

    let stopping = false;
    const stop = async (signal: string) => {
      if (stopping) return;
      stopping = true;
      console.log(`${signal}: closing connections…`);
      await server.close();
      console.log("openlivesync stopped");
      exitWith(0);
    };
    proc?.on("SIGINT", () => void stop("SIGINT"));
    proc?.on("SIGTERM", () => void stop("SIGTERM"));
}

const proc = (globalThis as { process?: { on(signal: string, fn: () => void): void; exit(code: number): never } }).process;
function exitWith(code: number) {
  proc?.exit(code);
}

function toInt(flag: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new CliError(`${flag} must be a whole number, got "${value}"`);
  return n;
}

class CliError extends OpenLiveSyncError {
  constructor(message: string) {
    super("CLI_ERROR", message);
  }
}

void runMain(command);
