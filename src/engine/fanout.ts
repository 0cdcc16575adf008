import type { Connection, Room } from "./room.ts";

/**
 * How encoded frames reach local sockets. The engine encodes each outgoing message once per room
 * broadcast and hands the one frame here; runtimes that can do better plug in their own:
 * the Node adapter corks and coalesces writes, the Bun adapter maps rooms onto native pub/sub.
 */
export interface Fanout {
  /** A connection opened: set up `conn.transport` if the fan-out needs per-socket data. */
  attach?(conn: Connection): void;
  /** A connection entered / left a room (native pub/sub topics). */
  join?(conn: Connection, room: Room): void;
  leave?(conn: Connection, room: Room): void;
  /** Send one frame to one connection. */
  send(conn: Connection, frame: string): void;
  /** Send one frame to every local member of `room` except `except`. */
  publish(room: Room, frame: string, except: Connection | undefined): void;
  /** Send one frame to every local member of `room` not in `skip` (batched presence); optional, the engine loops over `send` without it. */
  publishExcept?(room: Room, frame: string, skip: ReadonlySet<Connection>): void;
  /** Bytes queued for `conn` (what the bound compares); paced replays read it. Without it, `peer.bufferedAmount`. */
  buffered?(conn: Connection): number;
  /** A heartbeat ping to `conn` (Node: a pre-built frame on the socket); without it, `peer.ping()`. */
  ping?(conn: Connection): void;
}

export interface FanoutContext {
  /** Bytes a connection may have queued; past it the fan-out calls `overLimit`. */
  maxBufferedBytes: number;
  /** Called once a connection's queue passes the bound; the engine closes it (4429). */
  overLimit(conn: Connection): void;
}

export type CreateFanout = (ctx: FanoutContext) => Fanout;

/**
 * The portable fan-out: one `peer.send` of the same string per member. crossws's own `publish`
 * scans every peer on the path; the room's member set is what we already hold.
 */
export const createLoopFanout: CreateFanout = ({ maxBufferedBytes, overLimit }) => {
  const send = (conn: Connection, frame: string) => {
    if (conn.closed) return;
    conn.peer.send(frame);
    if ((conn.peer.bufferedAmount ?? 0) > maxBufferedBytes) overLimit(conn);
  };
  return {
    send,
    publish(room, frame, except) {
      for (const conn of room.local) if (conn !== except) send(conn, frame);
    },
    publishExcept(room, frame, skip) {
      for (const conn of room.local) if (!skip.has(conn)) send(conn, frame);
    },
  };
};
