import type { SharedStreamStore } from "../cluster/backplane.ts";
import { CloseCodes } from "../protocol/codes.ts";
import { backgroundTimeout } from "../util/async.ts";
import type { Connection } from "./connection.ts";
import type { Room } from "./room.ts";

/** How long an out-of-order message waits for the ones before it before they are read from the backlog. */
export const GAP_MS = 100;

/** A message waiting for the ones before it. */
interface Waiting {
  frame: string;
  chatId: string | undefined;
  except: Connection | undefined;
}

/** One locally held room's place in its stream: what was delivered here, and what waits. */
export interface RoomOrder {
  epoch: string;
  /** The next offset to deliver. */
  next: number;
  /** Ahead of `next`, by offset. */
  waiting: Map<number, Waiting>;
  /** A gap (or a suspect repeat) is being looked into. */
  checking: boolean;
  /** Publishes of this instance waiting until their offset was delivered here (see `SharedStreams.publish`). */
  waiters?: { offset: number; resolve: () => void }[];
}

export interface StreamOrderOptions {
  store: SharedStreamStore;
  /** Local delivery of one room message (fan-out, joiners' holds). */
  deliver(room: Room, frame: string, chatId: string | undefined, except: Connection | undefined, offset: number): void;
  /** Close a connection (the room's backlog was lost: its members rejoin and learn it). */
  drop(conn: Connection, code: number, reason: string): void;
  report(message: string, cause?: unknown): void;
}

/**
 * Each locally held room's delivery in offset order (see shared-streams.ts): what waits is delivered
 * once the offsets before it were; a gap that does not fill is read from the backlog; a gap the backlog
 * no longer holds, or a new epoch, closes the room's local members so they rejoin and learn it.
 */
export class StreamOrder {
  private readonly o: StreamOrderOptions;
  /** The rooms held here, by id (`SharedStreams`' own map). */
  private readonly orders: Map<string, RoomOrder>;

  constructor(options: StreamOrderOptions, orders: Map<string, RoomOrder>) {
    this.o = options;
    this.orders = orders;
  }

  /** Resolve the publishes waiting for an offset delivered by now (`all`: every one). */
  wake(order: RoomOrder, all = false): void {
    const waiters = order.waiters;
    if (!waiters) return;
    order.waiters = waiters.filter((w) => {
      if (!all && w.offset >= order.next) return true;
      w.resolve();
      return false;
    });
    if (order.waiters.length === 0) order.waiters = undefined;
  }

  /** Deliver what waited for `order.next`, in order. */
  drain(room: Room, order: RoomOrder): void {
    for (let w = order.waiting.get(order.next); w; w = order.waiting.get(order.next)) {
      order.waiting.delete(order.next);
      this.o.deliver(room, w.frame, w.chatId, w.except, order.next);
      order.next++;
    }
  }

  /** Read the backlog after what was delivered: fill a gap, or find a new epoch. */
  check(room: Room, order: RoomOrder, gap = false): void {
    if (order.checking || (gap && !order.waiting.size)) return;
    order.checking = true;
    this.o.store
      .read(room.id, order.next - 1)
      .then((read) => {
        if (!read || this.orders.get(room.id) !== order) return;
        if (read.epoch !== order.epoch) return this.restart(room, order, read.epoch, read.offset);
        this.fill(room, order, read.offset, read.entries ?? []);
      })
      .catch((error) => this.o.report(`Could not read room "${room.id}"'s stream`, error))
      .finally(() => {
        order.checking = false;
        if (order.waiting.size > 0 && this.orders.get(room.id) === order) backgroundTimeout(() => this.check(room, order, true), GAP_MS);
      });
  }

  /**
   * Deliver, in order, what a backlog read holds that was not delivered here. The read saw offsets up
   * to `offset` given and the backlog holding `entries` (the newest, consecutive): an offset past the
   * read's was given after it (it arrives, or the next read finds it); only one the read saw given and
   * the backlog no longer holds is gone, and skipped.
   */
  private fill(room: Room, order: RoomOrder, offset: number, entries: { offset: number; frame: string; except?: string }[]): void {
    const first = entries[0]?.offset ?? offset + 1;
    let i = 0;
    while (order.next <= offset) {
      const next = order.next;
      while (i < entries.length && entries[i]!.offset < next) i++;
      const waiting = order.waiting.get(next);
      const entry = entries[i];
      if (waiting) {
        order.waiting.delete(next);
        this.o.deliver(room, waiting.frame, waiting.chatId, waiting.except, next);
      } else if (entry?.offset === next) {
        this.o.deliver(room, entry.frame, chatIdOf(entry.frame), localConnection(room, entry.except), next);
      } else if (next < first) {
        this.lost(room, order, Math.min(first, ...[...order.waiting.keys()].filter((o) => o > next)));
        continue;
      } else break; // the backlog is consecutive, so not expected: the next read looks again
      order.next++;
    }
    this.drain(room, order);
    this.wake(order);
  }

  /**
   * Offsets from `order.next` up to `resume` were given but are gone from the backlog before they
   * reached this instance: its members have a gap. They are closed with 1012 so they rejoin and learn
   * it (`recovered: false`), as when the room's backlog was lost.
   */
  private lost(room: Room, order: RoomOrder, resume: number): void {
    this.o.report(`Room "${room.id}": messages ${order.next}..${resume - 1} were gone from the backlog before they reached this instance`);
    order.next = resume;
    for (const conn of room.local) this.o.drop(conn, CloseCodes.SERVICE_RESTART, "Room messages were lost; rejoin");
  }

  /** Shared state lost the room's backlog: start over in the new epoch; local members rejoin to learn it. */
  private restart(room: Room, order: RoomOrder, epoch: string, offset: number): void {
    // Members hold offsets of the old epoch only when some were delivered here; they rejoin to learn it.
    const held = order.next > 1;
    order.epoch = epoch;
    order.next = offset + 1;
    order.waiting.clear();
    this.wake(order, true);
    if (!held) return;
    for (const conn of [...room.local, ...room.joining.keys()])
      this.o.drop(conn, CloseCodes.SERVICE_RESTART, "The room's message backlog was lost; rejoin");
  }
}

/** The local connection with id `id`, if any (a message's sender here: it does not get its own event). */
export function localConnection(room: Room, id: string | undefined): Connection | undefined {
  if (id === undefined) return undefined;
  for (const conn of room.local) if (conn.id === id) return conn;
  return undefined;
}

/** The `id` of a `chat_message` frame read back from the backlog (joiners being prepared hold it). */
function chatIdOf(frame: string): string | undefined {
  if (!frame.startsWith('{"type":"chat_message"')) return undefined;
  try {
    return JSON.parse(frame).payload?.id;
  } catch {
    return undefined;
  }
}
