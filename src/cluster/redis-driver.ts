import { MissingDriverError } from "../errors.ts";

/**
 * The parts of an ioredis client (`Redis` or `Cluster`) the backplane uses
 * (https://github.com/redis/ioredis). Typed by shape so the core never imports the driver; ioredis
 * runs on Node, Bun and Deno (`npm:ioredis`).
 */
export interface RedisClientLike {
  readonly status: string;
  duplicate(override?: Record<string, unknown>): RedisClientLike;
  publish(channel: string, message: string): Promise<unknown>;
  spublish?(channel: string, message: string): Promise<unknown>;
  subscribe(...channels: string[]): Promise<unknown>;
  unsubscribe?(...channels: string[]): Promise<unknown>;
  ssubscribe?(...channels: string[]): Promise<unknown>;
  sunsubscribe?(...channels: string[]): Promise<unknown>;
  set(key: string, value: string, px?: "PX", ms?: number): Promise<unknown>;
  /** `HSET key field value [field value …]`. */
  hset(key: string, ...fieldsAndValues: string[]): Promise<unknown>;
  hdel(key: string, ...fields: string[]): Promise<unknown>;
  hgetall(key: string): Promise<Record<string, string>>;
  exists(key: string): Promise<number>;
  get(key: string): Promise<string | null>;
  sadd(key: string, member: string): Promise<unknown>;
  srem(key: string, member: string): Promise<unknown>;
  smembers(key: string): Promise<string[]>;
  sismember(key: string, member: string): Promise<number>;
  del(key: string): Promise<unknown>;
  hvals(key: string): Promise<string[]>;
  eval(script: string, numKeys: number, ...args: string[]): Promise<unknown>;
  /** ioredis: defines `name` as a command that runs `lua` (see `runScript`). */
  defineCommand?(name: string, definition: { lua: string }): void;
  pipeline(): RedisPipelineLike;
  on(event: string, listener: (...args: any[]) => void): unknown;
  quit(): Promise<unknown>;
  disconnect(): void;
}

export interface RedisPipelineLike {
  /** `HSET key field value [field value …]`. */
  hset(key: string, ...fieldsAndValues: string[]): RedisPipelineLike;
  hdel(key: string, ...fields: string[]): RedisPipelineLike;
  set(key: string, value: string): RedisPipelineLike;
  publish(channel: string, message: string): RedisPipelineLike;
  spublish?(channel: string, message: string): RedisPipelineLike;
  exec(): Promise<[Error | null, unknown][] | null>;
}

/**
 * A stand-in for `cmd.pipeline()` on a Redis Cluster: each command goes out at once as a single
 * command on its slot's node connection (one room = one slot = one connection, so still in order).
 * ioredis's Cluster pipeline can hand one command's reply to another while node connections are
 * dropped and recreated under it (seen in the node-cut tests: a room's HGETALL answered "OK" or
 * another hash, which read as "everyone left").
 */
export function commandBatch(cmd: RedisClientLike): RedisPipelineLike {
  const sent: Promise<unknown>[] = [];
  const batch: RedisPipelineLike = {
    hset: (key, ...fieldsAndValues) => (sent.push(cmd.hset(key, ...fieldsAndValues)), batch),
    set: (key, value) => (sent.push(cmd.set(key, value)), batch),
    hdel: (key, ...fields) => (sent.push(cmd.hdel(key, ...fields)), batch),
    publish: (channel, message) => (sent.push(cmd.publish(channel, message)), batch),
    spublish: (channel, message) => (sent.push(cmd.spublish!(channel, message)), batch),
    exec: async () =>
      (await Promise.allSettled(sent)).map((r): [Error | null, unknown] =>
        r.status === "fulfilled" ? [null, r.value] : [r.reason as Error, null],
      ),
  };
  return batch;
}

/** The scripts defined on each client (`runScript`). */
const defined = new WeakMap<RedisClientLike, Set<string>>();

/**
 * Runs `lua` (`numKeys` keys, then the arguments) as `EVAL` would. With ioredis, as a defined command:
 * the script's body goes to each connection once (`EVAL`), then only its SHA1 (`EVALSHA`), so a call
 * does not carry the whole script (1.2 KB for room streams' sequencing, once per room and turn) and
 * Redis does not hash it again. The first call on a new connection (a reconnect, a Cluster node) is an
 * `EVAL` again, and a `NOSCRIPT` answer is retried as one, so a Redis that lost its scripts still works.
 */
export function runScript(cmd: RedisClientLike, name: string, lua: string, numKeys: number, ...args: string[]): Promise<unknown> {
  if (!cmd.defineCommand) return cmd.eval(lua, numKeys, ...args);
  let names = defined.get(cmd);
  if (!names) defined.set(cmd, (names = new Set()));
  if (!names.has(name)) {
    cmd.defineCommand(name, { lua });
    names.add(name);
  }
  return (cmd as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[name]!(numKeys, ...args);
}

type RedisConstructor = new (url: string, options: Record<string, unknown>) => RedisClientLike;
type ClusterConstructor = new (nodes: { host: string; port: number }[], options: Record<string, unknown>) => RedisClientLike;
interface Ioredis {
  Redis: RedisConstructor;
  Cluster: ClusterConstructor;
}

/**
 * Ways to import ioredis, tried in order. The core only knows the bare specifier; a runtime entry adds
 * what its runtime needs besides (the Deno entry: `npm:ioredis`, for projects without a package.json).
 */
const driverImports: (() => Promise<unknown>)[] = [() => import("ioredis")];

/**
 * Adds a way to import ioredis, tried after the bare `import("ioredis")` fails. For runtime entries.
 * @example
 * const specifier = "npm:ioredis"; // in a variable so bundlers leave it alone
 * addRedisDriverImport(() => import(specifier));
 */
export function addRedisDriverImport(load: () => Promise<unknown>): void {
  driverImports.push(load);
}

async function loadIoredis(): Promise<Ioredis> {
  let firstError: unknown;
  for (const load of driverImports) {
    try {
      const mod = (await load()) as { Redis?: RedisConstructor; Cluster?: ClusterConstructor; default?: any };
      const Redis = mod.Redis ?? mod.default;
      const Cluster = mod.Cluster ?? mod.default?.Cluster;
      if (Redis) return { Redis, Cluster };
    } catch (error) {
      firstError ??= error;
    }
  }
  throw new MissingDriverError("ioredis", "npm install ioredis", { cause: firstError, feature: "The Redis backplane" });
}

/** The two connections of a backplane: commands (fail fast while away) and subscriptions (queued, resubscribed). */
export interface RedisLink {
  cmd: RedisClientLike;
  sub: RedisClientLike;
  /** Redis Cluster: SPUBLISH/SSUBSCRIBE, and no command or pipeline spans two rooms. */
  cluster: boolean;
}

/** `redis://a:7000,redis://b:7001` → startup nodes. */
export function parseRedisUrls(url: string): string[] {
  return url
    .split(",")
    .map((part) => part.trim())
    .filter(Boolean);
}

// Back off up to 5 s between attempts, forever: the instance keeps serving local clients meanwhile.
const retryStrategy = (times: number) => Math.min(100 * 2 ** Math.min(times, 6), 5000);

/**
 * Opens the two connections. Commands fail at once while Redis is away (a stale broadcast replayed
 * minutes later is worse than none) and are not auto-pipelined (the publish path batches itself and
 * must not wait a turn).
 */
export async function connectRedis(
  urls: string[],
  cluster: boolean,
  refreshMs: number,
  natMap?: Record<string, { host: string; port: number }>,
): Promise<RedisLink> {
  const { Redis, Cluster } = await loadIoredis();
  const failFast = { enableOfflineQueue: false, maxRetriesPerRequest: 0, autoResendUnfulfilledCommands: false };
  const queued = { enableOfflineQueue: true, maxRetriesPerRequest: null };
  if (!cluster) {
    return {
      cmd: new Redis(urls[0]!, { retryStrategy, lazyConnect: false, ...failFast }),
      sub: new Redis(urls[0]!, { retryStrategy, lazyConnect: false, ...queued }),
      cluster: false,
    };
  }
  const nodes = urls.map((url) => {
    const parsed = new URL(url);
    return { host: parsed.hostname, port: Number(parsed.port || 6379) };
  });
  const first = new URL(urls[0]!);
  const auth = { username: decodeURIComponent(first.username) || undefined, password: decodeURIComponent(first.password) || undefined };
  const common = {
    clusterRetryStrategy: retryStrategy,
    // A node that restarted is found again within one refresh; its rooms then converge (see redis-liveness.ts).
    // Node connections are not retried on their own: a lost node leaves the pool ("-node") and comes back
    // with the next topology refresh ("+node"), which is when the backplane re-announces.
    slotsRefreshInterval: refreshMs,
    ...(natMap ? { natMap } : {}),
  };
  return {
    cmd: new Cluster(nodes, { ...common, ...failFast, redisOptions: { ...auth, ...failFast } }),
    sub: new Cluster(nodes, { ...common, ...queued, shardedSubscribers: true, redisOptions: { ...auth } }),
    cluster: true,
  };
}

/** Close connections: QUIT when ready, else drop at once (QUIT would wait for a reconnect that may never come). */
export async function disconnect(clients: (RedisClientLike | undefined)[]): Promise<void> {
  for (const client of clients) {
    if (!client) continue;
    if (client.status !== "ready") {
      client.disconnect();
      continue;
    }
    try {
      await client.quit();
    } catch {
      client.disconnect();
    }
  }
}
