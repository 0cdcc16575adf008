import { eventFrame } from "../protocol/frames.ts";
import type { BroadcastEventPayload } from "../protocol/messages.ts";
import type { Connection } from "./connection.ts";
import type { EngineContext } from "./context.ts";

/** `broadcast_event`: relayed to every other member of the sender's room, never echoed. */
export function createEvents(ctx: EngineContext) {
  return {
    relay(conn: Connection, payload: BroadcastEventPayload): void {
      const room = conn.room!;
      const frame = eventFrame({
        roomId: room.id,
        connectionId: conn.id,
        userId: conn.user?.userId,
        event: payload.event,
        payload: payload.payload,
      });
      ctx.send.publish(room, { kind: "event", connectionId: conn.id, frame }, conn);
    },
  };
}

export type EventActions = ReturnType<typeof createEvents>;
