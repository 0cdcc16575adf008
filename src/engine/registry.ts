import { CloseCodes } from "../protocol/codes.ts";
import type { UserInfo } from "../protocol/messages.ts";
import { backgroundInterval, backgroundTimeout, nextTurn, withTimeout } from "../util/async.ts";
import { Connection, type PeerLike } from "./connection.ts";
import type { RoomManager } from "./room.ts";

/** Close a dropped socket outright if its closing handshake has not finished by then. */
export const TERMINATE_AFTER_MS = 1000;
/**
 * Connections one heartbeat turn pings; a round larger than this goes on in the next event-loop turns,
 * so 20,000 pings never hold up the frames of one turn for long.
 */
export const HEARTBEAT_SLICE = 2000;
/** setTimeout holds 2^31-1 ms at most; a token living longer is re-armed when that fires. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface RegistryOptions {
  rooms: RoomManager;
  closeOnTokenExpiry: boolean;
  /** The runtime closes on expiry itself (`RuntimeCapabilities.expiry`): no timer here. */
  expiry?: (conn: Connection, atMs: number, expire: () => void) => void;
  /** Leaves the connection's room and tells the room (membership). */
  remove(conn: Connection): void;
  /** The socket of `conn` closed; called once per connection. */
  released?(conn: Connection): void;
  /** A new connection was opened (the fan-out sets up its transport). */
  attach?(conn: Connection): void;
  /** Sends `conn` a heartbeat ping (the fan-out's pre-built frame); without it, `peer.ping()`. */
  ping?(conn: Connection): void;
  report(error: unknown, context: { stage: string }): void;
}

/**
 * Every open connection from open to close: the count, dropping (leave, close, terminate if it
 * lingers), token expiry, the heartbeat, and closing them all on shutdown. Where a connection is
 * (lobby or room) is the RoomManager's business; this module only adds and removes.
 */
export class Registry {
  private open = 0;
  private whenAllClosed: (() => void) | undefined;
  private readonly o: RegistryOptions;

  constructor(options: RegistryOptions) {
    this.o = options;
  }

  /** Open connections (dropped ones count until their socket closed). */
  get size(): number {
    return this.open;
  }

  opened(peer: PeerLike, user: UserInfo | undefined): Connection {
    const conn = new Connection(crypto.randomUUID(), peer, user, user !== undefined);
    this.o.rooms.admit(conn);
    this.open++;
    this.o.attach?.(conn);
    if (user) this.armExpiry(conn, user.exp);
    return conn;
  }

  /** A connection that was open before this process started (see `LiveEngine.restore`), under its old id. */
  restored(peer: PeerLike, id: string, user: UserInfo | undefined, verified: boolean): Connection {
    const conn = new Connection(id, peer, user, verified);
    this.o.rooms.admit(conn);
    this.open++;
    this.o.attach?.(conn);
    return conn;
  }

  /** The socket is gone (its close hook ran). */
  readonly closed = (conn: Connection): void => {
    this.open--;
    conn.closed = true;
    conn.clearTimers();
    this.o.remove(conn);
    this.o.released?.(conn);
    if (this.open === 0) this.whenAllClosed?.();
  };

  /** Leave the room at once, close the socket, and make sure it is gone shortly after. */
  readonly drop = (conn: Connection, code: number, reason: string): void => {
    if (conn.closed) return;
    conn.closed = true;
    conn.clearTimers();
    this.o.remove(conn);
    try {
      conn.peer.close(code, reason);
    } catch (error) {
      this.o.report(error, { stage: "close" });
    }
    backgroundTimeout(() => {
      try {
        conn.peer.terminate();
      } catch {} // already gone
    }, TERMINATE_AFTER_MS);
  };

  /** Close `conn` with 4401 when its token expires (`exp` in seconds), if `closeOnTokenExpiry`. */
  armExpiry(conn: Connection, exp: unknown): void {
    if (!this.o.closeOnTokenExpiry || typeof exp !== "number") return;
    const work = conn.busy();
    clearTimeout(work.expiryTimer);
    const delay = exp * 1000 - Date.now();
    if (delay <= 0) {
      work.expiryTimer = undefined;
      return this.drop(conn, CloseCodes.UNAUTHORIZED, "Token expired");
    }
    if (this.o.expiry) {
      work.expiryTimer = undefined;
      conn.settle();
      return this.o.expiry(conn, exp * 1000, () => this.drop(conn, CloseCodes.UNAUTHORIZED, "Token expired"));
    }
    work.expiryTimer = backgroundTimeout(() => this.armExpiry(conn, exp), Math.min(delay, MAX_TIMER_MS));
  }

  /**
   * The heartbeat: one timer for every connection (none per connection). Each interval it pings every
   * connection, and drops (4408) one that answered nothing, not a frame nor a pong, since the last ping.
   * A round walks a snapshot of the connections {@link HEARTBEAT_SLICE} at a time, one slice per
   * event-loop turn, and each ping is a write of the fan-out's pre-built frame where it has one.
   */
  startHeartbeat(intervalMs: number): () => void {
    let stopped = false;
    const timer = backgroundInterval(() => this.beat([...this.o.rooms.connections()], 0, () => stopped), intervalMs);
    return () => {
      stopped = true;
      clearInterval(timer);
    };
  }

  /** Pings (or drops) `snapshot[from…]`, one slice now and the rest in later turns. */
  private beat(snapshot: Connection[], from: number, stopped: () => boolean): void {
    const end = Math.min(snapshot.length, from + HEARTBEAT_SLICE);
    for (let i = from; i < end; i++) {
      const conn = snapshot[i] as Connection;
      if (conn.closed) continue;
      if (!conn.alive) {
        this.drop(conn, CloseCodes.HEARTBEAT_TIMEOUT, "No heartbeat answer");
        continue;
      }
      conn.alive = false;
      try {
        if (this.o.ping) this.o.ping(conn);
        else conn.peer.ping?.();
      } catch (error) {
        this.o.report(error, { stage: "heartbeat" });
      }
    }
    if (end < snapshot.length) nextTurn(() => !stopped() && this.beat(snapshot, end, stopped));
  }

  /** Close every connection with 1001; resolves once all closed, or when lingering ones were terminated. */
  async closeAll(): Promise<void> {
    const allClosed = new Promise<void>((resolve) => {
      this.whenAllClosed = resolve;
      if (this.open === 0) resolve();
    });
    for (const conn of [...this.o.rooms.connections()]) this.drop(conn, CloseCodes.GOING_AWAY, "Server is shutting down");
    // Sockets that never finish their closing handshake are terminated by drop(); don't wait past that.
    await withTimeout(allClosed, TERMINATE_AFTER_MS + 500, { fallback: undefined });
  }
}
