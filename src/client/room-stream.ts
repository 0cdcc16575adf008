import type { RoomJoinedPayload, StreamPosition } from "../protocol/messages.ts";
import { newClientMessageId } from "./outbox.ts";

/** A rejoin the server could not replay: messages between `since` and `offset` may be missing. */
export interface StreamGap {
  roomId: string;
  /** What the client held (`undefined`: it asked with no position). */
  since: StreamPosition | undefined;
  /** The room's offset and epoch now: live messages continue from here. */
  offset: number;
  epoch: string;
}

/** A `broadcast_event` body as sent; with a `clientMessageId` it is retried until acknowledged. */
export interface EventBody {
  event: string;
  payload?: unknown;
  clientMessageId?: string;
}

/**
 * The room's stream as this client holds it (a server with streams): the position a rejoin resumes
 * after, and the events sent and not yet acknowledged, sent again after a reconnect.
 */
export class RoomStream {
  /** Sent with every join (`join_room.resumeKey`): a replay leaves out the events this client sent. */
  readonly resumeKey = newClientMessageId();
  /** How far this client holds the room's stream; a rejoin asks for what follows. */
  private position: StreamPosition | undefined;
  /** The position the current join asked to resume after. */
  private askedSince: StreamPosition | undefined;
  /** Events sent with a `clientMessageId` and not yet acknowledged, oldest first: sent again after a reconnect. */
  private readonly unacked = new Map<string, EventBody & { clientMessageId: string }>();
  private readonly maxQueued: number;
  /** Called when a rejoin could not get everything missed (`recovered: false`). */
  private readonly onGap: (gap: StreamGap) => void;

  constructor(maxQueued: number, onGap: (gap: StreamGap) => void) {
    this.maxQueued = maxQueued;
    this.onGap = onGap;
  }

  /** A join goes out: the position it asks to resume after (a copy of what is held), if any. */
  ask(): StreamPosition | undefined {
    this.askedSince = this.position && { ...this.position };
    return this.askedSince;
  }

  /** A room message's offset: false when it is one the client already holds. */
  advance(offset: unknown): boolean {
    if (typeof offset !== "number" || !this.position) return true;
    if (offset <= this.position.offset) return false;
    this.position.offset = offset;
    return true;
  }

  /** `room_joined` from a server with streams: where the stream continues, and whether the rejoin lost some. */
  joined(roomId: string, payload: RoomJoinedPayload): boolean | null {
    if (typeof payload.offset !== "number" || typeof payload.epoch !== "string") {
      this.position = undefined;
      return null;
    }
    const since = this.askedSince;
    if (since && payload.recovered === true) return true; // the replay follows and moves the position on
    this.position = { offset: payload.offset, epoch: payload.epoch };
    if (!since) return null;
    this.onGap({ roomId, since, offset: payload.offset, epoch: payload.epoch });
    return false;
  }

  /** An event about to go out: to a server with streams it gets a `clientMessageId` and is kept until acknowledged. */
  track(body: EventBody): void {
    if (!this.position) return;
    body.clientMessageId = newClientMessageId();
    // Bounded: past the limit the oldest unacknowledged event is no longer retried.
    if (this.unacked.size >= this.maxQueued) this.unacked.delete(this.unacked.keys().next().value!);
    this.unacked.set(body.clientMessageId, body as EventBody & { clientMessageId: string });
  }

  /** The event was acknowledged, or refused for good: it is not sent again. */
  forget(clientMessageId: string): void {
    this.unacked.delete(clientMessageId);
  }

  /** The events to send again on a new socket, oldest first. */
  unacknowledged(): Iterable<EventBody> {
    return this.unacked.values();
  }

  /** Another room, or none: nothing held, nothing to resend. */
  reset(): void {
    this.position = undefined;
    this.askedSince = undefined;
    this.unacked.clear();
  }
}
