import type { Presence, PresenceEntry, UserInfo } from "../protocol/messages.ts";

/**
 * What the core needs from a socket: crossws's `Peer` satisfies it on every runtime.
 */
export interface PeerLike {
  send(data: string): unknown;
  close(code?: number, reason?: string): void;
  terminate(): void;
  ping?(data?: unknown): unknown;
  readonly bufferedAmount?: number;
  readonly context?: Record<string, unknown>;
}

/**
 * User fields never copied into presence entries: the entry's own keys, JWT registered claims and
 * token-internal claims that mean nothing to other members.
 */
const NOT_IN_ENTRY = new Set([
  "__proto__", "connectionId", "presence",
  "iss", "sub", "aud", "exp", "nbf", "iat", "jti",
  "azp", "at_hash", "c_hash", "nonce", "aio", "uti", "rh", "ver", "auth_time", "acr", "amr", "sid",
]);

const VERIFIED = 1;
const ALIVE = 2;
const CLOSED = 4;

/**
 * One WebSocket connection's state. Created on open, dropped on close.
 *
 * Idle connections are most of a server's memory, so this holds only what every connection needs
 * (8 fields, 80 bytes on Bun). State that lives only while something is in progress (a join's
 * backlog, held chats, a pending presence send, a chat chain, a token's expiry timer) sits in the
 * engine's maps beside it, and the three flags share one number.
 */
export class Connection {
  readonly id: string;
  readonly peer: PeerLike;
  /** Identity; `verified` when it came from `onAuth` or a verified token. */
  user: UserInfo | undefined;
  room: Room | undefined;
  /** This connection's entry in `room.members`; its `presence` is replaced on each update. */
  member: PresenceEntry | undefined;
  /** Presence throttle: when this connection's presence last went out. */
  lastPresenceAt = 0;
  /** Adapter-owned per-connection data (e.g. the Node socket for corked writes). */
  transport: unknown;
  private flags = ALIVE;

  constructor(id: string, peer: PeerLike, user: UserInfo | undefined, verified: boolean) {
    this.id = id;
    this.peer = peer;
    this.user = user;
    this.verified = verified;
  }

  get verified(): boolean {
    return (this.flags & VERIFIED) !== 0;
  }
  set verified(on: boolean) {
    this.setFlag(VERIFIED, on);
  }
  /** Heartbeat: set by any frame or pong, cleared by each ping. */
  get alive(): boolean {
    return (this.flags & ALIVE) !== 0;
  }
  set alive(on: boolean) {
    this.setFlag(ALIVE, on);
  }
  get closed(): boolean {
    return (this.flags & CLOSED) !== 0;
  }
  set closed(on: boolean) {
    this.setFlag(CLOSED, on);
  }

  private setFlag(bit: number, on: boolean) {
    this.flags = on ? this.flags | bit : this.flags & ~bit;
  }

  /**
   * The entry others see in `presence_updated` and `room_joined.presence`: the connection id, the
   * user's fields (`userId`, `name`, `email`, `provider` and any extra ones `onAuth` returned), and presence.
   */
  entry(presence: Presence): PresenceEntry {
    const entry: PresenceEntry = { connectionId: this.id, presence };
    const user = this.user;
    if (user) {
      for (const key of Object.keys(user)) {
        const value = user[key];
        if (value !== undefined && !NOT_IN_ENTRY.has(key)) entry[key] = value;
      }
      // Keep presence last so entries read the same whatever the user object's key order.
      delete (entry as { presence?: unknown }).presence;
      entry.presence = presence;
    }
    return entry;
  }
}

/** A chat frame that reached a room while a member's `room_joined` was being prepared. */
export interface HeldChat {
  frame: string;
  chatId: string;
}

/**
 * A room: every member's presence entry (local and, with a backplane, remote) plus the local
 * connections that receive its frames. Freed by the engine when both are empty.
 */
export class Room {
  readonly id: string;
  /** Local connections that receive the room's frames. */
  readonly local = new Set<Connection>();
  /** Local connections whose `room_joined` is still being prepared, with the chat frames held for them meanwhile. */
  readonly joining = new Map<Connection, HeldChat[]>();
  /** Presence entries of every member, keyed by connection id. */
  readonly members = new Map<string, PresenceEntry>();

  constructor(id: string) {
    this.id = id;
  }

  get empty(): boolean {
    return this.local.size === 0 && this.joining.size === 0 && this.members.size === 0;
  }

  snapshot(): Record<string, PresenceEntry> {
    const out: Record<string, PresenceEntry> = Object.create(null);
    for (const [id, entry] of this.members) out[id] = entry;
    return out;
  }
}

/** Rooms by id; a room exists only while it has members. */
export class RoomManager {
  readonly rooms = new Map<string, Room>();

  getOrCreate(roomId: string): Room {
    let room = this.rooms.get(roomId);
    if (!room) this.rooms.set(roomId, (room = new Room(roomId)));
    return room;
  }

  get(roomId: string): Room | undefined {
    return this.rooms.get(roomId);
  }

  removeIfEmpty(room: Room): boolean {
    if (!room.empty || this.rooms.get(room.id) !== room) return false;
    this.rooms.delete(room.id);
    return true;
  }

  get size(): number {
    return this.rooms.size;
  }
}
