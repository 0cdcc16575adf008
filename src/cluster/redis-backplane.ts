import {
  BackplaneError,
  type BackplaneSink,
  type MemberChange,
  type OutgoingMessage,
  type RoomState,
  type SharedBans,
  type SharedStreamStore,
} from "./backplane.ts";
import { createReporter, type OnError } from "../errors.ts";
import { backgroundInterval, nextTurn, withTimeout } from "../util/async.ts";
import { createCodec, parseMembers, redisKeys, type RedisKeys, type WireRecord } from "./redis-codec.ts";
import { RedisConnection } from "./redis-connection.ts";
import type { RedisClientLike } from "./redis-driver.ts";
import { Liveness } from "./redis-liveness.ts";
import { createPublisher } from "./redis-publisher.ts";
import { settingsOf, type RedisBackplane, type RedisBackplaneOptions, type RedisBackplaneStats } from "./redis-options.ts";
import { createReceiver } from "./redis-receiver.ts";
import { claimEmptied, listRooms } from "./redis-rooms.ts";
import { Sequencer } from "./redis-sequencer.ts";
import { readStream, rememberedOffset } from "./redis-streams.ts";
import { createRedisBans } from "./redis-bans.ts";
import { RedisDocuments } from "./redis-documents.ts";

export { addRedisDriverImport, type RedisClientLike } from "./redis-driver.ts";
export type { RedisBackplane, RedisBackplaneOptions, RedisBackplaneStats } from "./redis-options.ts";

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
  return new RedisLink(options);
}

/**
 * The backplane: owns the set of subscribed rooms and answers the engine; the connection holds the two
 * Redis connections and their outage state, the publisher batches writes, the receiver decodes,
 * liveness beats and sweeps.
 */
class RedisLink implements RedisBackplane {
  readonly instanceId = crypto.randomUUID();
  readonly mode: "single" | "cluster";
  private readonly options: RedisBackplaneOptions;
  private readonly settings: ReturnType<typeof settingsOf>;
  private readonly keys: RedisKeys;
  private readonly codec: ReturnType<typeof createCodec>;
  /** Rooms subscribed (or being subscribed), by room id. */
  private readonly rooms = new Set<string>();
  private readonly receiver: ReturnType<typeof createReceiver>;
  private readonly liveness: Liveness;
  private readonly publisher: ReturnType<typeof createPublisher>;
  private readonly sequencer: Sequencer;
  private readonly redis: RedisConnection;
  readonly bans: SharedBans;
  readonly documents: RedisDocuments;
  private readonly readyPromise: Promise<void>;
  private resolveReady!: () => void;
  private sink: BackplaneSink | undefined;
  private beat: ReturnType<typeof setInterval> | undefined;
  private startedAt = 0;
  /** The backplane's own `onError`, else the server's (set in `start`); made safe either way. */
  private onError: OnError;

  constructor(options: RedisBackplaneOptions) {
    this.options = options;
    this.settings = settingsOf(options);
    this.mode = this.settings.clustered ? "cluster" : "single";
    this.onError = createReporter(options.onError);
    this.keys = redisKeys(this.settings.prefix);
    this.codec = createCodec(this.instanceId);
    this.readyPromise = new Promise<void>((resolve) => (this.resolveReady = resolve));
    const redis = (this.redis = new RedisConnection(this.settings, options.client, {
      announced: () => this.liveness.isAnnounced,
      rejoined: this.rejoined,
      resync: () => {
        this.sink!.resync();
        this.documents.resync();
      },
      report: this.report,
    }));
    const { instanceId, keys } = this;
    const { failed } = redis;
    const command = () => this.command();
    const publishSync = () => redis.publishTo(keys.control, `${this.codec.header("sync", "", "")}\n`);
    this.bans = createRedisBans(command, keys, failed, () => this.startedUp());
    const document = (record: WireRecord) => this.documents.receive(record);
    this.receiver = createReceiver({ instanceId, rooms: this.rooms, sink: () => this.sink, document, report: this.report });
    this.sequencer = new Sequencer({ command, keys, failed, instanceId });
    this.publisher = createPublisher({ keys, instanceId, clustered: this.settings.clustered, command, failed });
    this.documents = new RedisDocuments({ instanceId, keys, codec: this.codec, redis, publisher: this.publisher, report: this.report });
    this.liveness = new Liveness({
      instanceId,
      keys,
      ttlMs: this.settings.ttlMs,
      ready: command,
      sink: () => (redis.closed ? undefined : this.sink),
      failed,
      up: () => (redis.down = false),
      publishSync,
      announced: () => this.resolveReady(),
      documents: this.documents,
    });
  }

  ready(): Promise<void> {
    return this.readyPromise;
  }

  /** Whether both connections are ready, and the round trip of one cheap command (for `/readyz` and `/metrics`). */
  async health(): Promise<{ up: boolean; rttMs?: number }> {
    if (!this.redis.isReady() || this.redis.sub?.status !== "ready") return { up: false };
    const started = performance.now();
    await this.redis.cmd!.exists(this.keys.hb(this.instanceId));
    return { up: true, rttMs: performance.now() - started };
  }

  stats(): RedisBackplaneStats {
    return { ...this.receiver.stats, rooms: this.rooms.size };
  }

  async start(engineSink: BackplaneSink): Promise<void> {
    this.sink = engineSink;
    if (!this.options.onError) this.onError = createReporter(engineSink.onError);
    this.startedAt = Date.now();
    const { redis } = this;
    const opened = redis.open();
    if (opened !== true && !(await opened)) return;
    redis.listen(this.receiver.onMessageBytes, this.keys.control);
    for (const roomId of this.rooms) redis.subscribeTo(this.keys.channel(roomId)).catch(redis.failed);
    this.documents.resubscribe();
    if (redis.cmd!.status === "ready") this.announceSoon();
    this.beat = backgroundInterval(
      this.background(() => this.liveness.tick()),
      this.settings.heartbeatMs,
    );
  }

  subscribe(roomId: string): Promise<void> {
    if (this.rooms.has(roomId)) return Promise.resolve();
    this.rooms.add(roomId);
    if (!this.redis.sub || this.redis.closed) return Promise.resolve();
    // The subscription connection queues while Redis is away and resubscribes on reconnect.
    return this.redis.subscribeTo(this.keys.channel(roomId)).then(
      () => {},
      (error: unknown) => this.redis.failed(error),
    );
  }

  unsubscribe(roomId: string): void {
    if (!this.rooms.delete(roomId) || !this.redis.sub || this.redis.closed) return;
    this.redis.unsubscribeFrom(this.keys.channel(roomId)).catch(this.redis.failed);
  }

  store(roomId: string, changes: readonly MemberChange[]): Promise<void> | undefined {
    return this.redis.isReady() ? this.publisher.store(roomId, changes) : undefined;
  }

  publish(message: OutgoingMessage): void {
    if (!this.redis.isReady()) return;
    const { codec, publisher } = this;
    const { kind, roomId, frame } = message;
    publisher.publish(roomId, codec.header(kind, roomId, kind === "presence" ? "" : message.connectionId), frame);
  }

  control(body: string): void {
    const { redis } = this;
    if (redis.isReady()) redis.publishTo(this.keys.control, `${this.codec.header("control", "", "")}\n${body}`).catch(redis.failed);
  }

  async listRooms(): Promise<Map<string, number> | undefined> {
    const cmd = this.command();
    if (!cmd) return undefined;
    try {
      return await withTimeout(listRooms(cmd, this.keys), FETCH_TIMEOUT_MS, { fallback: undefined });
    } catch (error) {
      this.redis.failed(error);
      return undefined;
    }
  }

  async claimEmptied(roomId: string): Promise<boolean> {
    // After this turn's writes (the member's HDEL) left on the same connection: the script sees them.
    await new Promise<void>((resolve) => nextTurn(resolve));
    const cmd = this.command();
    if (!cmd) return false;
    try {
      return await claimEmptied(cmd, this.keys, roomId);
    } catch (error) {
      this.redis.failed(error);
      return false;
    }
  }

  fetchRoom(roomId: string): Promise<RoomState | undefined> {
    return this.sharedRead(async (cmd) => {
      const [room, registry] = await Promise.all([cmd.hgetall(this.keys.room(roomId)), cmd.smembers(this.keys.registry)]);
      return { members: parseMembers(room), instances: new Set(registry) };
    });
  }

  async close(): Promise<void> {
    const { redis } = this;
    if (redis.closed) return;
    redis.shut(); // no more beats, announces or publishes; the engine sent its leaves already
    if (this.beat) clearInterval(this.beat);
    await this.liveness.idle(); // a beat in flight must not re-register this instance after it is removed
    const cmd = redis.cmd;
    if (cmd && cmd.status === "ready") {
      try {
        await this.liveness.leave(cmd);
      } catch (error) {
        this.report("Could not remove this instance from Redis on close; the others drop it after the TTL", error);
      }
    }
    await redis.disconnect();
  }

  /**
   * Room streams in Redis (see redis-streams.ts): offsets from one counter per room, the backlog in a list.
   * In the start-up window each call waits for the first connection (a publish then gets its offset and
   * reaches every instance; a first join reads the room's position); otherwise, Redis unreachable,
   * each resolves `undefined` at once (see docs/streams.md).
   */
  readonly streams: SharedStreamStore = {
    sequence: async (request, limits) => {
      await this.startedUp();
      if (!this.command()) return undefined;
      const header = this.codec.sequencedHeader(request.kind, request.roomId, request.connectionId);
      const { frame, key, rememberOnly, except, resumeKey } = request;
      const item = { header, frame, key, rememberOnly, except, resumeKey };
      return this.sequencer.add(request.roomId, item, { ...limits, clustered: this.settings.clustered });
    },
    read: (roomId, since) => this.sharedRead((cmd) => readStream(cmd, this.keys, roomId, since)),
    remembered: (roomId, key) => this.sharedRead((cmd) => rememberedOffset(cmd, this.keys, roomId, key)),
  };

  /** A read of shared state (a room, a stream): after the start-up window, given up after FETCH_TIMEOUT_MS. */
  private async sharedRead<T>(read: (cmd: RedisClientLike) => Promise<T>): Promise<T | undefined> {
    const deadline = Date.now() + FETCH_TIMEOUT_MS;
    await this.startedUp();
    const cmd = this.command();
    if (!cmd) return undefined;
    try {
      return await withTimeout(read(cmd), deadline - Date.now(), { fallback: undefined });
    } catch (error) {
      this.redis.failed(error);
      return undefined;
    }
  }

  private readonly report = (message: string, cause?: unknown): void => {
    this.onError(new BackplaneError(message, { cause }), { stage: "backplane" });
  };

  /**
   * Joins in the first moments after start-up wait for the first connection rather than miss peers
   * or a ban made before this instance started (at most FETCH_TIMEOUT_MS after `start`).
   */
  private async startedUp(): Promise<void> {
    const startUpLeft = this.startedAt + FETCH_TIMEOUT_MS - Date.now();
    if (!this.liveness.isAnnounced && !this.redis.closed && startUpLeft > 0)
      await withTimeout(this.readyPromise, startUpLeft, { fallback: undefined });
  }

  /** The command connection while it is ready and the backplane open. */
  private command(): RedisClientLike | undefined {
    return this.redis.isReady() ? this.redis.cmd : undefined;
  }

  /** Background work never rejects into the void: failures are reported. */
  private background(work: () => Promise<void>): () => void {
    return () => void work().catch((error) => this.report("Backplane background task failed", error));
  }

  private readonly announceSoon = this.background(() => this.liveness.announce());

  /** Shared state may be gone (reconnect, a node rejoined): grace for peers, write ours back, re-read. */
  private readonly rejoined = (): void => {
    this.liveness.grace();
    this.announceSoon();
  };
}
