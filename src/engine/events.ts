import { ErrorCodes } from "../protocol/codes.ts";
import { eventAckFrame, eventFrameFrom, eventFrameHead } from "../protocol/frames.ts";
import type { BroadcastEventPayload } from "../protocol/messages.ts";
import { contextOf } from "./app-callbacks.ts";
import { type Connection, inOrder } from "./connection.ts";
import type { EngineContext } from "./context.ts";
import type { Published } from "./room-send.ts";

/**
 * A `clientMessageId`'s scope within its room, as chat's (see `clientScopeKey`): the sender's `userId`
 * when it has one, else one scope for every sender without (a connection id changes on reconnect).
 */
export function senderKey(conn: Connection, clientMessageId: string): string {
  const userId = conn.user?.userId;
  return userId ? JSON.stringify(["u", userId, clientMessageId]) : JSON.stringify(["anonymous", clientMessageId]);
}

/** The head of `conn`'s relayed events in `roomId`: made on its first event there, kept while room and user stay. */
function headOf(conn: Connection, roomId: string): string {
  const userId = conn.user?.userId;
  const cached = conn.eventHead;
  if (cached && cached.roomId === roomId && cached.userId === userId) return cached.head;
  const head = eventFrameHead(roomId, conn.id, userId);
  conn.eventHead = { roomId, userId, head };
  return head;
}

/**
 * `broadcast_event`: relayed to every other member of the sender's room, never echoed. With a
 * `beforeEvent` callback each event waits for it, in the order the connection sent them (`work.eventChain`);
 * without one nothing waits.
 */
export function createEvents(ctx: EngineContext) {
  const { send, callbacks, report } = ctx;

  function publish(conn: Connection, roomId: string, payload: BroadcastEventPayload, clientMessageId: string | undefined): void {
    const room = conn.room;
    if (!room || room.id !== roomId) return; // left (or moved on) while the callback ran
    const key = clientMessageId === undefined ? undefined : senderKey(conn, clientMessageId);
    const frame = eventFrameFrom(headOf(conn, roomId), payload.event, payload.payload);
    // A repeat of a key is relayed to nobody (the streams remember it); the sender gets the answer the first one got.
    const published = send.publish(room, { kind: "event", connectionId: conn.id, frame, key, resumeKey: conn.resumeKey }, conn);
    if (clientMessageId === undefined) return;
    const ack = ({ offset }: Published) =>
      send.to(conn, eventAckFrame(offset === undefined ? { roomId, clientMessageId } : { roomId, clientMessageId, offset }));
    if ("then" in published) published.then(ack, (error) => report(error, { stage: "message" }));
    else ack(published);
  }

  async function moderated(conn: Connection, roomId: string, payload: BroadcastEventPayload): Promise<void> {
    let out: BroadcastEventPayload | null;
    try {
      out = await callbacks.beforeEvent!(payload, contextOf(conn, roomId));
    } catch (error) {
      report(error, { stage: "callback" });
      return send.error(
        conn,
        ErrorCodes.INTERNAL_ERROR,
        `The event "${payload.event}" could not be checked (beforeEvent failed); it was not sent`,
        payload.clientMessageId,
      );
    }
    if (out === null)
      return send.error(conn, ErrorCodes.REJECTED, `The event "${payload.event}" was refused; it was not sent`, payload.clientMessageId);
    publish(conn, roomId, out, payload.clientMessageId);
  }

  return {
    relay(conn: Connection, payload: BroadcastEventPayload): void {
      const roomId = conn.room!.id;
      if (!callbacks.beforeEvent) return publish(conn, roomId, payload, payload.clientMessageId);
      inOrder(conn, "eventChain", () => moderated(conn, roomId, payload), report);
    },
  };
}

export type EventActions = ReturnType<typeof createEvents>;
