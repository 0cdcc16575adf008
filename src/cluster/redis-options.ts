import type { Backplane } from "./backplane.ts";
import { ConfigError, type OnError } from "../errors.ts";
import { numberOption } from "../util/number-option.ts";
import { parseRedisUrls, type RedisClientLike } from "./redis-driver.ts";

export interface RedisBackplaneOptions {
  /**
   * Redis URL, e.g. `redis://127.0.0.1:6379`. Several comma-separated URLs
   * (`redis://a:7000,redis://b:7001`) are startup nodes of a Redis Cluster. Either this or `client`.
   */
  url?: string;
  /** Treat a single `url` as a startup node of a Redis Cluster. @default true when `url` lists several nodes */
  cluster?: boolean;
  /** An ioredis `Redis` client (single Redis) to use for commands; a second connection for SUBSCRIBE is `duplicate()`d from it. */
  client?: RedisClientLike;
  /**
   * Redis Cluster only: where to reach a node, by the `host:port` the cluster announces for it (a cluster
   * behind NAT, in containers, or behind proxies). Passed to ioredis's `natMap`.
   * @example { "10.0.0.5:7000": { host: "redis-a.example", port: 7000 } }
   */
  natMap?: Record<string, { host: string; port: number }>;
  /** Prefix of every key and channel; instances with the same prefix form one cluster. @default "openlivesync" */
  keyPrefix?: string;
  /** How often this instance renews its heartbeat and checks the others'. @default 2000 */
  heartbeatMs?: number;
  /** Lifetime of the heartbeat key: an instance silent this long is removed with its members. @default 10000 */
  ttlMs?: number;
  /** Where backplane failures go (stage "backplane"). @default the server's `onError` */
  onError?: OnError;
}

/** What this instance read from Redis pub/sub since it started. */
export interface RedisBackplaneStats {
  /** Payload and channel bytes of every pub/sub message received, own echoes included. */
  bytesRead: number;
  messagesRead: number;
  /** Records from other instances in those messages (one PUBLISH may hold several): one per room message, one per room per window for presence. */
  recordsRead: number;
  /** Rooms whose channel this instance is subscribed to (rooms with a local member). */
  rooms: number;
}

/** A `createRedisBackplane` instance; `ready()` resolves once it is connected and announced. */
export interface RedisBackplane extends Backplane {
  ready(): Promise<void>;
  readonly mode: "single" | "cluster";
  stats(): RedisBackplaneStats;
}

/** Checked options: what the connections and timers need. */
export function settingsOf(options: RedisBackplaneOptions) {
  if (!options.url && !options.client) throw new ConfigError("createRedisBackplane needs a url (redis://host:6379) or an ioredis client");
  const prefix = options.keyPrefix ?? "openlivesync";
  if (!prefix || /[\s{}]/.test(prefix))
    throw new ConfigError(`keyPrefix must be a non-empty string without spaces or braces, got "${prefix}"`);
  const heartbeatMs = numberOption("heartbeatMs", options.heartbeatMs, 2000, "positive");
  const ttlMs = numberOption("ttlMs", options.ttlMs, 10_000, "positive");
  if (ttlMs <= heartbeatMs * 2) throw new ConfigError(`ttlMs (${ttlMs}) must be more than twice heartbeatMs (${heartbeatMs})`);
  const urls = options.url ? parseRedisUrls(options.url) : [];
  if (options.url && urls.length === 0) throw new ConfigError(`No Redis URL in "${options.url}"`);
  const clustered = options.cluster ?? urls.length > 1;
  if (clustered && options.client)
    throw new ConfigError('A Redis Cluster is given by its node URLs (url: "redis://a:7000,redis://b:7001"), not by a client');
  if (options.natMap && !clustered) throw new ConfigError("natMap maps Redis Cluster node addresses: give the cluster's node URLs");
  return { prefix, heartbeatMs, ttlMs, urls, clustered, natMap: options.natMap };
}
