import { BackplaneError, type Backplane, type BackplaneSink, type OutgoingMessage, type RoomState } from "./backplane.ts";
import { ConfigError, createReporter, type OnError } from "../errors.ts";
import { backgroundInterval, withTimeout } from "../util/async.ts";
import { numberOption } from "../util/number-option.ts";
import { createCodec, parseMembers, redisKeys } from "./redis-codec.ts";
import { connectRedis, disconnect, parseRedisUrls, type RedisClientLike } from "./redis-driver.ts";
import { Liveness } from "./redis-liveness.ts";
import { createPublisher } from "./redis-publisher.ts";
import { createReceiver } from "./redis-receiver.ts";

export { addRedisDriverImport, type RedisClientLike } from "./redis-driver.ts";

export interface RedisBackplaneOptions {
  /**
   * Redis URL, e.g. `redis://127.0.0.1:6379`. Several comma-separated URLs
   * (`redis://a:7000,redis://b:7001`) are seed nodes of a Redis Cluster. Either this or `client`.
   */
  url?: string;
  /** Treat a single `url` as a seed node of a Redis Cluster. @default true when `url` lists several nodes */
  cluster?: boolean;
  /** An ioredis `Redis` client (single Redis) to use for commands; a second connection for SUBSCRIBE is `duplicate()`d from it. */
  client?: RedisClientLike;
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
  /** Rooms whose channel this instance is subscribed to (rooms with a local member). */
  rooms: number;
}

/** A `createRedisBackplane` instance; `ready()` resolves once it is connected and announced. */
export interface RedisBackplane extends Backplane {
  ready(): Promise<void>;
  readonly mode: "single" | "cluster";
  stats(): RedisBackplaneStats;
}

/** A room read that takes longer is given up; the join goes ahead with what this instance knows. */
const FETCH_TIMEOUT_MS = 2000;

/**
 * Links server instances through Redis so they act as one: presence, broadcast and chat cross
 * instances, and the members of an instance that dies are removed within `ttlMs` + `heartbeatMs`.
 *
 * Each room has its own channel; an instance subscribes to it while the room has a local member, so
 * it reads only the rooms it serves. With a Redis Cluster a room's keys and channel share one slot
 * (SPUBLISH/SSUBSCRIBE), so rooms spread over the shards. Keys under `keyPrefix` (P): see `redis-codec.ts`.
 *
 * @example
 * createServer({ backplane: createRedisBackplane({ url: process.env.REDIS_URL }) });
 */
export function createRedisBackplane(options: RedisBackplaneOptions): RedisBackplane {
  if (!options.url && !options.client) throw new ConfigError("createRedisBackplane needs a url (redis://host:6379) or an ioredis client");
  const prefix = options.keyPrefix ?? "openlivesync";
  if (!prefix || /[\s{}]/.test(prefix)) throw new ConfigError(`keyPrefix must be a non-empty string without spaces or braces, got "${prefix}"`);
  const heartbeatMs = numberOption("heartbeatMs", options.heartbeatMs, 2000, "positive");
  const ttlMs = numberOption("ttlMs", options.ttlMs, 10_000, "positive");
  if (ttlMs <= heartbeatMs * 2) throw new ConfigError(`ttlMs (${ttlMs}) must be more than twice heartbeatMs (${heartbeatMs})`);
  const urls = options.url ? parseRedisUrls(options.url) : [];
  if (options.url && urls.length === 0) throw new ConfigError(`No Redis URL in "${options.url}"`);
  const clustered = options.cluster ?? urls.length > 1;
  if (clustered && options.client) throw new ConfigError("A Redis Cluster is given by its node URLs (url: \"redis://a:7000,redis://b:7001\"), not by a client");

  const instanceId = crypto.randomUUID();
  const keys = redisKeys(prefix);
  const codec = createCodec(instanceId);

  let cmd: RedisClientLike | undefined;
  let sub: RedisClientLike | undefined;
  let sink: BackplaneSink | undefined;
  let beat: ReturnType<typeof setInterval> | undefined;
  let settle: ReturnType<typeof setTimeout> | undefined;
  let closed = false;
  let startedAt = 0;
  let down = false;
  let resolveReady!: () => void;
  const readyPromise = new Promise<void>((resolve) => (resolveReady = resolve));
  /** Rooms subscribed (or being subscribed), by room id. */
  const rooms = new Set<string>();

  /** The backplane's own `onError`, else the server's (set in `start`); made safe either way. */
  let onError = createReporter(options.onError);
  const report = (message: string, cause?: unknown) => onError(new BackplaneError(message, { cause }), { stage: "backplane" });
  /** Command failures while Redis is away say the same thing many times: report the first of each outage. */
  const failed = (error: unknown) => {
    if (closed || down) return;
    down = true;
    report("Redis is unreachable or failed a command; serving local clients only and retrying", error);
  };
  const isReady = () => cmd?.status === "ready" && !closed;
  const publishTo = (client: RedisClientLike | undefined, channel: string, text: string) =>
    clustered ? client!.spublish!(channel, text) : client!.publish(channel, text);

  const receiver = createReceiver({ instanceId, rooms, sink: () => sink, report });
  const liveness = new Liveness({
    instanceId,
    keys,
    ttlMs,
    ready: () => (isReady() ? cmd : undefined),
    sink: () => (closed ? undefined : sink),
    failed,
    up: () => (down = false),
    publishSync: () => publishTo(cmd, keys.control, `${codec.header("sync", "", "")}\n`),
    announced: () => resolveReady(),
  });
  const publisher = createPublisher({ keys, instanceId, clustered, command: () => (isReady() ? cmd : undefined), failed });

  const subscribeTo = (channel: string) => (clustered ? sub!.ssubscribe!(channel) : sub!.subscribe(channel));
  const unsubscribeFrom = (channel: string) => (clustered ? sub!.sunsubscribe!(channel) : sub!.unsubscribe!(channel));

  /** Background work never rejects into the void: failures are reported. */
  const background = (work: () => Promise<void>) => () =>
    void work().catch((error) => report("Backplane background task failed", error));
  const announceSoon = background(() => liveness.announce());

  function wire(engineSink: BackplaneSink) {
    cmd!.on("error", failed);
    sub!.on("error", failed);
    cmd!.on("close", () => {
      if (!closed && liveness.isAnnounced && !down) {
        down = true;
        report("Lost the Redis connection; serving local clients only and reconnecting");
      }
    });
    cmd!.on("ready", () => {
      liveness.grace();
      announceSoon();
    });
    // A cluster node that came back (restarted, maybe empty) rejoins the pool: write our members back.
    if (clustered) {
      cmd!.on("+node", () => {
        if (!liveness.isAnnounced) return;
        liveness.grace();
        announceSoon();
        // ioredis resubscribes that node's sharded channels on its own schedule: re-read once more after it.
        clearTimeout(settle);
        settle = setTimeout(() => !closed && engineSink.resync(), heartbeatMs);
      });
    }
    sub!.on(clustered ? "smessageBuffer" : "messageBuffer", receiver.onMessageBytes);
    let subscribedOnce = false;
    sub!.on("ready", () => {
      if (!subscribedOnce) return;
      // ioredis resubscribes every channel first; messages sent while we were away are lost: re-read the rooms.
      subscribeTo(keys.control).then(() => engineSink.resync(), failed);
    });
    subscribeTo(keys.control).then(() => (subscribedOnce = true), failed);
  }

  return {
    instanceId,
    mode: clustered ? "cluster" : "single",
    ready: () => readyPromise,
    stats: () => ({ ...receiver.stats, rooms: rooms.size }),

    async start(engineSink) {
      sink = engineSink;
      if (!options.onError) onError = createReporter(engineSink.onError);
      startedAt = Date.now();
      if (options.client) {
        cmd = options.client;
        sub = options.client.duplicate({ enableOfflineQueue: true });
      } else {
        const link = await connectRedis(urls, clustered, heartbeatMs);
        if (closed) {
          // close() ran while the driver loaded: connecting now would keep the process alive
          link.cmd.disconnect();
          link.sub.disconnect();
          return;
        }
        ({ cmd, sub } = link);
      }
      wire(engineSink);
      for (const roomId of rooms) subscribeTo(keys.channel(roomId)).catch(failed);
      if (cmd.status === "ready") announceSoon();
      beat = backgroundInterval(background(() => liveness.tick()), heartbeatMs);
    },

    subscribe(roomId) {
      if (rooms.has(roomId)) return Promise.resolve();
      rooms.add(roomId);
      if (!sub || closed) return Promise.resolve();
      // The subscription connection queues while Redis is away and resubscribes on reconnect.
      return subscribeTo(keys.channel(roomId)).then(
        () => {},
        (error: unknown) => failed(error),
      );
    },

    unsubscribe(roomId) {
      if (!rooms.delete(roomId) || !sub || closed) return;
      unsubscribeFrom(keys.channel(roomId)).catch(failed);
    },

    publish(message: OutgoingMessage) {
      if (isReady()) publisher.publish(message, codec.header(message.kind, message.roomId, message.connectionId));
    },

    async fetchRoom(roomId): Promise<RoomState | undefined> {
      const deadline = Date.now() + FETCH_TIMEOUT_MS;
      // Joins in the first moments after start-up wait for the first connection rather than miss peers.
      const startUpLeft = startedAt + FETCH_TIMEOUT_MS - Date.now();
      if (!liveness.isAnnounced && !closed && startUpLeft > 0) await withTimeout(readyPromise, startUpLeft, { fallback: undefined });
      if (!isReady()) return undefined;
      try {
        const read = Promise.all([cmd!.hgetall(keys.room(roomId)), cmd!.smembers(keys.registry)]);
        const res = await withTimeout(read, deadline - Date.now(), { fallback: undefined });
        if (!res) return undefined;
        return { members: parseMembers(res[0]), instances: new Set(res[1]) };
      } catch (error) {
        failed(error);
        return undefined;
      }
    },

    async close() {
      if (closed) return;
      closed = true; // no more beats, announces or publishes; the engine sent its leaves already
      if (beat) clearInterval(beat);
      clearTimeout(settle);
      await liveness.idle(); // a beat in flight must not re-register this instance after it is removed
      const c = cmd;
      if (c && c.status === "ready") {
        try {
          await liveness.leave(c);
        } catch (error) {
          report("Could not remove this instance from Redis on close; the others drop it after the TTL", error);
        }
      }
      await disconnect([sub, options.client ? undefined : c]);
    },
  };
}
