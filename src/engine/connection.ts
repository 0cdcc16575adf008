import type { OnError } from "../errors.ts";
import type { Presence, PresenceEntry, RoomPermissions, UserInfo } from "../protocol/messages.ts";
import type { Room } from "./room.ts";

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
 * What a connection needs to be put back after its process was evicted while its socket stayed open
 * (Durable Object hibernation): identity, and the room it is in with its presence entry. Plain JSON.
 */
export interface SavedConnection {
  id: string;
  user?: UserInfo;
  verified: boolean;
  /** The room it had joined (its `room_joined` was sent), with its entry in `room.members`. */
  room?: { id: string; entry: PresenceEntry };
}

/**
 * User fields never copied into presence entries: the entry's own keys, JWT registered claims and
 * token-internal claims that mean nothing to other members.
 */
const NOT_IN_ENTRY = new Set([
  "__proto__",
  "connectionId",
  "openlivesync", // the room grants claim (permissions.ts): not for other members to see
  "presence",
  "iss",
  "sub",
  "aud",
  "exp",
  "nbf",
  "iat",
  "jti",
  "azp",
  "at_hash",
  "c_hash",
  "nonce",
  "aio",
  "uti",
  "rh",
  "ver",
  "auth_time",
  "acr",
  "amr",
  "sid",
]);

const VERIFIED = 1;
const ALIVE = 2;
const CLOSED = 4;

/**
 * What a connection has in progress: frames waiting behind a join, a throttled presence send, chats
 * being stored, a token's expiry. Created on first need and dropped once nothing is pending, so an
 * idle connection carries no such object.
 */
export interface ConnectionWork {
  /** Raw frames that arrived while a join is in flight, handled in order once it ends. */
  backlog?: string[];
  /** Bytes (UTF-16 code units) held in `backlog`. */
  backlogSize?: number;
  /** The trailing presence send a throttled update waits for. */
  presenceTimer?: ReturnType<typeof setTimeout>;
  /** The last chat of this connection still being stored; the next one is chained behind it. */
  chatChain?: Promise<void>;
  /** The last `broadcast_event` waiting for `beforeEvent`; the next one is chained behind it. */
  eventChain?: Promise<void>;
  /** Chats sent and not yet stored (or refused). */
  chatsInFlight?: number;
  /** Closes the connection when the token behind its identity expires. */
  expiryTimer?: ReturnType<typeof setTimeout>;
}

/**
 * One WebSocket connection's state. Created on open, dropped on close.
 *
 * Idle connections are most of a server's memory, so this holds only what every connection needs;
 * anything in progress lives in `work`, created on demand ({@link Connection.busy}) and released
 * ({@link Connection.settle}) when nothing is pending. The three flags share one number.
 *
 * Where a connection is (lobby, a room's joining or local set) is changed only by {@link RoomManager}.
 */
export class Connection {
  readonly id: string;
  readonly peer: PeerLike;
  /** Identity; `verified` when it came from `onAuth` or a verified token. */
  user: UserInfo | undefined;
  /** The room it is joining or in; set by RoomManager only. */
  room: Room | undefined;
  /** This connection's entry in `room.members`; its `presence` is replaced on each update. */
  member: PresenceEntry | undefined;
  /** What it may send in its room when less than everything (`authorizeRoom` or its token); `undefined`: everything. */
  permissions: RoomPermissions | undefined;
  /** Presence throttle: when this connection's presence last went out. */
  lastPresenceAt = 0;
  /** The head of this connection's relayed events in the room it last sent one to (see `eventFrameHead`). */
  eventHead: { roomId: string; userId: string | undefined; head: string } | undefined;
  /** `join_room.resumeKey` of its last join: its events are tagged with it, and left out of its replays. */
  resumeKey: string | undefined;
  /** Adapter-owned per-connection data (e.g. the Node socket for corked writes). */
  transport: unknown;
  /** In-progress state; undefined while idle. */
  work: ConnectionWork | undefined;
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

  /** The in-progress state, created if this connection had none. */
  busy(): ConnectionWork {
    return (this.work ??= {});
  }

  /** Drop the in-progress object once nothing in it is pending. */
  settle(): void {
    const w = this.work;
    if (w && !w.backlog && !w.presenceTimer && !w.chatChain && !w.eventChain && !w.expiryTimer) this.work = undefined;
  }

  /** Stop every timer; called once when the connection closes. */
  clearTimers(): void {
    const w = this.work;
    if (!w) return;
    clearTimeout(w.presenceTimer);
    clearTimeout(w.expiryTimer);
    w.presenceTimer = w.expiryTimer = undefined;
    w.backlog = undefined;
    this.settle();
  }

  /** What {@link SavedConnection} keeps of it; a join still in progress is saved as no room. */
  saved(): SavedConnection {
    const { room, member } = this;
    const saved: SavedConnection = { id: this.id, verified: this.verified };
    if (this.user) saved.user = this.user;
    if (room && member && room.local.has(this)) saved.room = { id: room.id, entry: member };
    return saved;
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

/** Shared by every connection with nothing queued of a kind. */
const SETTLED: Promise<void> = Promise.resolve();

/**
 * Run `task` after the connection's previous task of the same kind (`slot`), so one connection's chats
 * (or moderated events) are handled in the order it sent them. The chain never rejects: a failure goes
 * to `report` (stage `message`) and the next task still runs. `after` runs once each task is done; when
 * the last queued task is done the slot is cleared and the connection settles.
 */
export function inOrder(
  conn: Connection,
  slot: "chatChain" | "eventChain",
  task: () => Promise<void>,
  report: OnError,
  after?: (work: ConnectionWork) => void,
): void {
  const work = conn.busy();
  const chain: Promise<void> = (work[slot] ?? SETTLED)
    .then(task)
    .catch((error) => report(error, { stage: "message" }))
    .finally(() => {
      const w = conn.work;
      if (!w) return;
      after?.(w);
      if (w[slot] === chain) {
        w[slot] = undefined;
        conn.settle();
      }
    });
  work[slot] = chain;
}
