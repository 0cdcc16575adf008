import type { PresenceEntry } from "../protocol/messages.ts";
import type { Connection } from "./connection.ts";
import type { Fanout } from "./fanout.ts";

export { Connection, type ConnectionWork, type PeerLike, type SavedConnection } from "./connection.ts";

/** A room message that reached a room while a member's `room_joined` was being prepared. */
export interface HeldFrame {
  frame: string;
  /** For `chat_message`: its id (a joiner without `since` gets held chats, minus those in its history). */
  chatId: string | undefined;
  /** Its offset, when it has one (streams on). */
  offset: number | undefined;
}

/**
 * A room: every member's presence entry, local and (with a backplane) remote, plus the local
 * connections that receive its frames. Freed by {@link RoomManager} when nothing is left in it.
 */
export class Room {
  readonly id: string;
  /** Local connections that receive the room's frames. */
  readonly local = new Set<Connection>();
  /** Local connections whose `room_joined` is still being prepared, with the room messages held for them meanwhile. */
  readonly joining = new Map<Connection, HeldFrame[]>();
  /** Presence entries of every member, local and remote, keyed by connection id. */
  readonly members = new Map<string, PresenceEntry>();
  /** Members on other instances: connection id → instance id. */
  readonly remote = new Map<string, string>();
  /** Members whose missed messages are being replayed at their socket's pace, with what still waits for each (see replay.ts). */
  replaying: Map<Connection, string[]> | undefined;

  constructor(id: string) {
    this.id = id;
  }

  /** No local connection is in or joining the room (remote members may remain). */
  get vacant(): boolean {
    return this.local.size === 0 && this.joining.size === 0;
  }

  get empty(): boolean {
    return this.vacant && this.members.size === 0;
  }

  snapshot(): Record<string, PresenceEntry> {
    const out: Record<string, PresenceEntry> = Object.create(null);
    for (const [id, entry] of this.members) out[id] = entry;
    return out;
  }

  /** Keep a room message for every member whose `room_joined` is being prepared; they get it after. */
  hold(frame: string, chatId: string | undefined, offset: number | undefined): void {
    for (const held of this.joining.values()) held.push({ frame, chatId, offset });
  }

  /** Add or replace a member that lives on another instance. */
  setRemote(entry: PresenceEntry, instanceId: string): void {
    this.members.set(entry.connectionId, entry);
    this.remote.set(entry.connectionId, instanceId);
  }

  /** Remove a member that lives on another instance; false if it is not one. */
  deleteRemote(id: string): boolean {
    if (!this.remote.delete(id)) return false;
    this.members.delete(id);
    return true;
  }
}

/** Where a connection was when it left a room. */
export interface Departure {
  room: Room;
  /** It had an entry in `room.members` (the others were told it joined). */
  wasMember: boolean;
  /** Its join had completed (it got `room_joined`; `onJoin` ran). */
  wasJoined: boolean;
}

/**
 * Rooms by id, and the one owner of where each connection is. A connection sits in exactly one
 * collection at a time: the lobby (no room), its room's `joining` map, or its room's `local` set.
 * Every move goes through the methods below, which also keep the fan-out's subscriptions in step.
 * A room exists only while it has members.
 */
export class RoomManager {
  readonly rooms = new Map<string, Room>();
  /** Open connections in no room. */
  readonly lobby = new Set<Connection>();
  /** Called when a room's last local connection left, before the room may be freed (cluster: forget its remote members). */
  onVacated: ((room: Room) => void) | undefined;
  private readonly fanout: Pick<Fanout, "join" | "leave"> | undefined;

  constructor(fanout?: Pick<Fanout, "join" | "leave">) {
    this.fanout = fanout;
  }

  get(roomId: string): Room | undefined {
    return this.rooms.get(roomId);
  }

  get size(): number {
    return this.rooms.size;
  }

  /** A new connection starts in the lobby. */
  admit(conn: Connection): void {
    this.lobby.add(conn);
  }

  /** Move `conn` from the lobby into `roomId` as a joining member with `entry`. */
  beginJoin(conn: Connection, roomId: string, entry: PresenceEntry): Room {
    if (conn.room) this.leave(conn);
    let room = this.rooms.get(roomId);
    if (!room) this.rooms.set(roomId, (room = new Room(roomId)));
    this.lobby.delete(conn);
    conn.room = room;
    conn.member = entry;
    room.joining.set(conn, []);
    room.members.set(conn.id, entry);
    return room;
  }

  /** The join finished: `conn` starts receiving the room's frames. Returns the room messages held meanwhile. */
  completeJoin(conn: Connection): HeldFrame[] {
    const room = conn.room;
    const held = room?.joining.get(conn);
    if (!room || !held) return [];
    room.joining.delete(conn);
    room.local.add(conn);
    this.fanout?.join?.(conn, room);
    return held;
  }

  /** Move `conn` out of its room into the lobby. */
  leave(conn: Connection): Departure | undefined {
    const departure = this.takeOut(conn);
    if (departure && !conn.closed) this.lobby.add(conn);
    return departure;
  }

  /** The socket closed: remove `conn` from wherever it is. */
  remove(conn: Connection): Departure | undefined {
    this.lobby.delete(conn);
    return this.takeOut(conn);
  }

  /** Every open connection, in a room or not. */
  *connections(): Generator<Connection> {
    yield* this.lobby;
    for (const room of this.rooms.values()) {
      yield* room.joining.keys();
      yield* room.local;
    }
  }

  /** Free `room` if nothing is left in it. */
  removeIfEmpty(room: Room): boolean {
    if (!room.empty || this.rooms.get(room.id) !== room) return false;
    this.rooms.delete(room.id);
    return true;
  }

  private takeOut(conn: Connection): Departure | undefined {
    const room = conn.room;
    if (!room) return undefined;
    conn.room = undefined;
    conn.member = undefined;
    room.joining.delete(conn);
    const wasJoined = room.local.delete(conn);
    if (wasJoined) this.fanout?.leave?.(conn, room);
    const wasMember = room.members.delete(conn.id);
    if (room.vacant) this.onVacated?.(room);
    this.removeIfEmpty(room);
    return { room, wasMember, wasJoined };
  }
}
