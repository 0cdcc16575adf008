import type { StreamPosition } from "../protocol/messages.ts";
import { backgroundTimeout, withTimeout } from "../util/async.ts";
import type { HeldFrame, Room, RoomManager } from "./room.ts";
import type { Published, RoomMessage } from "./room-send.ts";
import { GAP_MS, localConnection, type RoomOrder, StreamOrder, type StreamOrderOptions } from "./stream-order.ts";
import { type ResolvedStreams, withOffset } from "./streams.ts";

/** The longest a publish waits for its own message to be delivered here before it answers. */
const DELIVERY_WAIT_MS = 2000;

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
  entries: { at: number; offset: number; frame: string; except?: string; resumeKey?: string }[];
}

export interface SharedStreamsOptions extends StreamOrderOptions {
  options: ResolvedStreams;
  rooms: RoomManager;
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
  /** Delivery in offset order: gaps waited for, filled from the backlog, or found lost. */
  private readonly ordering: StreamOrder;
  /** Rooms whose first read is in flight. */
  private readonly preparing = new Map<string, Promise<void>>();
  /** Sequenced messages that arrived while their room's first read was in flight (see `open`). */
  private readonly early = new Map<string, Early[]>();

  constructor(options: SharedStreamsOptions) {
    this.o = options;
    this.ordering = new StreamOrder(options, this.orders);
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
    if (order) this.ordering.wake(order, true);
    this.orders.delete(room.id);
  }

  /** Where the room's stream is on this instance: its last delivered offset. */
  position(room: Room): StreamPosition | undefined {
    const order = this.orders.get(room.id);
    return order && { offset: order.next - 1, epoch: order.epoch };
  }

  /** Sequence `message` in shared state; it reaches local members in offset order. */
  async publish(roomId: string, message: RoomMessage, fallback: () => Published): Promise<Published> {
    // Chats are deduplicated by their storage (appendOnce): their keys are only remembered, for a repeat's answer.
    const { kind, connectionId, frame, key, resumeKey } = message;
    const request = {
      kind,
      roomId,
      connectionId,
      frame,
      key,
      rememberOnly: kind === "chat",
      except: kind === "event" ? connectionId : undefined,
      resumeKey,
    };
    const done = await this.o.store.sequence(request, this.o.options);
    // Shared state unreachable: served here without an offset, as without streams.
    if (done === undefined) return fallback();
    // Sent, its answer lost for good: if it was sequenced, it reaches every member from the room's
    // channel or backlog; served here too, it could be delivered twice.
    if (done === null) return { frame: message.frame };
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

  /**
   * A sequenced message from the room's channel (any instance's, this one's included); `sender`: the
   * connection id it is not sent to (an event's sender; chats go to their sender too).
   */
  accept(room: Room, frame: string, offset: number, chatId: string | undefined, sender: string | undefined): void {
    const order = this.orders.get(room.id);
    if (!order) return this.keepEarly(room, { frame, offset, chatId, sender });
    if (offset < order.next) return this.ordering.check(room, order); // a repeat after a gap fill, or a new epoch
    const except = localConnection(room, sender);
    if (offset > order.next) {
      order.waiting.set(offset, { frame, chatId, except });
      if (!order.checking) backgroundTimeout(() => this.ordering.check(room, order, true), GAP_MS);
      return;
    }
    this.o.deliver(room, frame, chatId, except, offset);
    order.next++;
    this.ordering.drain(room, order);
    this.ordering.wake(order);
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
   * the backlog read (up to what this instance delivered) but what was sent under `resumeKey`, then what
   * was held for it meanwhile.
   */
  replay(
    room: Room,
    since: StreamPosition,
    fetched: Fetched | undefined,
    held: readonly HeldFrame[],
    resumeKey?: string,
  ): string[] | undefined {
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
      if (resumeKey === undefined || entry.resumeKey !== resumeKey) frames.push(entry.frame);
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
      if (room) this.ordering.check(room, order);
    }
    for (const room of this.o.rooms.rooms.values()) if (room.local.size > 0) this.prepare(room, undefined);
  }
}
