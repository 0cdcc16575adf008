import type { RedisKeys } from "./redis-codec.ts";
import type { RedisClientLike } from "./redis-driver.ts";

/** How long a room's counter outlives its last message or join (a new one starts a new epoch). */
const SEQ_TTL_MS = 24 * 60 * 60 * 1000;

/**
 * Gives one record the room's next offset, keeps it and publishes it, atomically: two instances never
 * give the same offset, and subscribers receive a room's records in offset order. Every key and the
 * channel carry the room's hash tag (one slot in a Redis Cluster).
 *
 * KEYS: seq, log, channel[, idem]. ARGV: epoch candidate, ttl ms, size, now ms, publish command,
 * record header (`<header>\n`), frame head (up to the payload's `{`), frame tail, "1" to check the
 * idempotency key (else it is only remembered: a chat's repeats are its storage's call), the connection
 * an event is not sent to (its sender; "-" for a chat, which goes to its sender too), kept with the message.
 * Returns `{ offset, epoch, 0 }`, or `{ offset, epoch, 1 }` when the idempotency key was seen (nothing sent).
 */
const SEQUENCE = `local epoch = redis.call('hget', KEYS[1], 'e')
if not epoch then
  epoch = ARGV[1]
  redis.call('hset', KEYS[1], 'e', epoch, 'o', 0)
end
if KEYS[4] and ARGV[9] == '1' then
  local seen = redis.call('get', KEYS[4])
  if seen then return {tonumber(seen), epoch, 1} end
end
local offset = redis.call('hincrby', KEYS[1], 'o', 1)
redis.call('pexpire', KEYS[1], ${SEQ_TTL_MS})
local framed = ARGV[7] .. '"offset":' .. offset .. ',' .. ARGV[8]
redis.call('rpush', KEYS[2], ARGV[4] .. ' ' .. offset .. ' ' .. ARGV[10] .. ' ' .. framed)
redis.call('ltrim', KEYS[2], -tonumber(ARGV[3]), -1)
redis.call('pexpire', KEYS[2], ARGV[2])
if KEYS[4] then redis.call('set', KEYS[4], offset, 'PX', ARGV[2]) end
redis.call(ARGV[5], KEYS[3], ARGV[6] .. framed)
return {offset, epoch, 0}`;

/**
 * The room's counter and epoch (created when missing), and with `since` ≥ 0 its kept messages.
 * KEYS: seq, log. ARGV: epoch candidate, since. Returns `{ offset, epoch, entries… }`.
 */
const READ = `local epoch = redis.call('hget', KEYS[1], 'e')
if not epoch then
  epoch = ARGV[1]
  redis.call('hset', KEYS[1], 'e', epoch, 'o', 0)
end
redis.call('pexpire', KEYS[1], ${SEQ_TTL_MS})
local out = {tonumber(redis.call('hget', KEYS[1], 'o')), epoch}
if tonumber(ARGV[2]) >= 0 then
  for _, entry in ipairs(redis.call('lrange', KEYS[2], 0, -1)) do out[#out + 1] = entry end
end
return out`;

export interface Sequenced {
  offset: number;
  epoch: string;
  /** The idempotency key was seen: nothing was published, `offset` is the first publish's. */
  duplicate: boolean;
}

/** A fresh epoch: used when the room has none in Redis (first use, or the data was lost). */
const newEpoch = () => crypto.randomUUID().slice(0, 13);

/** Where a frame's payload object opens: the offset goes right after it. */
const PAYLOAD_OPEN = '"payload":{';

export interface SequenceArgs {
  roomId: string;
  /** The record's encoded header (see the codec). */
  header: string;
  /** The client frame, without an offset. */
  frame: string;
  key?: string;
  /** The connection id the message is not delivered to (an event's sender). */
  except?: string;
  /** Remember `key` without checking it. */
  rememberOnly?: boolean;
  ttlMs: number;
  size: number;
  clustered: boolean;
}

export async function sequence(cmd: RedisClientLike, keys: RedisKeys, a: SequenceArgs): Promise<Sequenced> {
  const at = a.frame.indexOf(PAYLOAD_OPEN) + PAYLOAD_OPEN.length;
  const head = a.frame.slice(0, at);
  const redisKeys = [keys.seq(a.roomId), keys.log(a.roomId), keys.channel(a.roomId)];
  if (a.key !== undefined) redisKeys.push(keys.idem(a.roomId, a.key));
  const reply = (await cmd.eval(
    SEQUENCE,
    redisKeys.length,
    ...redisKeys,
    newEpoch(),
    String(a.ttlMs),
    String(a.size),
    String(Date.now()),
    a.clustered ? "spublish" : "publish",
    `${a.header}\n`,
    head,
    a.frame.slice(at),
    a.rememberOnly ? "0" : "1",
    a.except ?? "-",
  )) as [number, string, number];
  return { offset: Number(reply[0]), epoch: String(reply[1]), duplicate: reply[2] === 1 };
}

/** One kept message as Redis holds it. */
export interface LogEntry {
  at: number;
  offset: number;
  frame: string;
  /** The connection id it is not delivered to (an event's sender). */
  except?: string;
}

export interface StreamRead {
  offset: number;
  epoch: string;
  /** With `since`: the kept messages, oldest first. */
  entries?: LogEntry[];
}

export async function readStream(cmd: RedisClientLike, keys: RedisKeys, roomId: string, since?: number): Promise<StreamRead> {
  const reply = (await cmd.eval(READ, 2, keys.seq(roomId), keys.log(roomId), newEpoch(), String(since ?? -1))) as unknown[];
  const out: StreamRead = { offset: Number(reply[0]), epoch: String(reply[1]) };
  if (since === undefined) return out;
  out.entries = [];
  for (let i = 2; i < reply.length; i++) {
    // `<at> <offset> <except> <frame>` (`<at> <offset> <frame>` before the sender was kept).
    const raw = String(reply[i]);
    const s1 = raw.indexOf(" ");
    const s2 = raw.indexOf(" ", s1 + 1);
    const entry: LogEntry = { at: Number(raw.slice(0, s1)), offset: Number(raw.slice(s1 + 1, s2)), frame: raw.slice(s2 + 1) };
    if (raw[s2 + 1] !== "{") {
      const s3 = raw.indexOf(" ", s2 + 1);
      entry.frame = raw.slice(s3 + 1);
      if (raw.slice(s2 + 1, s3) !== "-") entry.except = raw.slice(s2 + 1, s3);
    }
    out.entries.push(entry);
  }
  return out;
}

/** The offset the publish with `key` was given, while Redis remembers the key. */
export async function rememberedOffset(cmd: RedisClientLike, keys: RedisKeys, roomId: string, key: string): Promise<number | undefined> {
  const seen = await cmd.get(keys.idem(roomId, key));
  return seen === null ? undefined : Number(seen);
}
