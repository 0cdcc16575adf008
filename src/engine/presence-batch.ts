import type { Backplane, MemberChange, PresenceNews } from "../cluster/backplane.ts";
import { presenceBatchFrame, type BatchItem } from "../protocol/frames.ts";
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

/** A member's news of the window. `seq` orders it against the snapshots taken in the window. */
interface Change extends PresenceChange {
  /** The member was in the room when the window opened. */
  wasThere: boolean;
  /** A member of this instance: its news crosses the backplane at the flush. */
  local: boolean;
  /** The entry its (latest) join wrote to shared state in this window. */
  stored: string | undefined;
  seq: number;
  joinSeq: number;
}

interface Pending {
  changes: Map<string, Change>;
  /** Members that joined and left inside the window, with when they left: told to nobody, except recipients whose snapshot showed them. */
  cancelled: Map<string, { seq: number; local: boolean }>;
  /** Local connections whose `room_joined` went out inside the window, with the `seq` it reflects. */
  fresh: Map<Connection, number> | undefined;
  seq: number;
  /** A join or leave is pending: chat and event frames flush the batch first, so they never overtake it. */
  membership: boolean;
  timer: ReturnType<typeof setTimeout>;
}

/** A list item and the `seq` of its member's newest news and of its (latest) join. */
type Item = BatchItem & { seq: number; joinSeq: number };

/** A window's news as list items for local clients, and the local members that have an entry in it. */
interface Lists {
  joined: Item[];
  updated: Item[];
  left: Item[];
  own: Set<Connection>;
}

export interface PresenceBatchOptions {
  fanout: Fanout;
  backplane: Backplane | undefined;
  /** How long a room collects presence news before it goes out as one frame. */
  batchMs: number;
  /** Most presence frames one room sends per second, all its members together: a big room's window grows to stay within it. */
  budget: number;
  /** Past this many members, batched frames also carry `memberCount` (clients hold a capped snapshot). */
  maxSnapshot: number;
  report(error: unknown, context: { stage: "message" }): void;
}

const idJson = (id: string): BatchItem => ({ id, json: JSON.stringify(id) });
const entryItem = (m: { connectionId: string; entry: string }): BatchItem => ({ id: m.connectionId, json: m.entry });

/** Fold news about a member that already has news in this window into it. */
function merge(p: Pending, prev: Change, change: PresenceChange, local: boolean, seq: number): void {
  prev.local ||= local;
  prev.seq = seq;
  prev.conn = change.conn ?? prev.conn;
  if (change.kind === "left") {
    if (prev.wasThere) {
      prev.kind = "left";
      prev.entry = undefined;
    } else {
      p.changes.delete(prev.connectionId);
      p.cancelled.set(prev.connectionId, { seq, local: prev.local });
    }
    return;
  }
  prev.entry = change.entry;
  // Left and came back inside the window: those who saw it before see a new entry, nothing joined.
  if (change.kind === "joined") {
    prev.joinSeq = seq;
    prev.stored = change.entry;
  }
  if (prev.kind === "left") prev.kind = prev.wasThere ? "updated" : "joined";
  else if (change.kind === "joined" && !prev.wasThere) prev.kind = "joined";
}

/** Add news about a member to the window's: its first, or folded into what it already has. */
function addNews(p: Pending, change: PresenceChange, local: boolean): void {
  const { kind, connectionId: id, entry } = change;
  const seq = ++p.seq;
  p.cancelled.delete(id);
  if (kind !== "updated") p.membership = true;
  const prev = p.changes.get(id);
  if (prev) return merge(p, prev, change, local, seq);
  const stored = kind === "joined" ? entry : undefined;
  p.changes.set(id, { ...change, wasThere: kind !== "joined", local, stored, seq, joinSeq: seq });
}

/** The window's news as list items, and the local members with an entry in it. */
function collect(room: Room, p: Pending): Lists {
  const lists: Lists = { joined: [], updated: [], left: [], own: new Set() };
  for (const change of p.changes.values()) {
    const id = change.connectionId;
    lists[change.kind].push({ id, json: change.entry ?? JSON.stringify(id), seq: change.seq, joinSeq: change.joinSeq });
    const conn = change.conn;
    if (conn && change.kind !== "left" && conn.room === room && room.local.has(conn)) lists.own.add(conn);
  }
  return lists;
}

/** The window's local news to the other instances: its updates into shared state, then one message. */
function forward(backplane: Backplane, room: Room, p: Pending): void {
  const news: PresenceNews = { joined: [], updated: [], left: [] };
  const writes: MemberChange[] = [];
  for (const c of p.changes.values()) {
    if (!c.local) continue;
    const id = c.connectionId;
    if (c.kind === "left") {
      news.left.push(id);
      continue;
    }
    news[c.kind].push({ connectionId: id, entry: c.entry! });
    if (c.entry !== c.stored) writes.push({ kind: "updated", connectionId: id, entry: c.entry });
  }
  for (const [id, c] of p.cancelled) if (c.local) news.left.push(id);
  const frame = presenceBatchFrame(room.id, news.joined.map(entryItem), news.updated.map(entryItem), news.left.map(idJson));
  if (frame === undefined) return;
  if (writes.length > 0) backplane.store(room.id, writes);
  backplane.publish({ kind: "presence", roomId: room.id, frame, presence: news });
}

/** The window's news to this instance's members: one shared frame, and variants for the members that need one. */
function deliver(fanout: Fanout, maxSnapshot: number, room: Room, p: Pending, lists: Lists): void {
  const fresh = new Map<Connection, number>();
  for (const [conn, seq] of p.fresh ?? []) if (room.local.has(conn)) fresh.set(conn, seq);
  // Nothing to tell, unless a snapshot taken in the window showed members that are gone now.
  if (p.changes.size === 0 && (fresh.size === 0 || p.cancelled.size === 0)) return;
  const count = room.members.size > maxSnapshot ? room.members.size : undefined;
  const shared = presenceBatchFrame(room.id, lists.joined, lists.updated, lists.left, count);
  if (lists.own.size === 0 && fresh.size === 0) return fanout.publish(room, shared!, undefined);
  // Members with news of their own get the frame without it; members whose snapshot is from this window
  // get only what came after it, and the members it showed that left since (cancelled ones included).
  const special = new Set([...lists.own, ...fresh.keys()]);
  if (shared !== undefined) publishExcept(fanout, room, shared, special);
  const cancelled = Array.from(p.cancelled, ([id, c]): Item => ({ ...idJson(id), seq: c.seq, joinSeq: c.seq }));
  for (const conn of special) {
    const frame = variant(room.id, conn, fresh.get(conn) ?? -1, lists, cancelled, count);
    if (frame !== undefined) fanout.send(conn, frame);
  }
}

/** The frame for `conn`: without its own entry, and only news after `after` (the `seq` its snapshot reflects). */
function variant(
  roomId: string,
  conn: Connection,
  after: number,
  lists: Lists,
  cancelled: Item[],
  count: number | undefined,
): string | undefined {
  const keep = (item: Item) => item.id !== conn.id && item.seq > after;
  const gone = after < 0 ? lists.left : [...lists.left, ...cancelled].filter(keep);
  // A member that joined before this snapshot is in it already: what changed since is an update.
  const news = lists.joined.filter(keep);
  const fresher = news.filter((item) => item.joinSeq > after);
  const updated = lists.updated.filter(keep);
  const moved = fresher.length === news.length ? updated : [...updated, ...news.filter((item) => item.joinSeq <= after)];
  return presenceBatchFrame(roomId, fresher, moved, gone, count);
}

function publishExcept(fanout: Fanout, room: Room, frame: string, skip: ReadonlySet<Connection>): void {
  if (fanout.publishExcept) return fanout.publishExcept(room, frame, skip);
  if (skip.size === 1) return fanout.publish(room, frame, skip.values().next().value);
  for (const conn of room.local) if (!skip.has(conn)) fanout.send(conn, frame);
}

/**
 * Presence batched per room per tick. Joins, leaves and updates of one room within `batchMs` go out as
 * one `presence_updated` frame, encoded once for every member that has no entry in it; a member with an
 * entry gets a variant without its own entry (a member never receives its own presence). Each member
 * appears at most once, with its newest state; one that joined and left within the window appears in
 * neither list. The first news of an idle room goes out on the next timer turn, so a lone cursor is as
 * live as without batching.
 *
 * A room's budget bounds what its news costs: flushes are at least `local members / budget` seconds
 * apart (never less than `batchMs`), so a room sends at most about `budget` presence frames a second
 * however big it is and however its members arrive. A room of up to `budget × batchMs / 1000` members
 * keeps the `batchMs` window; past that its news waits longer (a 5,000-member room at 2,000 frames a
 * second: 2.5 s). Chat and event frames still flush pending joins and leaves first.
 *
 * Across instances: a local join or leave reaches shared state at once (`backplane.store`), and the
 * window's local news crosses as one `presence` message per room at the flush (its updates stored just
 * before it), so another instance gets at most one presence message per room per window from this one.
 */
export function createPresenceBatch({ fanout, backplane, batchMs, budget, maxSnapshot, report }: PresenceBatchOptions) {
  const pending = new Map<Room, Pending>();
  const lastFlush = new WeakMap<Room, number>();

  /**
   * How long until `room` may flush: a flush costs one frame per local member, so flushes at least
   * `members / budget` seconds apart keep the room within its budget whatever the pace of news. Members
   * arriving one by one, each in a window of its own, cost n²/2 frames for n members (2,000 joiners
   * 25 ms apart: 2 million frames); with the budget they cost `budget` frames a second.
   */
  function wait(room: Room): number {
    const windowMs = Math.max(batchMs, (room.local.size * 1000) / budget);
    return (lastFlush.get(room) ?? Number.NEGATIVE_INFINITY) + windowMs - Date.now();
  }

  function open(room: Room): Pending {
    let p = pending.get(room);
    if (p) return p;
    const timer = backgroundTimeout(() => timed(room), Math.max(0, wait(room)));
    p = { changes: new Map(), cancelled: new Map(), fresh: undefined, seq: 0, membership: false, timer };
    pending.set(room, p);
    return p;
  }

  function timed(room: Room): void {
    // A timer callback has no caller to catch for it: a throw here would end the process.
    try {
      // Members that joined during the window made the room bigger: its window grows before it flushes.
      const p = pending.get(room);
      const left = wait(room);
      if (p && left > 0) p.timer = backgroundTimeout(() => timed(room), left);
      else flush(room);
    } catch (error) {
      report(error, { stage: "message" });
    }
  }

  /** Record news about a member of `room`; `local` when the member is on this instance. */
  function record(room: Room, change: PresenceChange, local: boolean): Promise<void> | void {
    const { kind, connectionId: id, entry } = change;
    // Shared state learns joins and leaves at once, so a joiner elsewhere reads an exact room.
    const stored = local && kind !== "updated" ? backplane?.store(room.id, [{ kind, connectionId: id, entry }]) : undefined;
    addNews(open(room), change, local);
    return stored;
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
    if (backplane) forward(backplane, room, p);
    deliver(fanout, maxSnapshot, room, p, collect(room, p));
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
