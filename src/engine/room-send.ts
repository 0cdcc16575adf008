import type { Backplane } from "../cluster/backplane.ts";
import { errorFrame } from "../protocol/frames.ts";
import type { Connection } from "./connection.ts";
import type { Fanout } from "./fanout.ts";
import { SENT_CHAT, SENT_EVENT, SENT_PRESENCE } from "./frame-types.ts";
import { countingFanout, recipients } from "./metered.ts";
import type { SendCounter } from "./metrics.ts";
import { createPresenceBatch, type PresenceBatch, type PresenceBatchOptions, type PresenceChange } from "./presence-batch.ts";
import { createReplayPacer, type ReplayPacer } from "./replay.ts";
import type { Room, RoomManager } from "./room.ts";
import type { SharedStreams } from "./shared-streams.ts";
import type { StreamLog } from "./streams.ts";
import { RoomWatch, watchedFanout } from "./room-watch.ts";

/** One room message: the finished client frame and what the backplane needs to route it. */
export interface RoomMessage {
  kind: "event" | "chat";
  /** The sender. */
  connectionId: string;
  frame: string;
  /** The stored message id, for `chat`: joiners whose `room_joined` is being prepared get it after. */
  chatId?: string;
  /** The publish's idempotency key (scoped to the room): a repeat within the streams' `ttlMs` is not published again. */
  key?: string;
  /** The sender's `join_room.resumeKey` (an event's): kept with the message, left out of that resumeKey's replays. */
  resumeKey?: string | undefined;
  /** An `event` joiners being prepared must still get after `room_joined` (`chat_deleted`: their history may hold the message). */
  hold?: boolean;
}

/** A room message as it went out: its frame (with its offset when streams are on). */
export interface Published {
  frame: string;
  offset?: number;
  /** Its idempotency key was seen: nothing was sent, `offset` is the first publish's. */
  duplicate?: boolean;
}

/**
 * The one way frames leave the engine. `publish` sends a room message to this instance's members
 * (except the sender where the kind says so) and forwards it once to the other instances when there
 * is a backplane, as crossws's `publish` + `sync` do. `deliver` is the local half alone, for messages
 * that came from another instance. Presence news goes through `presence` instead: batched per room per
 * tick (see presence-batch.ts), and a chat or event frame first flushes the joins and leaves before it.
 */
export interface RoomSend {
  publish(room: Room, message: RoomMessage, except?: Connection): Published | Promise<Published>;
  /** `publish` by room id: to local members if this instance has the room, and to the other instances. */
  publishById(roomId: string, message: RoomMessage): Published | Promise<Published>;
  deliver(room: Room, frame: string, chatId?: string, hold?: boolean): void;
  /** A room message in its room's offset order (shared streams): to local members except `except`, held for joiners. */
  deliverSequenced(room: Room, frame: string, chatId: string | undefined, except: Connection | undefined, offset: number): void;
  /** Sequence room messages in the backplane's shared state from now on (see shared-streams.ts). */
  shareStreams(shared: SharedStreams): void;
  /** Presence news about a local member: batched; joins and leaves reach shared state at once, the news crosses at the flush. */
  presence(room: Room, change: PresenceChange): Promise<void> | void;
  /** Presence news from another instance: batched for local members only. */
  remotePresence(room: Room, change: PresenceChange): void;
  /** `conn` just got its `room_joined` snapshot (a batch then pending may need a variant for it). */
  snapshotSent(room: Room, conn: Connection): void;
  /** Send every pending presence batch now. */
  flushPresence(): void;
  /** One frame to one connection. */
  to(conn: Connection, frame: string): void;
  /**
   * A rejoiner's missed room messages, in order, ahead of anything newer. Sent at the pace the
   * connection drains (never past `maxBufferedBytes`), holding its newer room messages behind them.
   */
  replay(room: Room, conn: Connection, frames: readonly string[]): void;
  /** `error { code, message }` to one connection (with the `clientMessageId` of the chat send it is about). */
  error(conn: Connection, code: string, message: string, clientMessageId?: string): void;
  /** Who watches rooms' frames (the admin page's live tail). */
  readonly watch: RoomWatch;
}

/** Counts nothing (an engine built without metrics). */
const UNCOUNTED: SendCounter = { sent() {}, frameSent() {}, errorSent() {} };

/** A room message to local members: a chat when it has its stored id, else an event. */
function localDelivery(fanout: Fanout, watch: RoomWatch, counter: SendCounter, batch: PresenceBatch, pacer: ReplayPacer) {
  return (room: Room, frame: string, chatId?: string, except?: Connection, offset?: number, hold?: boolean) => {
    batch.flushMembership(room);
    counter.sent(chatId === undefined ? SENT_EVENT : SENT_CHAT, recipients(room, except));
    if (room.replaying) pacer.publish(room, frame, except);
    else fanout.publish(room, frame, except);
    if (watch.watching) watch.seen(room.id, frame);
    // A held `hold` event gets chat id "": no history holds it, so a joiner always gets it.
    if (room.joining.size > 0 && (chatId !== undefined || offset !== undefined || hold))
      room.hold(frame, chatId ?? (hold ? "" : undefined), offset);
  };
}

/**
 * The send path over `fanout`. Every frame is counted in `counter` where it is sent, by the kind the
 * sender knows (room messages, presence news, errors); only the one-off frames of `to` are classified
 * by their head.
 */
export function createRoomSend(
  rooms: RoomManager,
  fanout: Fanout,
  backplane: Backplane | undefined,
  batchOptions: Pick<PresenceBatchOptions, "batchMs" | "budget" | "maxSnapshot" | "report">,
  counter: SendCounter = UNCOUNTED,
  streams?: StreamLog,
  budget = 2 * 1024 * 1024,
): RoomSend {
  const watch = new RoomWatch();
  const presenceFanout = countingFanout(watchedFanout(fanout, watch), (n) => counter.sent(SENT_PRESENCE, n));
  const batch = createPresenceBatch({ fanout: presenceFanout, backplane, ...batchOptions });
  const pacer = createReplayPacer(fanout, budget);
  let shared: SharedStreams | undefined;
  const deliver = localDelivery(fanout, watch, counter, batch, pacer);
  const forward = (roomId: string, message: RoomMessage, frame: string) =>
    backplane?.publish({ kind: message.kind, roomId, connectionId: message.connectionId, frame });
  /**
   * Here and (unless `localOnly`) to the other instances, with the room's next offset from this
   * instance's streams when they are on.
   */
  const publishHere = (roomId: string, message: RoomMessage, except?: Connection, localOnly = false): Published => {
    // A chat's key is only remembered (for the offset of a repeat's answer): whether it repeats is the storage's call.
    const seen = streams && message.kind === "event" && message.key !== undefined ? streams.remembered(roomId, message.key) : undefined;
    if (seen !== undefined) return { frame: message.frame, offset: seen, duplicate: true };
    const out: Published = streams ? streams.append(roomId, message.frame, message.key, message.resumeKey) : { frame: message.frame };
    const room = rooms.get(roomId);
    if (room) deliver(room, out.frame, message.chatId, except, out.offset, message.hold);
    else if (watch.watching) watch.seen(roomId, out.frame);
    if (!localOnly) forward(roomId, message, out.frame);
    return out;
  };
  // Shared streams could not sequence it: local members only. Sent to the others without an offset, it
  // could overtake sequenced messages there (a Redis Cluster node cut, the client still "ready").
  const unsequenced = (roomId: string, message: RoomMessage, except?: Connection) => () => publishHere(roomId, message, except, true);
  /** Sequenced in shared state: local members get it back from the room's channel; a tail of a room not held here gets it now. */
  const publishShared = (shared: SharedStreams, roomId: string, message: RoomMessage, except?: Connection) => {
    const sent = shared.publish(roomId, message, unsequenced(roomId, message, except));
    if (!watch.watching || rooms.get(roomId)) return sent;
    // Without an offset it went through `publishHere` (shared state unreachable), which showed it already.
    return sent.then((out) => {
      if (out.offset !== undefined && !out.duplicate) watch.seen(roomId, out.frame);
      return out;
    });
  };
  const send: RoomSend = {
    watch,
    publish: (room, message, except) => (shared ? publishShared(shared, room.id, message, except) : publishHere(room.id, message, except)),
    publishById: (roomId, message) => (shared ? publishShared(shared, roomId, message) : publishHere(roomId, message)),
    deliver: (room, frame, chatId, hold) => deliver(room, frame, chatId, undefined, undefined, hold),
    deliverSequenced: (room, frame, chatId, except, offset) => deliver(room, frame, chatId, except, offset),
    replay(room, conn, frames) {
      if (!conn.closed) for (const frame of frames) counter.frameSent(frame, 1);
      pacer.replay(room, conn, frames);
    },
    presence: (room, change) => batch.record(room, change, true),
    remotePresence: (room, change) => batch.record(room, change, false),
    snapshotSent: batch.snapshotSent,
    flushPresence: batch.flushAll,
    to(conn, frame) {
      if (!conn.closed) counter.frameSent(frame, 1);
      fanout.send(conn, frame);
    },
    error(conn, code, message, clientMessageId) {
      if (!conn.closed) counter.errorSent(code);
      fanout.send(conn, errorFrame(code, message, clientMessageId));
    },
    shareStreams(streamsAcross) {
      shared = streamsAcross;
    },
  };
  return send;
}
