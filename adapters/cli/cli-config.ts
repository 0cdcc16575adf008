/**
 * Turns CLI flags and environment variables into server options. Flags win over the environment.
 * Kept apart from the command itself so it can be tested without starting a process.
 */
import { checkApiSecret } from "../../src/api/bearer.ts";
import { createTokenAuth, type AuthOptions } from "../../src/auth/tokens.ts";
import { ConfigError } from "../../src/errors.ts";
import type { WebSocketServerOptions } from "../../src/options.ts";
import type { MonitoringOption } from "../shared/monitoring.ts";
import { createRedisBackplane } from "../../src/cluster/redis-backplane.ts";
import { createChatStorageFromUrl, createDocumentStorageFromUrl } from "../../src/storage/from-url.ts";
import { resolveWebhookOptions, type WebhookOptions } from "../../src/webhooks/options.ts";

export type Env = Record<string, string | undefined>;

/** Flag name → environment variable, for every flag the CLI takes. Also the README's table. */
export const CLI_FLAGS = {
  port: "PORT",
  host: "HOST",
  path: "LIVE_PATH",
  "history-limit": "HISTORY_LIMIT",
  storage: "STORAGE_URL",
  table: "STORAGE_TABLE",
  "auth-google-client-id": "AUTH_GOOGLE_CLIENT_ID",
  "auth-microsoft-tenant-id": "AUTH_MICROSOFT_TENANT_ID",
  "auth-microsoft-client-id": "AUTH_MICROSOFT_CLIENT_ID",
  "auth-jwks-url": "AUTH_JWKS_URL",
  "auth-issuer": "AUTH_ISSUER",
  "auth-audience": "AUTH_AUDIENCE",
  "auth-provider": "AUTH_PROVIDER",
  redis: "REDIS_URL",
  "redis-prefix": "REDIS_PREFIX",
  "allowed-origin": "ALLOWED_ORIGINS",
  monitoring: "MONITORING",
  "api-secret": "API_SECRET",
  "webhook-url": "WEBHOOK_URL",
  "webhook-secret": "WEBHOOK_SECRET",
  documents: "DOCUMENTS",
  "documents-path": "DOCUMENTS_PATH",
} as const;

export type CliFlag = keyof typeof CLI_FLAGS;
export type CliArgs = Partial<Record<CliFlag, string | string[]>>;

export interface CliSettings {
  port: number;
  hostname: string;
  path: string;
  storageUrl: string;
  redisUrl: string | undefined;
  /** `/healthz`, `/readyz`, `/metrics`: on the server's port, off, or on their own port. */
  monitoring: MonitoringOption;
  options: WebSocketServerOptions;
}

/** Flag value, else the environment's, else the default. Empty strings count as unset. */
export function pick(args: CliArgs, env: Env, flag: CliFlag, fallback?: string): string | undefined {
  const given = args[flag];
  // A repeated flag arrives as an array; the last one wins, except where a flag takes a list.
  const fromFlag = Array.isArray(given) ? given.at(-1) : given;
  if (fromFlag !== undefined && fromFlag !== "") return fromFlag;
  const fromEnv = env[CLI_FLAGS[flag]];
  return fromEnv !== undefined && fromEnv !== "" ? fromEnv : fallback;
}

function toInt(flag: CliFlag, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new ConfigError(`--${flag} must be a whole number, got "${value}"`);
  return n;
}

function toPort(flag: CliFlag, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 65535) throw new ConfigError(`--${flag} must be a port number from 0 to 65535, got "${value}"`);
  return n;
}

/** An IPv4 address, an IPv6 address or a host name; dotted numbers must be a real IPv4 address. */
function checkHost(value: string): string {
  const dotted = /^[\d.]+$/.test(value);
  const ipv4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(value);
  const badIpv4 = dotted && (!ipv4 || ipv4.slice(1).some((byte) => Number(byte) > 255));
  const name = /^(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*$/i.test(value);
  const ipv6 = value.includes(":") && /^[0-9a-f:.]+$/i.test(value);
  if (badIpv4 || !(name || ipv6 || ipv4)) {
    throw new ConfigError(`--host must be an IP address (127.0.0.1, 0.0.0.0, ::) or a host name, got "${value}"`);
  }
  return value;
}

/** A mistake on the command line itself (an unknown flag, a missing value): exit code 2. */
export class CliUsageError extends Error {}

export type ParsedCommandLine = { kind: "help" } | { kind: "version" } | { kind: "serve"; args: CliArgs };

/** Edit distance, for "did you mean": small strings only. */
function distance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) {
      next[j] = Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    row = next;
  }
  return row[b.length]!;
}

const KNOWN = [...(Object.keys(CLI_FLAGS) as CliFlag[]), "help", "version"];

/** The known flag nearest to a mistyped one, when one is near enough to be what was meant. */
export function nearestFlag(given: string): string | undefined {
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const flag of KNOWN) {
    const d = flag.startsWith(given) && given.length >= 3 ? 0 : distance(given, flag);
    if (d < bestDistance) [best, bestDistance] = [flag, d];
  }
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(given.length / 3)) ? best : undefined;
}

/**
 * `--flag value`, `--flag=value`, `--help`/`-h`, `--version`/`-v`. Every flag takes a value; a repeated
 * flag arrives as a list. Anything else is a `CliUsageError` naming it (and the nearest known flag).
 */
export function parseCommandLine(argv: string[]): ParsedCommandLine {
  const args: Record<string, string | string[]> = {};
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i]!;
    if (word === "--help" || word === "-h") return { kind: "help" };
    if (word === "--version" || word === "-v") return { kind: "version" };
    const m = /^--([^=]+)(?:=(.*))?$/s.exec(word);
    if (!m) throw new CliUsageError(`unexpected argument "${word}": every option is a --flag with a value (see --help)`);
    const name = m[1]!;
    if (!(name in CLI_FLAGS)) {
      const near = nearestFlag(name);
      throw new CliUsageError(`unknown option --${name}${near ? `; did you mean --${near}?` : " (see --help)"}`);
    }
    let value = m[2];
    if (value === undefined) {
      const next = argv[i + 1];
      if (next === undefined || next.startsWith("--")) throw new CliUsageError(`--${name} needs a value (see --help)`);
      value = next;
      i++;
    }
    const before = args[name];
    args[name] = before === undefined ? value : [...(Array.isArray(before) ? before : [before]), value];
  }
  return { kind: "serve", args: args as CliArgs };
}

const list = (value: string | undefined) =>
  value
    ?.split(",")
    .map((s) => s.trim())
    .filter(Boolean);

/** Auth providers from flags/env; undefined when none is configured (then no token is required). */
export function authFromCli(args: CliArgs, env: Env): AuthOptions | undefined {
  const auth: AuthOptions = {};
  const googleClient = list(pick(args, env, "auth-google-client-id"));
  if (googleClient) auth.google = { clientId: googleClient };
  const tenantId = pick(args, env, "auth-microsoft-tenant-id");
  const msClient = list(pick(args, env, "auth-microsoft-client-id"));
  if (tenantId) auth.microsoft = { tenantId, clientId: msClient };
  else if (msClient) throw new ConfigError("--auth-microsoft-client-id needs --auth-microsoft-tenant-id too");
  const jwksUrl = pick(args, env, "auth-jwks-url");
  if (jwksUrl) {
    auth.custom = {
      jwksUrl,
      issuer: pick(args, env, "auth-issuer"),
      audience: list(pick(args, env, "auth-audience")),
      provider: pick(args, env, "auth-provider"),
    };
  } else if (pick(args, env, "auth-issuer") || pick(args, env, "auth-audience")) {
    throw new ConfigError("--auth-issuer and --auth-audience need --auth-jwks-url too");
  }
  return auth.google || auth.microsoft || auth.custom ? auth : undefined;
}

/**
 * Everything the standalone server needs, with the chat storage connected (an unreachable database
 * fails here, with one clear message).
 */
export async function settingsFromCli(args: CliArgs, env: Env): Promise<CliSettings> {
  const port = toPort("port", pick(args, env, "port"), 3000);
  const historyLimit = toInt("history-limit", pick(args, env, "history-limit"), 100);
  const path = pick(args, env, "path", "/live")!;
  const hostname = checkHost(pick(args, env, "host", "127.0.0.1")!);
  const storageUrl = pick(args, env, "storage", "memory")!;
  const tableName = pick(args, env, "table");
  const redisUrl = pick(args, env, "redis");
  const redisPrefix = pick(args, env, "redis-prefix");
  if (redisPrefix && !redisUrl) throw new ConfigError("--redis-prefix needs --redis (or REDIS_URL) too");
  const apiSecret = pick(args, env, "api-secret");
  if (apiSecret !== undefined) checkApiSecret(apiSecret, "--api-secret (API_SECRET)");

  const monitoring = monitoringFromCli(pick(args, env, "monitoring", "on")!, hostname);
  const auth = authFromCli(args, env);
  const webhooks = webhooksFromCli(args, env);
  const origins = args["allowed-origin"];
  const allowedOrigins = list(Array.isArray(origins) ? origins.join(",") : pick(args, env, "allowed-origin"));
  const documentsOn = pick(args, env, "documents", "on")!;
  if (documentsOn !== "on" && documentsOn !== "off") throw new ConfigError(`--documents must be on or off, got "${documentsOn}"`);
  const documentsPath = pick(args, env, "documents-path", "/yjs")!;
  const storage = await createChatStorageFromUrl(storageUrl, { tableName, historyLimit: Math.max(historyLimit, 100) });
  // Documents go to the same database as chat, in their own table.
  const documents =
    documentsOn === "on" ? { path: documentsPath, storage: await createDocumentStorageFromUrl(storageUrl) } : (false as const);
  const options: WebSocketServerOptions = {
    path,
    chat: { storage, historyLimit },
    documents,
    ...(allowedOrigins ? { allowedOrigins: allowedOrigins.includes("*") ? "*" : allowedOrigins } : {}),
    // With a provider configured, a valid token is required at connect.
    ...(auth ? { onAuth: createTokenAuth(auth), auth } : {}),
    // ioredis is loaded only when a Redis URL is given.
    ...(redisUrl ? { backplane: createRedisBackplane({ url: redisUrl, keyPrefix: redisPrefix }) } : {}),
    ...(apiSecret ? { api: { secret: apiSecret } } : {}),
    ...(webhooks ? { webhooks } : {}),
  };
  return { port, hostname, path, storageUrl, redisUrl, monitoring, options };
}

/** Webhooks from flags/env, checked (a bad URL fails start-up); undefined when no URL is given. */
export function webhooksFromCli(args: CliArgs, env: Env): WebhookOptions | undefined {
  const url = pick(args, env, "webhook-url");
  const secret = pick(args, env, "webhook-secret");
  if (!url) {
    if (secret) throw new ConfigError("--webhook-secret needs --webhook-url (or WEBHOOK_URL) too");
    return undefined;
  }
  if (!secret) throw new ConfigError("--webhook-url needs --webhook-secret (or WEBHOOK_SECRET) too: every webhook is signed");
  return resolveWebhookOptions({ url, secret });
}

/** `on` (the server's port), `off`, or a port number for a separate listener on the same interface. */
function monitoringFromCli(value: string, hostname: string): MonitoringOption {
  if (value === "on") return true;
  if (value === "off") return false;
  if (!/^\d+$/.test(value) || Number(value) > 65535) {
    throw new ConfigError(`--monitoring must be on, off, or a port number from 0 to 65535, got "${value}"`);
  }
  return { port: Number(value), hostname };
}
