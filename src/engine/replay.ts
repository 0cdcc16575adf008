import { backgroundTimeout } from "../util/async.ts";
import type { Connection } from "./connection.ts";
import type { Fanout } from "./fanout.ts";
import type { Room } from "./room.ts";

/** How often a paced replay looks whether its connection drained. */
const PACE_MS = 5;

/**
 * Sends a rejoiner's missed messages without tripping the slow-consumer bound: as much as fits under
 * `budget` bytes queued on the socket, then the rest as the socket drains. While a connection's replay
 * is paced, the room's newer messages queue behind it for that connection alone (the others get them at
 * once), so it still receives every message once, in offset order. A replay that fits goes out at once.
 */
export function createReplayPacer(fanout: Fanout, budget: number) {
  const buffered = (conn: Connection) => fanout.buffered?.(conn) ?? conn.peer.bufferedAmount ?? 0;

  /** Send from `conn`'s queue while it fits; false when the queue is done (or the connection gone). */
  function drain(room: Room, conn: Connection, queue: string[]): boolean {
    if (conn.closed || conn.room !== room) return false;
    let sent = 0;
    while (sent < queue.length && buffered(conn) < budget) fanout.send(conn, queue[sent++]!);
    queue.splice(0, sent);
    return queue.length > 0;
  }

  function pace(room: Room, conn: Connection): void {
    const queue = room.replaying?.get(conn);
    if (!queue) return;
    if (drain(room, conn, queue)) {
      backgroundTimeout(() => pace(room, conn), PACE_MS);
      return;
    }
    room.replaying!.delete(conn);
    if (room.replaying!.size === 0) room.replaying = undefined;
  }

  return {
    replay(room: Room, conn: Connection, frames: readonly string[]): void {
      if (frames.length === 0) return;
      const queue = frames.slice();
      if (!drain(room, conn, queue)) return;
      (room.replaying ??= new Map()).set(conn, queue);
      backgroundTimeout(() => pace(room, conn), PACE_MS);
    },
    /** A room message while some members' replays are paced: queued for them, sent to the rest. */
    publish(room: Room, frame: string, except: Connection | undefined): void {
      const replaying = room.replaying!;
      const skip = new Set(replaying.keys());
      for (const [conn, queue] of replaying) if (conn !== except) queue.push(frame);
      if (except) skip.add(except);
      if (fanout.publishExcept) fanout.publishExcept(room, frame, skip);
      else for (const conn of room.local) if (!skip.has(conn)) fanout.send(conn, frame);
    },
  };
}

export type ReplayPacer = ReturnType<typeof createReplayPacer>;
