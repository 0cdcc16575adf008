import type { SharedStreamStore } from "../cluster/backplane.ts";
import { CloseCodes } from "../protocol/codes.ts";
import type { StreamPosition } from "../protocol/messages.ts";
import { backgroundTimeout, withTimeout } from "../util/async.ts";
import type { Connection } from "./connection.ts";
import type { HeldFrame, Room, RoomManager } from "./room.ts";
import type { Published, RoomMessage } from "./room-send.ts";
import { type ResolvedStreams, withOffset } from "./streams.ts";

/** The longest a publish waits for its own message to be delivered here before it answers. */
const DELIVERY_WAIT_MS = 2000;

/** How long an out-of-order message waits for the ones before it before they are read from the backlog. */
const GAP_MS = 100;

/** A message waiting for the ones before it. */
interface Waiting {
  frame: string;
  chatId: string | undefined;
  except: Connection | undefined;
}

/** One locally held room's place in its stream: what was delivered here, and what waits. */
interface RoomOrder {
  epoch: string;
  /** The next offset to deliver. */
  next: number;
  /** Ahead of `next`, by offset. */
  waiting: Map<number, Waiting>;
  /** A gap (or a suspect repeat) is being looked into. */
  checking: boolean;
  /** Publishes of this instance waiting until their offset was delivered here (see `publish`). */
  waiters?: { offset: number; resolve: () => void }[];
}

/** A sequenced message that arrived before its room's first read (see `SharedStreams.accept`). */
interface Early {
  frame: string;
  offset: number;
  chatId: string | undefined;
  sender: string | undefined;
}

/** What a rejoiner's `since` read found (see `fetch`). */
export interface Fetched {
  offset: number;
  epoch: string;
  entries: { at: number; offset: number; frame: string; except?: string }[];
}

export interface SharedStreamsOptions {
  store: SharedStreamStore;
  options: ResolvedStreams;
  rooms: RoomManager;
  /** Local delivery of one room message (fan-out, joiners' holds). */
  deliver(room: Room, frame: string, chatId: string | undefined, except: Connection | undefined, offset: number): void;
  /** Close a connection (the room's backlog was lost: its members rejoin and learn it). */
  drop(conn: Connection, code: number, reason: string): void;
  report(message: string, cause?: unknown): void;
}

/**
 * Room streams across instances: the backplane's shared state is the one authority per room (offsets,
 * backlog, idempotency keys), and each instance delivers a room's messages to its members in offset
 * order. A message that arrives ahead of its predecessors waits up to {@link GAP_MS}; a gap that does
 * not fill is read from the backlog. When the room's epoch changed (shared state lost), its local members
 * are closed with 1012 so they rejoin and learn it (`recovered: false`).
 */
export class SharedStreams {
  private readonly o: SharedStreamsOptions;
  private readonly orders = new Map<string, RoomOrder>();
  /** Rooms whose first read is in flight. */
  private readonly preparing = new Map<string, Promise<void>>();
  /** Sequenced messages that arrived while their room's first read was in flight (see `open`). */
  private readonly early = new Map<string, Early[]>();

  constructor(options: SharedStreamsOptions) {
    this.o = options;
  }

  /** Read the room's offset and epoch once it has a local member (after subscribing: nothing is missed). */
  prepare(room: Room, subscribed: Promise<void> | undefined): Promise<void> | undefined {
    if (this.orders.has(room.id)) return undefined;
    let pending = this.preparing.get(room.id);
    if (!pending) {
      pending = this.open(room, subscribed).finally(() => {
        this.preparing.delete(room.id);
        this.early.delete(room.id);
      });
      this.preparing.set(room.id, pending);
    }
    return pending;
  }

  private async open(room: Room, subscribed: Promise<void> | undefined): Promise<void> {
    await subscribed;
    const state = await this.o.store.read(room.id).catch((error) => this.o.report(`Could not read room "${room.id}"'s stream`, error));
    if (!state || this.o.rooms.get(room.id) !== room || this.orders.has(room.id)) return;
    const early = this.early.get(room.id) ?? [];
    // A joiner starts after the offset it is told (`room_joined.offset`); members already here were
    // told none (their join's read failed): they get everything from the first message that reached them.
    let next = state.offset + 1;
    if (room.local.size > 0) for (const e of early) next = Math.min(next, e.offset);
    this.orders.set(room.id, { epoch: state.epoch, next, waiting: new Map(), checking: false });
    for (const e of early) if (e.offset >= next) this.accept(room, e.frame, e.offset, e.chatId, e.sender);
  }

  /** The room's last local member left: forget its place. */
  release(room: Room): void {
    const order = this.orders.get(room.id);
    if (order) this.wake(order, true);
    this.orders.delete(room.id);
  }

  /** Where the room's stream is on this instance: its last delivered offset. */
  position(room: Room): StreamPosition | undefined {
    const order = this.orders.get(room.id);
    return order && { offset: order.next - 1, epoch: order.epoch };
  }

  /** Sequence `message` in shared state; it reaches local members in offset order. */
  async publish(roomId: string, message: RoomMessage, except: Connection | undefined, fallback: () => Published): Promise<Published> {
    // Chats are deduplicated by their storage (appendOnce): their keys are only remembered, for a repeat's answer.
    const { kind, connectionId, frame, key } = message;
    const request = {
      kind,
      roomId,
      connectionId,
      frame,
      key,
      rememberOnly: kind === "chat",
      except: kind === "event" ? connectionId : undefined,
    };
    const done = await this.o.store.sequence(request, this.o.options);
    // Shared state unreachable: served here without an offset, as without streams.
    if (!done) return fallback();
    if (done.duplicate) return { frame: message.frame, offset: done.offset, duplicate: true };
    // Local members get it from the room's channel, in offset order with everyone else's; the caller
    // goes on once it went out here, so what it sends next (an ack, a chat repeat) comes after it.
    await withTimeout(this.delivered(roomId, done.offset), DELIVERY_WAIT_MS, { fallback: undefined });
    return { frame: withOffset(message.frame, done.offset), offset: done.offset };
  }

  /** The offset the publish with `key` was given, while shared state remembers it (a repeated chat's answer). */
  remembered(roomId: string, key: string): Promise<number | undefined> {
    return this.o.store.remembered(roomId, key);
  }

  /** Resolves once `offset` was delivered on this instance (at once when it was, or the room is not here). */
  private delivered(roomId: string, offset: number): Promise<void> | undefined {
    const order = this.orders.get(roomId);
    if (!order || order.next > offset) return undefined;
    return new Promise((resolve) => (order.waiters ??= []).push({ offset, resolve }));
  }

  private wake(order: RoomOrder, all = false): void {
    const waiters = order.waiters;
    if (!waiters) return;
    order.waiters = waiters.filter((w) => {
      if (!all && w.offset >= order.next) return true;
      w.resolve();
      return false;
    });
    if (order.waiters.length === 0) order.waiters = undefined;
  }

  /**
   * A sequenced message from the room's channel (any instance's, this one's included); `sender`: the
   * connection id it is not sent to (an event's sender; chats go to their sender too).
   */
  accept(room: Room, frame: string, offset: number, chatId: string | undefined, sender: string | undefined): void {
    const order = this.orders.get(room.id);
    if (!order) return this.keepEarly(room, { frame, offset, chatId, sender });
    if (offset < order.next) return this.check(room, order); // a repeat after a gap fill, or a new epoch
    const except = localConnection(room, sender);
    if (offset > order.next) {
      order.waiting.set(offset, { frame, chatId, except });
      if (!order.checking) backgroundTimeout(() => this.check(room, order, true), GAP_MS);
      return;
    }
    this.o.deliver(room, frame, chatId, except, offset);
    order.next++;
    this.drain(room, order);
    this.wake(order);
  }

  /**
   * A message for a room not read yet: kept until the read answers (its offset may be after the read's).
   * Members here without a read (their join's read failed while Redis was away): read the room now.
   */
  private keepEarly(room: Room, message: Early): void {
    const early = this.early.get(room.id);
    if (early) return void early.push(message);
    if (!this.preparing.has(room.id) && room.local.size === 0) return;
    this.early.set(room.id, [message]);
    this.prepare(room, undefined);
  }

  /** What follows `since` in shared state, read while the rejoiner's join is prepared. */
  async fetch(roomId: string, since: number): Promise<Fetched | undefined> {
    const read = await this.o.store.read(roomId, since);
    return read?.entries ? { offset: read.offset, epoch: read.epoch, entries: read.entries } : undefined;
  }

  /**
   * The frames a rejoiner gets after `room_joined`, or `undefined` when something after `since` is gone:
   * the backlog read (up to what this instance delivered), then what was held for it meanwhile.
   */
  replay(room: Room, since: StreamPosition, fetched: Fetched | undefined, held: readonly HeldFrame[]): string[] | undefined {
    const order = this.orders.get(room.id);
    if (!order || !fetched || fetched.epoch !== order.epoch || since.epoch !== order.epoch) return undefined;
    const delivered = order.next - 1;
    if (since.offset > Math.max(delivered, fetched.offset)) return undefined; // ahead of the room
    const upTo = Math.min(delivered, fetched.offset);
    const oldest = Date.now() - this.o.options.ttlMs;
    const frames: string[] = [];
    let expect = since.offset + 1;
    for (const entry of fetched.entries) {
      if (entry.offset < expect || entry.offset > upTo) continue;
      if (entry.offset !== expect || entry.at < oldest) return undefined;
      frames.push(entry.frame);
      expect++;
    }
    if (expect <= upTo) return undefined;
    for (const h of held) {
      if (h.offset === undefined || h.offset < expect) continue;
      if (h.offset !== expect) return undefined;
      frames.push(h.frame);
      expect++;
    }
    return frames;
  }

  /** Every room: check its epoch (shared state may have been lost); read the rooms whose first read failed. */
  recheckAll(): void {
    for (const [roomId, order] of this.orders) {
      const room = this.o.rooms.get(roomId);
      if (room) this.check(room, order);
    }
    for (const room of this.o.rooms.rooms.values()) if (room.local.size > 0) this.prepare(room, undefined);
  }

  private drain(room: Room, order: RoomOrder): void {
    for (let w = order.waiting.get(order.next); w; w = order.waiting.get(order.next)) {
      order.waiting.delete(order.next);
      this.o.deliver(room, w.frame, w.chatId, w.except, order.next);
      order.next++;
    }
  }

  /** Read the backlog after what was delivered: fill a gap, or find a new epoch. */
  private check(room: Room, order: RoomOrder, gap = false): void {
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
  private fill(room: Room, order: RoomOrder, offset: number, entries: Fetched["entries"]): void {
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
function localConnection(room: Room, id: string | undefined): Connection | undefined {
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
