import type { RedisKeys } from "./redis-codec.ts";
import { type RedisClientLike, runScript } from "./redis-driver.ts";

/** How long a room's counter outlives its last message or join (a new one starts a new epoch). */
const SEQ_TTL_MS = 24 * 60 * 60 * 1000;
/** How long a call whose answer was lost is sent again (then its outcome stays unknown: see `Sequencer`). */
export const RETRY_MS = 5_000;
const CALL_TTL_MS = 4 * RETRY_MS; // how long Redis keeps a call's answer for its retries

/**
 * Gives each of a batch of one room's records the room's next offset, keeps them and publishes them in
 * one message, atomically: two instances never give the same offset, and subscribers receive a room's
 * records in offset order. Every key and the channel carry the room's hash tag (one slot in a Redis Cluster).
 *
 * A call whose answer was lost (the connection dropped) is sent again with the same call key: the
 * answer kept there comes back, and nothing is sequenced or published twice.
 *
 * KEYS: seq, log, channel, call, then the batch's idempotency keys. ARGV: epoch candidate, ttl ms, size,
 * now ms, publish command, record count, then per record: its header, frame head (up to the payload's `{`),
 * frame tail, the index in KEYS of its idempotency key ("0": none), "1" to check that key (else it is
 * only remembered: a chat's repeats are its storage's call), the connection it is not sent to (an
 * event's sender; "-" for a chat, which goes to its sender too), kept with the message.
 * Returns `{ epoch, offset₁, seen₁, offset₂, seen₂, … }`; seen = 1: the key was seen, nothing sent, the
 * offset is the first publish's.
 */
const SEQUENCE = `local done = redis.call('get', KEYS[4])
if done then
  local out = {}
  for word in string.gmatch(done, '%S+') do out[#out + 1] = word end
  return out
end
local epoch = redis.call('hget', KEYS[1], 'e')
if not epoch then
  epoch = ARGV[1]
  redis.call('hset', KEYS[1], 'e', epoch, 'o', 0)
end
local out = {epoch}
local kept = {}
local records = {}
for i = 1, tonumber(ARGV[6]) do
  local b = 6 + (i - 1) * 6
  local idem = tonumber(ARGV[b + 4])
  local seen = false
  if idem > 0 and ARGV[b + 5] == '1' then seen = redis.call('get', KEYS[idem]) end
  if seen then
    out[#out + 1] = tonumber(seen)
    out[#out + 1] = 1
  else
    local offset = redis.call('hincrby', KEYS[1], 'o', 1)
    local framed = ARGV[b + 2] .. '"offset":' .. offset .. ',' .. ARGV[b + 3]
    kept[#kept + 1] = ARGV[4] .. ' ' .. offset .. ' ' .. ARGV[b + 6] .. ' ' .. framed
    records[#records + 1] = ARGV[b + 1] .. '\\n' .. framed
    if idem > 0 then redis.call('set', KEYS[idem], offset, 'PX', ARGV[2]) end
    out[#out + 1] = offset
    out[#out + 1] = 0
  end
end
redis.call('pexpire', KEYS[1], ${SEQ_TTL_MS})
if #kept > 0 then
  redis.call('rpush', KEYS[2], unpack(kept))
  redis.call('ltrim', KEYS[2], -tonumber(ARGV[3]), -1)
  redis.call('pexpire', KEYS[2], ARGV[2])
  redis.call(ARGV[5], KEYS[3], table.concat(records, '\\n'))
end
redis.call('set', KEYS[4], table.concat(out, ' '), 'PX', ${CALL_TTL_MS})
return out`;

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

/** One record to sequence. */
export interface SequenceItem {
  /** The record's encoded header (see the codec). */
  header: string;
  /** The client frame, without an offset. */
  frame: string;
  key?: string;
  /** Remember `key` without checking it. */
  rememberOnly?: boolean;
  /** The connection id the message is not delivered to (an event's sender). */
  except?: string | undefined;
  /** The sender's `join_room.resumeKey` (an event's): a replay to it leaves the message out. */
  resumeKey?: string | undefined;
}

export interface SequenceLimits {
  ttlMs: number;
  size: number;
  clustered: boolean;
}

/** Sequence `items` of one room in one script call (see SEQUENCE), unique by `callId`; their answers, in order. */
export async function sequence(
  cmd: RedisClientLike,
  keys: RedisKeys,
  roomId: string,
  items: readonly SequenceItem[],
  limits: SequenceLimits,
  callId: string,
): Promise<Sequenced[]> {
  const redisKeys = [keys.seq(roomId), keys.log(roomId), keys.channel(roomId), keys.call(roomId, callId)];
  const args = [newEpoch(), String(limits.ttlMs), String(limits.size), String(Date.now()), limits.clustered ? "spublish" : "publish"];
  args.push(String(items.length));
  for (const item of items) {
    const at = item.frame.indexOf(PAYLOAD_OPEN) + PAYLOAD_OPEN.length;
    let idem = "0";
    if (item.key !== undefined) idem = String(redisKeys.push(keys.idem(roomId, item.key)));
    // The sender kept with the message: its connection id, and its resume key after a "/" (see readStream).
    const sender = item.resumeKey === undefined ? (item.except ?? "-") : `${item.except ?? "-"}/${item.resumeKey}`;
    args.push(item.header, item.frame.slice(0, at), item.frame.slice(at), idem, item.rememberOnly ? "0" : "1", sender);
  }
  const reply = (await runScript(cmd, "olsSequence", SEQUENCE, redisKeys.length, ...redisKeys, ...args)) as unknown[];
  const epoch = String(reply[0]);
  return items.map((_, i) => ({ offset: Number(reply[1 + 2 * i]), epoch, duplicate: Number(reply[2 + 2 * i]) === 1 }));
}

/** One kept message as Redis holds it. */
export interface LogEntry {
  at: number;
  offset: number;
  frame: string;
  /** The connection id it is not delivered to (an event's sender). */
  except?: string;
  /** The sender's resumeKey (`join_room.resumeKey`): a replay to it leaves the message out. */
  resumeKey?: string;
}

export interface StreamRead {
  offset: number;
  epoch: string;
  /** With `since`: the kept messages, oldest first. */
  entries?: LogEntry[];
}

export async function readStream(cmd: RedisClientLike, keys: RedisKeys, roomId: string, since?: number): Promise<StreamRead> {
  const reply = (await runScript(
    cmd,
    "olsReadStream",
    READ,
    2,
    keys.seq(roomId),
    keys.log(roomId),
    newEpoch(),
    String(since ?? -1),
  )) as unknown[];
  const out: StreamRead = { offset: Number(reply[0]), epoch: String(reply[1]) };
  if (since === undefined) return out;
  out.entries = [];
  for (let i = 2; i < reply.length; i++) {
    // `<at> <offset> <except> <frame>` (`<at> <offset> <frame>` before the sender was kept); `<except>`
    // is the sender's connection id (`-`: none), then `/<resumeKey>` when it sent under one.
    const raw = String(reply[i]);
    const s1 = raw.indexOf(" ");
    const s2 = raw.indexOf(" ", s1 + 1);
    const entry: LogEntry = { at: Number(raw.slice(0, s1)), offset: Number(raw.slice(s1 + 1, s2)), frame: raw.slice(s2 + 1) };
    if (raw[s2 + 1] !== "{") {
      const s3 = raw.indexOf(" ", s2 + 1);
      entry.frame = raw.slice(s3 + 1);
      const sender = raw.slice(s2 + 1, s3);
      const slash = sender.indexOf("/");
      const id = slash < 0 ? sender : sender.slice(0, slash);
      if (id !== "-") entry.except = id;
      if (slash >= 0) entry.resumeKey = sender.slice(slash + 1);
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
