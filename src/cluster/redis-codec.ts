import type { MessageKind, RemoteMember } from "./backplane.ts";

/**
 * Key and channel names, and the wire format of messages between instances. Every name of one room
 * carries the same hash tag (`{<room id>}`), so in a Redis Cluster a room's hash and its channel live
 * in one slot: one shard serves a room, and a room's writes and its PUBLISH share one connection,
 * which keeps them in order.
 */
export interface RedisKeys {
  /** Hash, connection id → `<instance id> <entry JSON>`: every member of the room, for joiners. */
  room(roomId: string): string;
  /** The room's pub/sub channel (sharded channel in a Redis Cluster). */
  channel(roomId: string): string;
  /** Hash, connection id → room id: what to remove when that instance dies. */
  inst(instanceId: string): string;
  /** Heartbeat string with a TTL. */
  hb(instanceId: string): string;
  /** Set of instances whose members are all recorded. */
  readonly registry: string;
  /** The instance-level channel: re-announces ("sync") and the server API's control messages, nothing per room. */
  readonly control: string;
  /** Set by each join, deleted by the one instance that finds the room empty (`claimEmptied`). */
  occupied(roomId: string): string;
  /** Hash `{ o: last offset, e: epoch }`: the room's stream counter (room streams). */
  seq(roomId: string): string;
  /** List of `<ms> <offset> <sender or -> <frame>`, oldest first: the room's kept messages. */
  log(roomId: string): string;
  /** A publish's idempotency key in the room: its offset, for the streams' `ttlMs`. */
  idem(roomId: string, key: string): string;
  /** One sequencing call's answer (`<epoch> <offset> <seen> …`), so a retry of the call gets it again. */
  call(roomId: string, callId: string): string;
  /** One ban (JSON string, with a TTL for a timed ban); same slot as the room. */
  ban(roomId: string, userId: string): string;
  /** Set of the room's banned user ids (pruned when a ban's key expired), for listing. */
  bans(roomId: string): string;
  /** A shared document's channel (sharded in a Redis Cluster), heard by the instances holding it loaded. */
  document(name: string): string;
}

/** `{` and `}` are escaped so the tag is exactly the room id, whatever it holds (Redis ends a tag at the first `}`). */
function tag(roomId: string): string {
  const escaped = roomId.replace(/%/g, "%25").replace(/\{/g, "%7B").replace(/\}/g, "%7D");
  return `{${escaped || "%"}}`;
}

export function redisKeys(prefix: string): RedisKeys {
  return {
    room: (roomId) => `${prefix}:room:${tag(roomId)}`,
    channel: (roomId) => `${prefix}:ch:${tag(roomId)}`,
    inst: (id) => `${prefix}:inst:${id}`,
    hb: (id) => `${prefix}:hb:${id}`,
    registry: `${prefix}:instances`,
    control: `${prefix}:ctl`,
    occupied: (roomId) => `${prefix}:occ:${tag(roomId)}`,
    seq: (roomId) => `${prefix}:seq:${tag(roomId)}`,
    log: (roomId) => `${prefix}:log:${tag(roomId)}`,
    idem: (roomId, key) => `${prefix}:idem:${tag(roomId)}:${key}`,
    call: (roomId, callId) => `${prefix}:call:${tag(roomId)}:${callId}`,
    ban: (roomId, userId) => `${prefix}:ban:${tag(roomId)}:${userId}`,
    bans: (roomId) => `${prefix}:bans:${tag(roomId)}`,
    document: (name) => `${prefix}:doc:${tag(name)}`,
  };
}

export const MAGIC = "ols1";
/** `sync`: re-read every room; `control`: an instance-level message (its body where a frame would be). */
export type WireKind = MessageKind | "sync" | "control" | DocumentKind;
/**
 * A shared document's records, on its own channel, the document name where a room id would be:
 * `update` and `awareness` carry base64 data; `query` is `<request id> <state vector>`; `answer` goes to
 * the instance named where a connection id would be, `<request id> <update> <state vector> <awareness>`.
 */
export type DocumentKind = "update" | "awareness" | "query" | "answer";
/** `p`: a room's presence news of one window. */
const KINDS: Record<string, WireKind> = {
  p: "presence",
  j: "joined",
  u: "updated",
  l: "left",
  e: "event",
  c: "chat",
  s: "sync",
  x: "control",
  d: "update",
  a: "awareness",
  q: "query",
  r: "answer",
};
const CODES: Record<WireKind, string> = {
  presence: "p",
  joined: "j",
  updated: "u",
  left: "l",
  event: "e",
  chat: "c",
  sync: "s",
  control: "x",
  update: "d",
  awareness: "a",
  query: "q",
  answer: "r",
};

export interface WireRecord {
  kind: WireKind;
  instanceId: string;
  roomId: string;
  connectionId: string;
  frame: string;
}

/**
 * One instance's encoder: a record is `<header JSON>\n<client frame>`, the header
 * `["ols1","<instance id>","<kind code>","<room id>","<connection id>"]` (connection id empty for
 * `p`). One PUBLISH holds one or more records, newline-separated (JSON has no raw newline).
 */
export function createCodec(instanceId: string) {
  const headStart = `["${MAGIC}","${instanceId}","`;
  const ownHead = new TextEncoder().encode(headStart);
  return {
    header: (kind: WireKind, roomId: string, connectionId: string) =>
      `${headStart}${CODES[kind]}",${JSON.stringify(roomId)},"${connectionId}"]`,
    /**
     * A sequenced room message's header (room streams): no instance id, so every instance, the sender's
     * included, receives it from the room's channel, where Redis keeps a room's messages in offset order.
     */
    sequencedHeader: (kind: "event" | "chat", roomId: string, connectionId: string) =>
      `["${MAGIC}","","${CODES[kind]}",${JSON.stringify(roomId)},"${connectionId}"]`,
    /** Redis echoes every publish to its sender: our own messages are recognised by their first bytes, before any decoding. */
    isOwn(bytes: Uint8Array): boolean {
      if (bytes.length <= ownHead.length) return false;
      for (let i = 0; i < ownHead.length; i++) if (bytes[i] !== ownHead[i]) return false;
      return true;
    },
  };
}

/**
 * Splits one PUBLISH into records. Calls `onRecord` for each valid record in order and returns an
 * error text at the first one that is not an openlivesync record (the rest of that message is dropped).
 */
export function decodeRecords(raw: string, onRecord: (record: WireRecord) => void): string | undefined {
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
      return `not an openlivesync message: ${JSON.stringify(raw.slice(at, at + 80))}`;
    }
    let end = raw.indexOf("\n", nl + 1);
    if (end === -1) end = raw.length;
    const [, instanceId, code, roomId, connectionId] = head as string[];
    onRecord({ kind: KINDS[code!]!, instanceId: instanceId!, roomId: roomId!, connectionId: connectionId!, frame: raw.slice(nl + 1, end) });
    at = end + 1;
  }
  return undefined;
}

/** A room hash (connection id → `<instance id> <entry JSON>`) as members; malformed fields are skipped. */
export function parseMembers(hash: Record<string, string>): RemoteMember[] {
  const members: RemoteMember[] = [];
  for (const connectionId in hash) {
    const value = hash[connectionId]!;
    const space = value.indexOf(" ");
    if (space <= 0) continue;
    members.push({ connectionId, instanceId: value.slice(0, space), entry: value.slice(space + 1) });
  }
  return members;
}
