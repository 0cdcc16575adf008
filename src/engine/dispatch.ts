import { ErrorCodes, ProtocolError } from "../errors.ts";
import { CloseCodes } from "../protocol/codes.ts";
import {
  MSG_BROADCAST_EVENT,
  MSG_GET_CHAT_HISTORY,
  MSG_JOIN_ROOM,
  MSG_LEAVE_ROOM,
  MSG_SEND_CHAT,
  MSG_UPDATE_PRESENCE,
  type ClientMessage,
  type JoinRoomPayload,
  type RoomPermissions,
} from "../protocol/messages.ts";
import { createMessageParser } from "../protocol/validate.ts";
import type { ChatActions } from "./chat.ts";
import type { Connection } from "./connection.ts";
import type { EngineContext } from "./context.ts";
import type { EventActions } from "./events.ts";
import type { Membership } from "./membership.ts";
import type { ReceiveCounter } from "./metrics.ts";
import type { PresenceActions } from "./presence.ts";

/** Counts nothing (a dispatch built without metrics). */
const UNCOUNTED: ReceiveCounter = { messageReceived() {}, frameReceived() {} };

/** Whether a member with `permissions` may send `msg` (reading messages are always allowed). */
function mayWrite(permissions: RoomPermissions, msg: ClientMessage): boolean {
  switch (msg.type) {
    case MSG_UPDATE_PRESENCE:
      return permissions.presence === "write";
    case MSG_BROADCAST_EVENT:
      return permissions.events === "write";
    case MSG_SEND_CHAT:
      return permissions.chat === "write";
    default:
      return true;
  }
}

/** Frames that may wait behind an in-flight join; past either bound the frame is refused. */
const MAX_BACKLOG_FRAMES = 256;
const MAX_BACKLOG_SIZE = 1024 * 1024;

export interface Actions {
  membership: Membership;
  presence: PresenceActions;
  events: EventActions;
  chat: ChatActions;
}

/**
 * Turns each raw frame into an action, in the order the connection sent them: while a join is in
 * flight, later frames wait in the connection's backlog (bounded in frames and in size) and run once
 * it ends. A frame that fails validation gets an `error` with its code; the connection stays open.
 */
export class Dispatch {
  private readonly ctx: EngineContext;
  private readonly actions: Actions;
  private readonly parse: ReturnType<typeof createMessageParser>;
  private readonly counter: ReceiveCounter;

  constructor(ctx: EngineContext, actions: Actions, counter: ReceiveCounter = UNCOUNTED) {
    this.ctx = ctx;
    this.actions = actions;
    this.parse = createMessageParser(ctx.options);
    this.counter = counter;
  }

  /**
   * A frame arrived: run it now, or queue it behind an in-flight join. Every frame is counted once: by
   * its parsed type when it runs at once, else by its head on arrival (refused, or queued: it may never run).
   */
  readonly receive = (conn: Connection, raw: string): void => {
    const { send, guard } = this.ctx;
    const verdict = guard.takeFrame(conn, raw.length);
    if (verdict !== "ok") this.counter.frameReceived(raw);
    switch (verdict) {
      case "ok":
        break;
      case "drop":
        return;
      case "warn":
        return send.error(conn, ErrorCodes.RATE_LIMITED, "Too many messages: slow down; this one was dropped");
      case "close":
        return this.ctx.drop(conn, CloseCodes.POLICY_VIOLATION, "Rate limit exceeded");
    }
    const work = conn.work;
    const backlog = work?.backlog;
    if (!backlog) return this.run(conn, raw, true);
    this.counter.frameReceived(raw);
    if (backlog.length >= MAX_BACKLOG_FRAMES || work.backlogSize! + raw.length > MAX_BACKLOG_SIZE) {
      return send.error(conn, ErrorCodes.INTERNAL_ERROR, "Too many messages while joining; this one was dropped");
    }
    backlog.push(raw);
    work.backlogSize! += raw.length;
  };

  /** Handle one frame (`count`: not counted yet), reporting a failure instead of letting it escape into the socket layer. */
  private run(conn: Connection, raw: string, count: boolean): void {
    try {
      this.handle(conn, raw, count);
    } catch (error) {
      this.ctx.report(error, { stage: "message" });
      this.ctx.send.error(conn, ErrorCodes.INTERNAL_ERROR, "The server failed to handle this message");
    }
  }

  private handle(conn: Connection, raw: string, count: boolean): void {
    const { send } = this.ctx;
    const { membership, presence, events, chat } = this.actions;
    let msg: ClientMessage;
    try {
      msg = this.parse(raw);
    } catch (error) {
      if (count) this.counter.frameReceived(raw);
      if (error instanceof ProtocolError) return send.error(conn, error.code, error.message);
      throw error;
    }
    if (count) this.counter.messageReceived(msg.type);
    if (msg.type === MSG_JOIN_ROOM) return this.join(conn, msg.payload);
    if (!conn.room) return send.error(conn, ErrorCodes.NOT_IN_ROOM, `${msg.type} needs a room: send join_room first`);
    if (conn.permissions && !mayWrite(conn.permissions, msg)) {
      const id = msg.type === MSG_SEND_CHAT ? msg.payload.clientMessageId : undefined;
      return send.error(conn, ErrorCodes.FORBIDDEN, `${msg.type} is not allowed: this member may only read in this room`, id);
    }
    switch (msg.type) {
      case MSG_LEAVE_ROOM:
        return membership.leave(conn);
      case MSG_UPDATE_PRESENCE:
        return presence.update(conn, msg.payload.presence);
      case MSG_BROADCAST_EVENT:
        return events.relay(conn, msg.payload);
      case MSG_SEND_CHAT:
        return chat.send(conn, msg.payload);
      case MSG_GET_CHAT_HISTORY:
        return chat.history(conn, msg.payload);
    }
  }

  /** A join holds back the connection's later frames until it ends. */
  private join(conn: Connection, payload: JoinRoomPayload): void {
    const { membership } = this.actions;
    const work = conn.busy();
    work.backlog = [];
    work.backlogSize = 0;
    membership
      .join(conn, payload)
      .catch((error) => {
        this.ctx.report(error, { stage: "message" });
        if (conn.closed) return;
        // Never left half-joined: a joiner that will not get room_joined must not sit in the room collecting chats.
        membership.leave(conn);
        this.ctx.send.error(conn, ErrorCodes.INTERNAL_ERROR, "join_room failed inside the server; you are in no room, join again");
      })
      .finally(() => this.drain(conn));
  }

  /** Run the frames that waited behind a join, in order, until one of them starts another join. */
  private drain(conn: Connection): void {
    const work = conn.work;
    const backlog = work?.backlog;
    if (!work || !backlog) return;
    work.backlog = undefined;
    conn.settle();
    for (let i = 0; i < backlog.length; i++) {
      if (conn.closed) return;
      const pending = conn.work?.backlog; // set again if a frame below started a join
      if (pending) {
        pending.push(...backlog.slice(i));
        return;
      }
      this.run(conn, backlog[i]!, false);
    }
  }
}
