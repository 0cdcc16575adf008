import type { Presence, PresenceEntry, UserInfo } from "./protocol.ts";

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

/** One WebSocket connection's state. Created on open, dropped on close. */
export class Connection {
  readonly id: string;
  readonly peer: PeerLike;
  /** Identity; `verified` when it came from `onAuth` or a verified token. */
  user: UserInfo | undefined;
  verified: boolean;
  room: Room | undefined;
  presence: Presence = {};
  /** Heartbeat: set by any frame or pong, cleared by each ping. */
  alive = true;
  closed = false;
  /** While a join is in flight, later frames wait here so they are handled in order. */
  backlog: string[] | undefined;
  /** Chat frames that arrived while this connection's `room_joined` was being prepared. */
  held: { frame: string; chatId: string }[] | undefined;
  /** This connection's entry in `room.members`; its `presence` is replaced on each update. */
  member: PresenceEntry | undefined;
  /** Per-connection chat chain: chats are stored and echoed in the order sent. */
  chatTail: Promise<void> = Promise.resolve();
  /** Presence throttle state. */
  lastPresenceAt = 0;
  presenceTimer: ReturnType<typeof setTimeout> | undefined;
  expiryTimer: ReturnType<typeof setTimeout> | undefined;
  /** Adapter-owned per-connection data (e.g. the Node socket for corked writes). */
  transport: unknown;

  constructor(id: string, peer: PeerLike, user: UserInfo | undefined, verified: boolean) {
    this.id = id;
    this.peer = peer;
    this.user = user;
    this.verified = verified;
  }

  /** The entry others see in `presence_updated` and `room_joined.presence`. */
  entry(): PresenceEntry {
    const entry: PresenceEntry = { connectionId: this.id, presence: this.presence };
    const user = this.user;
    if (user) {
      if (user.userId !== undefined) entry.userId = user.userId;
      if (user.name !== undefined) entry.name = user.name;
      if (user.email !== undefined) entry.email = user.email;
      if (user.provider !== undefined) entry.provider = user.provider;
    }
    return entry;
  }
}

/**
 * A room: every member's presence entry (local and, with a backplane, remote) plus the local
 * connections that receive its frames. Freed by the engine when both are empty.
 */
export class Room {
  readonly id: string;
  /** Local connections that receive the room's frames. */
  readonly local = new Set<Connection>();
  /** Local connections whose `room_joined` is still being prepared; they collect chat frames in `held`. */
  readonly joining = new Set<Connection>();
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
