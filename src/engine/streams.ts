import { ConfigError } from "../errors.ts";
import { numberOption } from "../util/number-option.ts";
import { FrameRing } from "./frame-ring.ts";

/** The room streams' options (`streams`), all optional. */
export interface StreamOptions {
  /** Messages kept per room (the newest). @default 256 */
  size?: number;
  /** How long a message is kept, and how long a repeated `clientMessageId` / `Idempotency-Key` is recognised (ms). @default 300000 */
  ttlMs?: number;
  /** Bytes kept across all rooms (UTF-16 code units of the frames); past it the least recently written rooms lose their oldest messages. @default 67108864 */
  maxBytes?: number;
}

export interface ResolvedStreams {
  size: number;
  ttlMs: number;
  maxBytes: number;
}

export function resolveStreams(options: StreamOptions | false | undefined): ResolvedStreams | undefined {
  if (options === false) return undefined;
  if (options !== undefined && (typeof options !== "object" || options === null))
    throw new ConfigError("Option streams must be an object ({ size, ttlMs, maxBytes }) or false");
  return {
    size: numberOption("streams.size", options?.size, 256, "positive"),
    ttlMs: numberOption("streams.ttlMs", options?.ttlMs, 5 * 60_000, "positive"),
    maxBytes: numberOption("streams.maxBytes", options?.maxBytes, 64 * 1024 * 1024, "positive"),
  };
}

/** What a message costs the byte cap beyond its frame: a fixed charge (array slots, bookkeeping), so tiny messages fill it too. */
const ENTRY_OVERHEAD = 48;

/** What a repeated idempotency key gets: the offset its first publish was given. */
interface Remembered {
  offset: number;
  at: number;
}

/** `join_room.since`: the last offset a client holds and the epoch it belongs to. */
export interface StreamPosition {
  offset: number;
  epoch: string;
}

/** What a rejoiner missed: every kept frame after its offset, oldest first. */
export interface Replay {
  frames: string[];
  bytes: number;
}

/**
 * What the engine asks of room streams: offsets, the kept backlog and the idempotency keys. `RoomStreams`
 * keeps them in this process's memory; a runtime can keep them itself (`RuntimeCapabilities.streams`: a
 * Durable Object's SQLite, so they outlive its eviction).
 */
export interface StreamLog {
  readonly options: ResolvedStreams;
  /** The room's current offset and epoch (its log is created if it has none). */
  position(roomId: string): StreamPosition;
  /** Give `frame` (built without an offset) the room's next offset and keep it (see RoomStreams.append). */
  append(roomId: string, frame: string, key?: string, resumeKey?: string): { frame: string; offset: number };
  /** The offset a publish with `key` was given, when it was seen within `ttlMs`. */
  remembered(roomId: string, key: string): number | undefined;
  /** Everything after `since` but what was sent under `resumeKey`, when all of it is still held; see RoomStreams.replay. */
  replay(roomId: string, since: StreamPosition, resumeKey?: string): Replay | undefined;
}

/**
 * One room's stream: the last offset given, the kept messages (offsets `first` … `offset`: their frames
 * with their offsets and when each was written, in a {@link FrameRing}) and the idempotency keys seen.
 * Everything but the counters is allocated on first need: an idle room's log is this object and its map
 * slot. `older` / `newer` link the logs in the order they were last written to.
 */
class RoomLog {
  /** Part of the epoch: a new log for a room (after its old one was dropped) has a new one. */
  readonly gen: number;
  offset = 0;
  /** The offset of the oldest kept message. */
  first = 1;
  ring: FrameRing | undefined;
  bytes = 0;
  /** When the newest message was written. */
  writtenAt = 0;
  keys: Map<string, Remembered> | undefined;
  older: RoomLog | undefined;
  newer: RoomLog | undefined;

  constructor(gen: number) {
    this.gen = gen;
  }

  get kept(): number {
    return this.ring ? this.ring.count : 0;
  }

  /** Drop the oldest kept message; its bytes. */
  shift(): number {
    this.first++;
    const cost = this.ring!.shift() + ENTRY_OVERHEAD;
    this.bytes -= cost;
    return cost;
  }
}

/**
 * Every room's stream on one instance: offsets, the bounded backlog and the idempotency keys, in memory.
 * A room's offsets count up from 1 for as long as its log lives; the log outlives the room (a rejoiner
 * finds it) until its newest message is older than `ttlMs` and nobody is in the room, and its epoch is
 * this process's epoch plus the log's generation, so a dropped log or a restart never passes for the old one.
 */
export class RoomStreams implements StreamLog {
  readonly options: ResolvedStreams;
  /** A string no earlier process had: every epoch of this process starts with it. */
  private readonly processEpoch = crypto.randomUUID().slice(0, 8);
  private gens = 0;
  /** Logs by room id. */
  private readonly logs = new Map<string, RoomLog>();
  /** The logs written to, least recently written first (the byte cap trims from there), linked through `newer`. */
  private oldest: RoomLog | undefined;
  private newest: RoomLog | undefined;
  private bytes = 0;
  private readonly inUse: (roomId: string) => boolean;

  constructor(options: ResolvedStreams, inUse: (roomId: string) => boolean) {
    this.options = options;
    this.inUse = inUse;
  }

  /** The room's current offset and epoch (its log is created if it has none). */
  position(roomId: string): StreamPosition {
    const log = this.logOf(roomId);
    return { offset: log.offset, epoch: this.epochOf(log) };
  }

  /**
   * Give `frame` (built without an offset) the room's next offset, keep it, and return it with its
   * offset; with `key`, also remember the key for `ttlMs`; with `resumeKey` (an event's sender's
   * `join_room.resumeKey`), keep it beside the message: a replay to that key leaves the message out.
   */
  append(roomId: string, frame: string, key?: string, resumeKey?: string): { frame: string; offset: number } {
    const log = this.logOf(roomId);
    const now = Date.now();
    const offset = ++log.offset;
    const framed = withOffset(frame, offset);
    const cost = framed.length + ENTRY_OVERHEAD;
    (log.ring ??= new FrameRing(this.options.size)).push(framed, now, resumeKey);
    log.bytes += cost;
    this.bytes += cost;
    log.writtenAt = now;
    if (key !== undefined) (log.keys ??= new Map()).set(key, { offset, at: now });
    this.trim(log, now);
    // Least recently written first: the byte cap takes from the rooms nobody writes to.
    if (this.newest !== log) this.moveToNewest(log);
    if (this.bytes > this.options.maxBytes) this.enforceCap(log);
    return { frame: framed, offset };
  }

  /** The offset a publish with `key` was given, when it was seen within `ttlMs`. */
  remembered(roomId: string, key: string): number | undefined {
    const found = this.logs.get(roomId)?.keys?.get(key);
    return found && Date.now() - found.at <= this.options.ttlMs ? found.offset : undefined;
  }

  /**
   * Everything after `since` but the messages sent under `resumeKey`, when the log still holds all of it
   * in that epoch; `undefined` otherwise (another epoch, an offset ahead of the room, messages dropped since).
   */
  replay(roomId: string, since: StreamPosition, resumeKey?: string): Replay | undefined {
    const log = this.logs.get(roomId);
    if (!log || since.epoch !== this.epochOf(log) || since.offset > log.offset) return undefined;
    this.trim(log, Date.now());
    if (since.offset + 1 < log.first) return undefined;
    const out: Replay = { frames: [], bytes: 0 };
    const ring = log.ring!;
    for (let offset = since.offset + 1; offset <= log.offset; offset++) {
      const k = offset - log.first;
      if (resumeKey !== undefined && ring.tagAt(k) === resumeKey) continue;
      out.frames.push(ring.frameAt(k));
      out.bytes += ring.unitsAt(k);
    }
    return out;
  }

  /** Drop what has expired; forget logs whose newest message expired and whose room is gone. */
  sweep(now = Date.now()): void {
    for (const [roomId, log] of this.logs) {
      this.trim(log, now);
      if (now - log.writtenAt > this.options.ttlMs && !this.inUse(roomId)) {
        this.bytes -= log.bytes;
        this.logs.delete(roomId);
        this.unlink(log);
      }
    }
  }

  /** Kept bytes across all rooms (for tests and metrics). */
  get keptBytes(): number {
    return this.bytes;
  }

  private logOf(roomId: string): RoomLog {
    let log = this.logs.get(roomId);
    if (!log) this.logs.set(roomId, (log = new RoomLog(++this.gens)));
    return log;
  }

  private epochOf(log: RoomLog): string {
    return `${this.processEpoch}-${log.gen.toString(36)}`;
  }

  /** Make `log` the most recently written (it may be linked elsewhere in the order, or not at all). */
  private moveToNewest(log: RoomLog): void {
    this.unlink(log);
    log.older = this.newest;
    if (this.newest) this.newest.newer = log;
    else this.oldest = log;
    this.newest = log;
  }

  private unlink(log: RoomLog): void {
    const { older, newer } = log;
    if (older) older.newer = newer;
    else if (this.oldest === log) this.oldest = newer;
    if (newer) newer.older = older;
    else if (this.newest === log) this.newest = older;
    log.older = log.newer = undefined;
  }

  /** Keep at most `size` messages, none older than `ttlMs`, and keys no older than `ttlMs`. */
  private trim(log: RoomLog, now: number): void {
    const { size, ttlMs } = this.options;
    while (log.kept > size) this.bytes -= log.shift();
    while (log.kept > 0 && now - log.ring!.timeAt(0) > ttlMs) this.bytes -= log.shift();
    if (log.kept === 0) log.ring = undefined;
    const keys = log.keys;
    if (!keys) return;
    for (const [key, seen] of keys) {
      if (now - seen.at <= ttlMs) break; // in insertion order: the rest are newer
      keys.delete(key);
    }
    if (keys.size === 0) log.keys = undefined;
  }

  /** Over the byte cap: the least recently written rooms lose their oldest messages first. */
  private enforceCap(spare: RoomLog): void {
    for (let log = this.oldest; log; log = log.newer) {
      if (log === spare) continue;
      while (log.kept > 0 && this.bytes > this.options.maxBytes) this.bytes -= log.shift();
      if (this.bytes <= this.options.maxBytes) return;
    }
    while (spare.kept > 1 && this.bytes > this.options.maxBytes) this.bytes -= spare.shift();
  }
}

/** Where a frame's payload object opens: `{"type":"…","payload":{`. */
const PAYLOAD_OPEN = '"payload":{';

/** `frame` (a `{ type, payload }` JSON with an object payload) with `offset` as the payload's first field. */
export function withOffset(frame: string, offset: number): string {
  const at = frame.indexOf(PAYLOAD_OPEN) + PAYLOAD_OPEN.length;
  return `${frame.slice(0, at)}"offset":${offset},${frame.slice(at)}`;
}
