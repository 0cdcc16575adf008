import type { TokenVerifier } from "../options.ts";
import { roomJoinedFrame } from "../protocol/frames.ts";
import type { JoinRoomPayload, PresenceEntry, RoomJoinedPayload, StoredChatMessage } from "../protocol/messages.ts";
import { isFull } from "./permissions.ts";
import type { Connection } from "./connection.ts";
import type { EngineContext } from "./context.ts";
import { authorized, findBan, identify, loadJoinHistory, refuseBanned } from "./join-steps.ts";
import type { PresenceActions } from "./presence.ts";
import type { Room } from "./room.ts";
import type { Fetched } from "./shared-streams.ts";
import { withTimeout } from "../util/async.ts";

/** The longest a join waits for its own membership to reach shared state (Redis) before `room_joined`. */
const STORE_WAIT_MS = 2000;

/**
 * `room_joined.presence`: every member, or past `max` members the joiner and the first `max - 1`
 * others, with `memberCount` telling how many there are. Built once per join.
 */
export function presenceSnapshot(room: Room, self: string, max: number): { presence: Record<string, PresenceEntry>; memberCount?: number } {
  if (room.members.size <= max) return { presence: room.snapshot() };
  const presence: Record<string, PresenceEntry> = Object.create(null);
  const own = room.members.get(self);
  if (own) presence[self] = own;
  let rest = max - 1;
  for (const [id, entry] of room.members) {
    if (rest <= 0) break;
    if (id === self) continue;
    presence[id] = entry;
    rest--;
  }
  return { presence, memberCount: room.members.size };
}

/**
 * Joining and leaving rooms. A join is asynchronous (token check, `authorizeRoom`, history, remote
 * members): the joiner is announced to the room at once, chats stored meanwhile are held for it and
 * delivered after `room_joined` (minus those already in its history), and frames it sends meanwhile
 * wait in its backlog (see dispatch).
 */
export function createMembership(ctx: EngineContext, presence: PresenceActions, verifyToken: TokenVerifier | undefined) {
  const { rooms, send, cluster, callbacks, shared } = ctx;

  /** Leave the current room, if any, and tell the room (and the other instances). */
  function leave(conn: Connection): void {
    presence.cancel(conn);
    announceDeparture(conn, rooms.leave(conn));
  }

  /** The socket closed or was dropped: out of every collection, and the room told. */
  function remove(conn: Connection): void {
    announceDeparture(conn, rooms.remove(conn));
  }

  function announceDeparture(conn: Connection, departure: ReturnType<typeof rooms.leave>): void {
    if (!departure) return;
    const { room } = departure;
    if (departure.wasMember) send.presence(room, { kind: "left", connectionId: conn.id, conn });
    if (!departure.wasJoined) return;
    callbacks.left(conn, room.id);
    if (!room.vacant) return;
    // Empty cluster-wide? Only the backplane can tell, and tells exactly one instance (asked even with
    // no one listening, so the room's "occupied" mark in Redis does not outlive it).
    if (!cluster) {
      if (room.members.size === 0 && callbacks.wantsEmptied) callbacks.emptied(room.id);
    } else cluster.claimEmptied(room.id).then((last) => last && callbacks.emptied(room.id));
  }

  async function join(conn: Connection, payload: JoinRoomPayload): Promise<void> {
    leave(conn);
    conn.resumeKey = payload.resumeKey;
    const { roomId } = payload;
    if (!(await identify(ctx, verifyToken, conn, payload))) return;
    const banLookup = findBan(ctx, conn, roomId); // looked up while authorizeRoom runs
    const permissions = await authorized(ctx, conn, roomId);
    if (!permissions || conn.closed) return;
    const ban = await banLookup;
    if (ban) return refuseBanned(ctx, conn, ban);
    conn.permissions = isFull(permissions) ? undefined : permissions;

    // A member that may not write presence shows none, not the one it joined with.
    const initial = permissions.presence === "write" ? (payload.presence ?? {}) : {};
    const room = rooms.beginJoin(conn, roomId, conn.entry(initial));
    // Shared state learns of the joiner first: by the time it gets room_joined, a joiner on any instance finds it.
    const stored = send.presence(room, { kind: "joined", connectionId: conn.id, entry: JSON.stringify(conn.member), conn });
    // First local member here: read the members on other instances while history loads.
    const remoteMembers = cluster?.prepare(room);
    // Shared streams: the room's offset once subscribed, and what a rejoiner missed (read after it
    // started holding the room's messages, so the read and what is held meanwhile leave no gap).
    const streamReady = shared?.prepare(room, remoteMembers);
    const fetched = payload.since && shared?.fetch(roomId, payload.since.offset);
    const { history, resumed } = await loadJoinHistory(ctx, conn, roomId, payload.lastMessageId);
    if (remoteMembers) await remoteMembers;
    if (streamReady) await streamReady;
    const missed = fetched ? await fetched : undefined;
    if (stored) await withTimeout(stored, STORE_WAIT_MS, { fallback: undefined });
    if (conn.closed || conn.room !== room) return;
    completeJoin(ctx, conn, room, payload, { history, resumed, missed });
  }

  return { join, leave, remove };
}

export type Membership = ReturnType<typeof createMembership>;

/**
 * The end of a join whose waits are over: the joiner becomes a full member, gets `room_joined` (with the
 * stream position read in the same turn), then the replay or the chats held for it meanwhile.
 */
function completeJoin(
  ctx: EngineContext,
  conn: Connection,
  room: Room,
  payload: JoinRoomPayload,
  loaded: { history: StoredChatMessage[]; resumed?: boolean | undefined; missed: Fetched | undefined },
): void {
  const { options, rooms, send, callbacks, streams, shared } = ctx;
  const { roomId } = payload;
  const { history, resumed, missed } = loaded;
  const held = rooms.completeJoin(conn);
  // Read in the same turn as completeJoin: every room message after `offset` reaches the joiner live.
  const position = shared ? shared.position(room) : streams?.position(roomId);
  const since = payload.since;
  const resumeKey = payload.resumeKey;
  const replay = !since
    ? undefined
    : shared
      ? shared.replay(room, since, missed, held, resumeKey)
      : streams?.replay(roomId, since, resumeKey)?.frames;
  const joined: RoomJoinedPayload = {
    roomId,
    connectionId: conn.id,
    ...presenceSnapshot(room, conn.id, options.maxPresenceSnapshot),
    chatHistory: history,
  };
  if (resumed !== undefined) joined.resumed = resumed;
  if (position) Object.assign(joined, position);
  if (payload.since) joined.recovered = replay !== undefined;
  if (conn.permissions) joined.permissions = conn.permissions;
  send.to(conn, roomJoinedFrame(joined));
  send.snapshotSent(room, conn);
  callbacks.joined(conn, roomId, conn.member!);
  // Recovered: the replay is every message after `since`, without a gap, the chats held meanwhile
  // included (a chat may also be in `chatHistory`, a snapshot by id).
  if (replay) return send.replay(room, conn, replay);
  if (held.length === 0) return;
  const seen = new Set(history.map((m) => m.id));
  for (const { frame, chatId } of held) if (chatId !== undefined && !seen.has(chatId)) send.to(conn, frame);
}
