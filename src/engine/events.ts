import { ErrorCodes } from "../protocol/codes.ts";
import { eventFrame } from "../protocol/frames.ts";
import type { BroadcastEventPayload } from "../protocol/messages.ts";
import { contextOf } from "./app-hooks.ts";
import { type Connection, inOrder } from "./connection.ts";
import type { EngineContext } from "./context.ts";

/**
 * `broadcast_event`: relayed to every other member of the sender's room, never echoed. With a
 * `beforeEvent` hook each event waits for it, in the order the connection sent them (`work.eventChain`);
 * without one nothing waits.
 */
export function createEvents(ctx: EngineContext) {
  const { send, hooks, report } = ctx;

  function publish(conn: Connection, roomId: string, payload: BroadcastEventPayload): void {
    const room = conn.room;
    if (!room || room.id !== roomId) return; // left (or moved on) while the hook ran
    const frame = eventFrame({ roomId, connectionId: conn.id, userId: conn.user?.userId, event: payload.event, payload: payload.payload });
    send.publish(room, { kind: "event", connectionId: conn.id, frame }, conn);
  }

  async function moderated(conn: Connection, roomId: string, payload: BroadcastEventPayload): Promise<void> {
    let out: BroadcastEventPayload | null;
    try {
      out = await hooks.beforeEvent!(payload, contextOf(conn, roomId));
    } catch (error) {
      report(error, { stage: "hook" });
      return send.error(
        conn,
        ErrorCodes.INTERNAL_ERROR,
        `The event "${payload.event}" could not be checked (beforeEvent failed); it was not sent`,
      );
    }
    if (out === null) return send.error(conn, ErrorCodes.REJECTED, `The event "${payload.event}" was refused; it was not sent`);
    publish(conn, roomId, out);
  }

  return {
    relay(conn: Connection, payload: BroadcastEventPayload): void {
      const roomId = conn.room!.id;
      if (!hooks.beforeEvent) return publish(conn, roomId, payload);
      inOrder(conn, "eventChain", () => moderated(conn, roomId, payload), report);
    },
  };
}

export type EventActions = ReturnType<typeof createEvents>;
