import {
  BackplaneError,
  type Backplane,
  type BackplaneSink,
  type MessageKind,
  type OutgoingMessage,
  type RemoteMember,
  type RoomState,
} from "./backplane.ts";
import { ConfigError, createReporter, MissingDriverError, type OnError } from "../errors.ts";
import { backgroundInterval, nextTurn, withTimeout } from "../util/async.ts";
import { numberOption } from "../util/number-option.ts";

/**
 * The parts of an ioredis client the backplane uses (https://github.com/redis/ioredis). Typed by
 * shape so the core never imports the driver; ioredis runs on Node, Bun and Deno (`npm:ioredis`).
 */
export interface RedisClientLike {
  readonly status: string;
  duplicate(override?: Record<string, unknown>): RedisClientLike;
  publish(channel: string, message: string): Promise<unknown>;
  subscribe(...channels: string[]): Promise<unknown>;
  hset(key: string, field: string, value: string): Promise<unknown>;
  hdel(key: string, field: string): Promise<unknown>;
  exists(key: string): Promise<number>;
  eval(script: string, numKeys: number, ...args: string[]): Promise<unknown>;
  multi(): RedisPipelineLike;
  pipeline(): RedisPipelineLike;
  on(event: string, listener: (...args: any[]) => void): unknown;
  quit(): Promise<unknown>;
  disconnect(): void;
}
interface RedisPipelineLike {
  set(key: string, value: string, px: "PX", ms: number): RedisPipelineLike;
  sadd(key: string, member: string): RedisPipelineLike;
  smembers(key: string): RedisPipelineLike;
  sismember(key: string, member: string): RedisPipelineLike;
  hgetall(key: string): RedisPipelineLike;
  exists(key: string): RedisPipelineLike;
  hset(key: string, field: string, value: string): RedisPipelineLike;
  hdel(key: string, field: string): RedisPipelineLike;
  del(key: string): RedisPipelineLike;
  srem(key: string, member: string): RedisPipelineLike;
  publish(channel: string, message: string): RedisPipelineLike;
  eval(script: string, numKeys: number, ...args: string[]): RedisPipelineLike;
  exec(): Promise<[Error | null, unknown][] | null>;
}

export interface RedisBackplaneOptions {
  /** Redis URL, e.g. `redis://127.0.0.1:6379`. Either this or `client`. */
  url?: string;
  /** An ioredis client to use for commands; a second connection for SUBSCRIBE is `duplicate()`d from it. */
  client?: RedisClientLike;
  /** Prefix of every key and of the channel; instances with the same prefix form one cluster. @default "openlivesync" */
  keyPrefix?: string;
  /** How often this instance renews its heartbeat and checks the others'. @default 2000 */
  heartbeatMs?: number;
  /** Lifetime of the heartbeat key: an instance silent this long is removed with its members. @default 10000 */
  ttlMs?: number;
  /** Where backplane failures go (stage "backplane"). @default the server's `onError` */
  onError?: OnError;
}

/** A `createRedisBackplane` instance; `ready()` resolves once it is connected and announced. */
export interface RedisBackplane extends Backplane {
  ready(): Promise<void>;
}

const MAGIC = "ols1";
const KINDS: Record<string, MessageKind | "sync"> = { j: "joined", u: "updated", l: "left", e: "event", c: "chat", s: "sync" };
const CODES: Record<MessageKind | "sync", string> = { joined: "j", updated: "u", left: "l", event: "e", chat: "c", sync: "s" };
/** A room read that takes longer is given up; the join goes ahead with what this instance knows. */
const FETCH_TIMEOUT_MS = 2000;
/** Foreign-message reports are capped at one per this window so a noisy channel cannot flood the log. */
const REPORT_WINDOW_MS = 1000;

/**
 * Removes one instance's members from every room hash, its member hash and its registry entry.
 * ARGV: prefix, instance id, force ("1" = clean even while its heartbeat lives, for self re-announce).
 * Returns -1 when the instance beats again (it came back: leave it alone).
 */
const SWEEP_SCRIPT = `
local p, id, force = ARGV[1], ARGV[2], ARGV[3]
if force ~= '1' and redis.call('EXISTS', p .. ':hb:' .. id) == 1 then return -1 end
local m = redis.call('HGETALL', p .. ':inst:' .. id)
for i = 1, #m, 2 do redis.call('HDEL', p .. ':room:' .. m[i + 1], m[i]) end
redis.call('DEL', p .. ':inst:' .. id)
if force ~= '1' then redis.call('SREM', p .. ':instances', id) end
return #m / 2
`;

type RedisConstructor = new (url: string, options: Record<string, unknown>) => RedisClientLike;

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

async function loadIoredis(): Promise<RedisConstructor> {
  let firstError: unknown;
  for (const load of driverImports) {
    try {
      const mod = (await load()) as { Redis?: RedisConstructor; default?: RedisConstructor };
      const Redis = mod.Redis ?? mod.default;
      if (Redis) return Redis;
    } catch (error) {
      firstError ??= error;
    }
  }
  throw new MissingDriverError("ioredis", "npm install ioredis", { cause: firstError, feature: "The Redis backplane" });
}

/**
 * Links server instances through Redis so they act as one: presence, broadcast and chat cross
 * instances, and the members of an instance that dies are removed within `ttlMs` + `heartbeatMs`.
 *
 * Keys under `keyPrefix` (P):
 * - `P:bus` one pub/sub channel: every room message is one PUBLISH, `<header JSON>\n<client frame>`.
 * - `P:room:<roomId>` hash, connection id → `<instance id> <entry JSON>`: every member, for joiners.
 * - `P:inst:<id>` hash, connection id → room id: what to remove when that instance dies.
 * - `P:hb:<id>` heartbeat string with a TTL; `P:instances` set of instances that announced.
 *
 * @example
 * createServer({ backplane: createRedisBackplane({ url: process.env.REDIS_URL }) });
 */
export function createRedisBackplane(options: RedisBackplaneOptions): RedisBackplane {
  if (!options.url && !options.client) throw new ConfigError("createRedisBackplane needs a url (redis://host:6379) or an ioredis client");
  const prefix = options.keyPrefix ?? "openlivesync";
  if (!prefix || /\s/.test(prefix)) throw new ConfigError(`keyPrefix must be a non-empty string without spaces, got "${prefix}"`);
  const heartbeatMs = numberOption("heartbeatMs", options.heartbeatMs, 2000, "positive");
  const ttlMs = numberOption("ttlMs", options.ttlMs, 10_000, "positive");
  if (ttlMs <= heartbeatMs * 2) throw new ConfigError(`ttlMs (${ttlMs}) must be more than twice heartbeatMs (${heartbeatMs})`);

  const instanceId = crypto.randomUUID();
  const channel = `${prefix}:bus`;
  const hbKey = (id: string) => `${prefix}:hb:${id}`;
  const instKey = `${prefix}:inst:${instanceId}`;
  const roomKey = (roomId: string) => `${prefix}:room:${roomId}`;
  const registry = `${prefix}:instances`;
  /** Header start shared by every message this instance sends: `["ols1","<id>",`. */
  const headStart = `["${MAGIC}","${instanceId}","`;
  const ownHead = new TextEncoder().encode(headStart);
  const channelBytes = new TextEncoder().encode(channel);
  const utf8 = new TextDecoder("utf-8", { fatal: true });

  let cmd: RedisClientLike | undefined;
  let sub: RedisClientLike | undefined;
  let sink: BackplaneSink | undefined;
  let beat: ReturnType<typeof setInterval> | undefined;
  let announced = false;
  let ticking: Promise<void> | undefined;
  /** After a reconnect, peers get one TTL to re-announce before any of them is judged dead. */
  let graceUntil = 0;
  let closed = false;
  let startedAt = 0;
  let down = false;
  let subscribedOnce = false;
  let resolveReady!: () => void;
  const readyPromise = new Promise<void>((resolve) => (resolveReady = resolve));
  let reportedAt = 0;
  let suppressed = 0;

  /** The backplane's own `onError`, else the server's (set in `start`); made safe either way. */
  let onError = createReporter(options.onError);
  const report = (message: string, cause?: unknown) => onError(new BackplaneError(message, { cause }), { stage: "backplane" });
  /** Command failures while Redis is away say the same thing many times: report the first of each outage. */
  const failed = (error: unknown) => {
    if (closed || down) return;
    down = true;
    report("Redis is unreachable or failed a command; serving local clients only and retrying", error);
  };
  const reportForeign = (message: string) => {
    const now = Date.now();
    if (now - reportedAt < REPORT_WINDOW_MS) {
      suppressed++;
      return;
    }
    const extra = suppressed > 0 ? ` (${suppressed} more dropped since the last report)` : "";
    reportedAt = now;
    suppressed = 0;
    report(`${message}${extra}`);
  };
  const isReady = () => cmd?.status === "ready" && !closed;

  function header(kind: MessageKind | "sync", roomId: string, connectionId: string): string {
    return `${headStart}${CODES[kind]}",${JSON.stringify(roomId)},"${connectionId}"]`;
  }

  /** Write this instance back into shared state: heartbeat, registry, and every local member; then ask peers to re-read. */
  async function announce() {
    if (!cmd || !sink || closed) return;
    const tx = cmd
      .multi()
      .set(hbKey(instanceId), String(Date.now()), "PX", ttlMs)
      .sadd(registry, instanceId)
      .eval(SWEEP_SCRIPT, 0, prefix, instanceId, "1");
    let count = 0;
    for (const m of sink.localMembers()) {
      tx.hset(roomKey(m.roomId), m.connectionId, `${instanceId} ${m.entry}`);
      tx.hset(instKey, m.connectionId, m.roomId);
      count++;
    }
    // Peers re-read their rooms when this instance had been announced before (its members may have
    // changed unseen) or brings members; a fresh empty instance has nothing to tell.
    if (announced || count > 0) tx.publish(channel, `${header("sync", "", "")}\n`);
    try {
      await tx.exec();
    } catch (error) {
      return failed(error);
    }
    if (announced) graceUntil = Date.now() + ttlMs;
    down = false;
    announced = true;
    sink.resync();
    resolveReady();
  }

  /** Renew the heartbeat; find instances that stopped beating; clean their state; tell the engine. */
  async function tick() {
    if (!cmd || !sink || !isReady() || ticking) return;
    ticking = check(cmd, sink).finally(() => (ticking = undefined));
    await ticking;
  }

  async function check(cmd: RedisClientLike, sink: BackplaneSink) {
    const checkedAt = Date.now();
    let known: string[];
    try {
      const res = await cmd.pipeline().set(hbKey(instanceId), String(checkedAt), "PX", ttlMs).sismember(registry, instanceId).smembers(registry).exec();
      if (!res || res.some(([error]) => error)) throw res?.find(([error]) => error)?.[0] ?? new Error("pipeline aborted");
      if (res[1]![1] === 0) {
        // Swept (silent past the TTL) or Redis lost its data: write it all back. Only announce() adds
        // this instance to the registry, in the same transaction as its members.
        announceSoon();
        return;
      }
      known = res[2]![1] as string[];
      down = false;
    } catch (error) {
      return failed(error);
    }
    const candidates = new Set(known);
    for (const id of sink.remoteInstances()) candidates.add(id);
    candidates.delete(instanceId);
    if (candidates.size === 0 || checkedAt < graceUntil) return;
    const ids = [...candidates];
    const dead = new Set<string>();
    try {
      const check = cmd.pipeline();
      for (const id of ids) check.exists(hbKey(id));
      const res = await check.exec();
      res?.forEach(([error, alive], i) => {
        if (!error && alive === 0) dead.add(ids[i]!);
      });
      if (dead.size === 0) return;
      const sweep = cmd.pipeline();
      for (const id of dead) if (known.includes(id)) sweep.eval(SWEEP_SCRIPT, 0, prefix, id, "0");
      await sweep.exec();
    } catch (error) {
      return failed(error);
    }
    sink.instancesDown(dead, checkedAt);
  }

  /**
   * Redis echoes every publish back to its sender. Raw bytes arrive first: our own messages are
   * recognised by their header bytes and dropped before any decoding.
   */
  function onMessageBytes(from: Uint8Array, bytes: Uint8Array) {
    if (from.length !== channelBytes.length || !sink) return;
    let own = bytes.length > ownHead.length;
    for (let i = 0; own && i < ownHead.length; i++) own = bytes[i] === ownHead[i];
    if (own) return;
    let raw: string;
    try {
      raw = utf8.decode(bytes);
    } catch {
      return reportForeign(`Dropped a message on ${channel} that is not UTF-8 text`);
    }
    onMessage(raw);
  }

  /** One PUBLISH holds one or more records `<header JSON>\n<frame>`, newline-separated (JSON has no raw newline). */
  function onMessage(raw: string) {
    if (!sink) return;
    for (let at = 0; at < raw.length; ) {
      const nl = raw.indexOf("\n", at);
      let head: unknown;
      if (nl > at && raw.startsWith(`["${MAGIC}",`, at)) {
        try {
          head = JSON.parse(raw.slice(at, nl));
        } catch {}
      }
      if (
        !Array.isArray(head) ||
        head.length !== 5 ||
        !head.every((part) => typeof part === "string") ||
        !Object.hasOwn(KINDS, head[2] as string)
      ) {
        return reportForeign(`Dropped a message on ${channel} that is not an openlivesync message: ${JSON.stringify(raw.slice(at, at + 80))}`);
      }
      let end = raw.indexOf("\n", nl + 1);
      if (end === -1) end = raw.length;
      const frame = raw.slice(nl + 1, end);
      at = end + 1;
      const [, from_, code, roomId, connectionId] = head as string[];
      if (from_ === instanceId) return; // our own publish, echoed by Redis
      const kind = KINDS[code!]!;
      try {
        if (kind === "sync") sink.resync();
        else sink.deliver({ kind, instanceId: from_!, roomId: roomId!, connectionId: connectionId!, frame });
      } catch (error) {
        // Thrown inside ioredis's socket handler this would take the process down.
        report(`Applying a ${kind} message from instance ${from_} failed`, error);
      }
    }
  }

  /**
   * Room messages go out as one PUBLISH per batch, in order, after the shared-state writes that
   * precede them (hset/hdel), all in one pipeline: one write to Redis, and a burst of messages costs
   * Redis (and every instance's echo) one command, not one each.
   *
   * A turn's first batch leaves in a microtask, before this instance writes to its own clients
   * (the Node fan-out flushes at the end of the turn), so the other instances start their share
   * of a fan-out while this one does its own; whatever later callbacks in the same turn add leaves
   * at the end of the turn. At most two PUBLISH per turn, and none waits for a later turn
   * (ioredis's auto-pipelining would hold each command until after the next poll for I/O).
   */
  let records: string[] = [];
  /** The batch's pipeline: its state writes go in as they come; `flush` adds the PUBLISH and sends it. */
  let batch: RedisPipelineLike | undefined;
  let turnOpen = false;
  const flush = () => {
    if (records.length === 0) return;
    const out = records;
    const tx = batch ?? cmd!.pipeline();
    records = [];
    batch = undefined;
    if (!isReady()) return;
    tx.publish(channel, out.length === 1 ? out[0]! : out.join("\n"));
    tx.exec().then((res) => {
      const failure = res?.find(([error]) => error);
      if (failure) failed(failure[0]);
    }, failed);
  };
  const endTurn = () => {
    turnOpen = false;
    flush();
  };
  const enqueue = (record: string) => {
    records.push(record);
    if (turnOpen) return;
    turnOpen = true;
    queueMicrotask(flush);
    nextTurn(endTurn);
  };

  /** Background work never rejects into the void: failures are reported. */
  const background = (work: () => Promise<void>) => () =>
    void work().catch((error) => report("Backplane background task failed", error));
  const announceSoon = background(announce);

  return {
    instanceId,
    ready: () => readyPromise,

    /** Up when both connections are ready; the round trip of one EXISTS on this instance's heartbeat key. */
    async health() {
      if (!isReady() || sub?.status !== "ready") return { up: false };
      const started = performance.now();
      await cmd!.exists(hbKey(instanceId));
      return { up: true, rttMs: performance.now() - started };
    },

    async start(engineSink) {
      sink = engineSink;
      if (!options.onError) onError = createReporter(engineSink.onError);
      startedAt = Date.now();
      const common = {
        // Back off up to 5 s between attempts, forever: the instance keeps serving local clients meanwhile.
        retryStrategy: (times: number) => Math.min(100 * 2 ** Math.min(times, 6), 5000),
        lazyConnect: false,
      };
      if (options.client) {
        cmd = options.client;
        sub = options.client.duplicate({ enableOfflineQueue: true });
      } else {
        const Redis = await loadIoredis();
        if (closed) return; // close() ran while the driver loaded: connecting now would keep the process alive
        // Commands fail at once while Redis is away: a stale broadcast replayed minutes later is worse than none.
        // No auto-pipelining: the publish path batches itself (see `flush`) and must not wait a turn.
        cmd = new Redis(options.url!, {
          ...common,
          enableOfflineQueue: false,
          maxRetriesPerRequest: 0,
          autoResendUnfulfilledCommands: false,
        });
        sub = new Redis(options.url!, { ...common, enableOfflineQueue: true, maxRetriesPerRequest: null });
      }
      cmd.on("error", failed);
      sub.on("error", failed);
      cmd.on("close", () => {
        if (!closed && announced && !down) {
          down = true;
          report("Lost the Redis connection; serving local clients only and reconnecting");
        }
      });
      cmd.on("ready", announceSoon);
      sub.on("messageBuffer", onMessageBytes);
      sub.on("ready", () => {
        if (!subscribedOnce) return;
        // Messages sent while we were away are lost: once subscribed again, re-read the rooms.
        sub!.subscribe(channel).then(() => sink?.resync(), failed);
      });
      sub.subscribe(channel).then(() => (subscribedOnce = true), failed);
      if (cmd.status === "ready") announceSoon();
      beat = backgroundInterval(background(tick), heartbeatMs);
    },

    publish(message: OutgoingMessage) {
      if (!isReady()) return;
      const { kind, roomId, connectionId } = message;
      if (kind === "joined" || kind === "updated") {
        const tx = (batch ??= cmd!.pipeline()).hset(roomKey(roomId), connectionId, `${instanceId} ${message.entry}`);
        if (kind === "joined") tx.hset(instKey, connectionId, roomId);
      } else if (kind === "left") {
        (batch ??= cmd!.pipeline()).hdel(roomKey(roomId), connectionId).hdel(instKey, connectionId);
      }
      enqueue(`${header(kind, roomId, connectionId)}\n${message.frame}`);
    },

    async fetchRoom(roomId): Promise<RoomState | undefined> {
      const deadline = Date.now() + FETCH_TIMEOUT_MS;
      // Joins in the first moments after start-up wait for the first connection rather than miss peers.
      const startUpLeft = startedAt + FETCH_TIMEOUT_MS - Date.now();
      if (!announced && !closed && startUpLeft > 0) await withTimeout(readyPromise, startUpLeft, { fallback: undefined });
      if (!isReady()) return undefined;
      try {
        const res = await withTimeout(cmd!.pipeline().hgetall(roomKey(roomId)).smembers(registry).exec(), deadline - Date.now(), {
          fallback: undefined,
        });
        if (!res) return undefined;
        const failure = res.find(([error]) => error);
        if (failure) throw failure[0];
        const all = res[0]![1] as Record<string, string>;
        const members: RemoteMember[] = [];
        for (const connectionId in all) {
          const value = all[connectionId]!;
          const space = value.indexOf(" ");
          if (space <= 0) continue;
          members.push({ connectionId, instanceId: value.slice(0, space), entry: value.slice(space + 1) });
        }
        return { members, instances: new Set(res[1]![1] as string[]) };
      } catch (error) {
        failed(error);
        return undefined;
      }
    },

    async close() {
      if (closed) return;
      closed = true; // no more beats, announces or publishes; the engine sent its leaves already
      if (beat) clearInterval(beat);
      await ticking; // a beat in flight must not re-register this instance after it is removed
      const c = cmd;
      if (c && c.status === "ready") {
        try {
          // Whatever members are still recorded go now, so the others need not wait for the TTL.
          await c
            .multi()
            .eval(SWEEP_SCRIPT, 0, prefix, instanceId, "1")
            .srem(registry, instanceId)
            .del(hbKey(instanceId))
            .exec();
        } catch (error) {
          report("Could not remove this instance from Redis on close; the others drop it after the TTL", error);
        }
      }
      for (const client of [sub, options.client ? undefined : c]) {
        if (!client) continue;
        if (client.status !== "ready") {
          client.disconnect(); // QUIT would wait for a reconnect that may never come
          continue;
        }
        try {
          await client.quit();
        } catch {
          client.disconnect();
        }
      }
    },
  };
}
