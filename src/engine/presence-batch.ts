import type { Backplane } from "../cluster/backplane.ts";
import { leftFrame, presenceBatchFrame, presenceFrame, type BatchItem } from "../protocol/frames.ts";
import { backgroundTimeout } from "../util/async.ts";
import type { Connection } from "./connection.ts";
import type { Fanout } from "./fanout.ts";
import type { Room } from "./room.ts";

/** One member's presence news: `entry` is its entry as JSON (for `joined` and `updated`). */
export interface PresenceChange {
  kind: "joined" | "updated" | "left";
  connectionId: string;
  entry?: string;
  /** The local connection it is about; absent for members on other instances. */
  conn?: Connection;
}

interface Pending {
  /** Each member's news; `seq` orders it against the snapshots taken in the window. */
  changes: Map<string, PresenceChange & { wasThere: boolean; forward: boolean; announced: boolean; seq: number; joinSeq: number }>;
  /** Members that joined and left inside the window, with when they left: told to nobody, except recipients whose snapshot showed them. */
  cancelled: Map<string, number>;
  /** Local connections whose `room_joined` went out inside the window, with the `seq` it reflects. */
  fresh: Map<Connection, number> | undefined;
  seq: number;
  /** A join or leave is pending: chat and event frames flush the batch first, so they never overtake it. */
  membership: boolean;
  timer: ReturnType<typeof setTimeout>;
}

/** A list item and the `seq` of its member's newest news and of its (latest) join. */
type Item = BatchItem & { seq: number; joinSeq: number };

export interface PresenceBatchOptions {
  fanout: Fanout;
  backplane: Backplane | undefined;
  /** How long a room collects presence news before it goes out as one frame. */
  batchMs: number;
  /** Past this many members, batched frames also carry `memberCount` (clients hold a capped snapshot). */
  maxSnapshot: number;
  report(error: unknown, context: { stage: "message" }): void;
}

/**
 * Presence batched per room per tick. Joins, leaves and updates of one room within `batchMs` go out as
 * one `presence_updated` frame, encoded once for every member that has no entry in it; a member with an
 * entry gets a variant without its own entry (a member never receives its own presence). Each member
 * appears at most once, with its newest state; one that joined and left within the window appears in
 * neither list. The first news of an idle room goes out on the next timer turn, so a lone cursor is as
 * live as without batching. Local news crosses the backplane at the same flush: one message per member
 * at most per room per tick, in one backplane write.
 */
export function createPresenceBatch({ fanout, backplane, batchMs, maxSnapshot, report }: PresenceBatchOptions) {
  const pending = new Map<Room, Pending>();
  const lastFlush = new WeakMap<Room, number>();

  function open(room: Room): Pending {
    let p = pending.get(room);
    if (p) return p;
    const wait = Math.max(0, (lastFlush.get(room) ?? 0) + batchMs - Date.now());
    p = {
      changes: new Map(),
      cancelled: new Map(),
      fresh: undefined,
      seq: 0,
      membership: false,
      timer: backgroundTimeout(() => timed(room), wait),
    };
    pending.set(room, p);
    return p;
  }

  function timed(room: Room): void {
    // A timer callback has no caller to catch for it: a throw here would end the process.
    try {
      flush(room);
    } catch (error) {
      report(error, { stage: "message" });
    }
  }

  /** Record news about a member of `room`; `forward` when it is local news the other instances need. */
  function record(room: Room, change: PresenceChange, forward: boolean): void {
    // Joins and leaves reach the other instances (and shared state) at once, so a joiner there reads an
    // exact snapshot; only updates wait for the batch.
    const immediate = forward && change.kind !== "updated";
    if (immediate) forwardNow(room, change);
    const p = open(room);
    const id = change.connectionId;
    const seq = ++p.seq;
    p.cancelled.delete(id);
    if (change.kind !== "updated") p.membership = true;
    const prev = p.changes.get(id);
    if (!prev) {
      p.changes.set(id, {
        ...change,
        wasThere: change.kind !== "joined",
        forward: forward && !immediate,
        announced: immediate,
        seq,
        joinSeq: seq,
      });
      return;
    }
    prev.forward = immediate ? false : forward || prev.forward;
    if (immediate) prev.announced = true;
    prev.seq = seq;
    prev.conn = change.conn ?? prev.conn;
    if (change.kind === "left") {
      if (prev.wasThere) {
        prev.kind = "left";
        prev.entry = undefined;
      } else {
        p.changes.delete(id);
        p.cancelled.set(id, seq);
      }
      return;
    }
    prev.entry = change.entry;
    // Left and came back inside the window: those who saw it before see a new entry, nothing joined.
    if (change.kind === "joined") prev.joinSeq = seq;
    if (prev.kind === "left") prev.kind = prev.wasThere ? "updated" : "joined";
    else if (change.kind === "joined" && !prev.wasThere) prev.kind = "joined";
  }

  /** `conn` just got its `room_joined` snapshot of `room`: of this window's news it needs only what comes after. */
  function snapshotSent(room: Room, conn: Connection): void {
    const p = pending.get(room);
    if (p) (p.fresh ??= new Map()).set(conn, p.seq);
  }

  function flush(room: Room): void {
    const p = pending.get(room);
    if (!p) return;
    pending.delete(room);
    clearTimeout(p.timer);
    lastFlush.set(room, Date.now());

    const joined: Item[] = [];
    const updated: Item[] = [];
    const left: Item[] = [];
    const own = new Set<Connection>();
    for (const change of p.changes.values()) {
      const item = {
        id: change.connectionId,
        json: change.entry ?? JSON.stringify(change.connectionId),
        seq: change.seq,
        joinSeq: change.joinSeq,
      };
      (change.kind === "joined" ? joined : change.kind === "updated" ? updated : left).push(item);
      const conn = change.conn;
      if (conn && change.kind !== "left" && conn.room === room && room.local.has(conn)) own.add(conn);
      // A member announced at once and updated since: the others hear the update.
      if (change.forward) forwardNow(room, change.announced && change.kind === "joined" ? { ...change, kind: "updated" } : change);
    }
    const fresh = new Map<Connection, number>();
    for (const [conn, seq] of p.fresh ?? []) if (room.local.has(conn)) fresh.set(conn, seq);
    // Nothing to tell, unless a snapshot taken in the window showed members that are gone now.
    if (p.changes.size === 0 && (fresh.size === 0 || p.cancelled.size === 0)) return;

    const count = room.members.size > maxSnapshot ? room.members.size : undefined;
    const shared = presenceBatchFrame(room.id, joined, updated, left, count);
    if (own.size === 0 && fresh.size === 0) return fanout.publish(room, shared!, undefined);

    // Members with news of their own get the frame without it; members whose snapshot is from this window
    // get only what came after it, and the members it showed that left since (cancelled ones included).
    const special = new Set([...own, ...fresh.keys()]);
    if (shared !== undefined) publishExcept(room, shared, special);
    const cancelled = Array.from(p.cancelled, ([id, seq]) => ({ id, json: JSON.stringify(id), seq, joinSeq: seq }));
    for (const conn of special) {
      const after = fresh.get(conn) ?? -1;
      const keep = (item: Item) => item.id !== conn.id && item.seq > after;
      const gone = after < 0 ? left : [...left, ...cancelled].filter(keep);
      // A member that joined before this snapshot is in it already: what changed since is an update.
      const news = joined.filter(keep);
      const fresher = news.filter((item) => item.joinSeq > after);
      const moved =
        fresher.length === news.length ? updated.filter(keep) : [...updated.filter(keep), ...news.filter((item) => item.joinSeq <= after)];
      const frame = presenceBatchFrame(room.id, fresher, moved, gone, count);
      if (frame !== undefined) fanout.send(conn, frame);
    }
  }

  function publishExcept(room: Room, frame: string, skip: ReadonlySet<Connection>): void {
    if (fanout.publishExcept) return fanout.publishExcept(room, frame, skip);
    if (skip.size === 1) return fanout.publish(room, frame, skip.values().next().value);
    for (const conn of room.local) if (!skip.has(conn)) fanout.send(conn, frame);
  }

  function forwardNow(room: Room, change: PresenceChange): void {
    if (!backplane) return;
    const { kind, connectionId, entry } = change;
    const frame = kind === "left" ? leftFrame(room.id, [connectionId]) : presenceFrame(room.id, kind, entry!);
    backplane.publish({ kind, roomId: room.id, connectionId, frame, entry });
  }

  return {
    record,
    snapshotSent,
    flush,
    /** Send `room`'s pending joins and leaves now, before a chat or event frame that followed them. */
    flushMembership(room: Room): void {
      if (pending.get(room)?.membership) flush(room);
    },
    /** Send everything pending now (shutdown: the other instances hear every leave at once). */
    flushAll(): void {
      for (const room of [...pending.keys()]) flush(room);
    },
  };
}

export type PresenceBatch = ReturnType<typeof createPresenceBatch>;
