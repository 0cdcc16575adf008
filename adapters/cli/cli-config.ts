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
import { createChatStorageFromUrl } from "../../src/storage/from-url.ts";
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
  const port = toInt("port", pick(args, env, "port"), 3000);
  const historyLimit = toInt("history-limit", pick(args, env, "history-limit"), 100);
  const path = pick(args, env, "path", "/live")!;
  const hostname = pick(args, env, "host", "127.0.0.1")!;
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
  const storage = await createChatStorageFromUrl(storageUrl, { tableName, historyLimit: Math.max(historyLimit, 100) });
  const options: WebSocketServerOptions = {
    path,
    chat: { storage, historyLimit },
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
  return { port: toInt("monitoring", value, 0), hostname };
}
