import type { ChatMessagePayload, PresenceEntry, UserInfo } from "../protocol/messages.ts";
import type { Ban, BanInput } from "./bans.ts";

/** Who did something, as hooks and lifecycle observers see it. */
export interface HookContext {
  connectionId: string;
  /** The connection's identity, when it has one (`onAuth` or a `join_room` token). */
  user: UserInfo | undefined;
  roomId: string;
}

/** A chat message as `beforeChat` sees and may change it. */
export interface ChatDraft {
  message: string;
  metadata?: Record<string, unknown>;
}

/** A `broadcast_event` as `beforeEvent` sees and may change it. */
export interface EventDraft {
  event: string;
  payload?: unknown;
}

/** Options of the app hooks (see `WebSocketServerOptions`). */
export interface HookOptions {
  /** After a connection joined a room (its `room_joined` was sent). For audit and counters. */
  onJoin?: (ctx: HookContext) => void | Promise<void>;
  /** After a connection left a room (leave, close, drop, kick). */
  onLeave?: (ctx: HookContext) => void | Promise<void>;
  /**
   * Before a member's chat message is stored: return it (changed or not) to go on, or `null` to refuse
   * it (the sender gets `REJECTED`; nothing is stored or sent).
   */
  beforeChat?: (message: ChatDraft, ctx: HookContext) => ChatDraft | null | Promise<ChatDraft | null>;
  /** Before a member's `broadcast_event` is relayed: same contract as `beforeChat`. */
  beforeEvent?: (event: EventDraft, ctx: HookContext) => EventDraft | null | Promise<EventDraft | null>;
  /** How long a hook may take before it counts as failed. @default 5000 */
  hookTimeoutMs?: number;
}

/**
 * What happened, as it happened, on the instance where it happened: what webhooks send. Each is called
 * once per occurrence in the whole cluster (`emptied`: by the instance whose member left last).
 */
export interface LiveLifecycle {
  joined?(ctx: HookContext, entry: PresenceEntry): void;
  left?(ctx: HookContext): void;
  /** The room's last member, cluster-wide, left. */
  emptied?(roomId: string): void;
  chatStored?(message: ChatMessagePayload): void;
  /** A moderator deleted message `id` of the room (`deleteChat`). */
  chatDeleted?(roomId: string, id: string): void;
}

/** A room and how many members it has, cluster-wide. */
export interface RoomSummary {
  roomId: string;
  members: number;
}

/** A chat message sent by the server (`sendChat`). */
export interface ServerChat {
  message: string;
  metadata?: Record<string, unknown>;
  /** Shown as the sender's name. @default undefined */
  name?: string;
}

export type DisconnectTarget = { connectionId: string } | { userId: string };

export interface DisconnectOptions {
  /** @default 4403 */
  code?: number;
  /** @default "Disconnected by the server" */
  reason?: string;
}

export interface PublishOptions {
  /** 1–64 of `[A-Za-z0-9_-]`: a repeat within the streams' `ttlMs` is published once (as `Idempotency-Key` on the HTTP API). */
  idempotencyKey?: string;
}

export interface PublishResult {
  /** The event's offset in the room's stream (streams on). */
  offset?: number;
  /** The key was seen: nothing was sent this time, `offset` is the first publish's. */
  duplicate: boolean;
}

/** One page of a room's chat history, oldest first. */
export interface ChatPage {
  messages: ChatMessagePayload[];
  hasMore: boolean;
}

/**
 * The server side of the rooms, for your backend: the same on one instance and across instances (with a
 * backplane). Invalid input throws a `ProtocolError` whose `code` is the wire code (`INVALID_PAYLOAD`,
 * `TOO_LARGE`); a failed store throws a `StorageError`.
 */
export interface LiveApi {
  /** Every room with at least one member, cluster-wide. */
  rooms(): Promise<RoomSummary[]>;
  /** The room's presence map, as `room_joined.presence` would give it (`{}` for an empty room). */
  presence(roomId: string): Promise<Record<string, PresenceEntry>>;
  /**
   * Every member gets a `broadcast_event` whose sender is the server (`connectionId: "server"`). With an
   * `idempotencyKey` seen in the room within the streams' `ttlMs`, nothing is sent and the first
   * publish's offset comes back (`duplicate: true`).
   */
  publish(roomId: string, event: string, payload?: unknown, options?: PublishOptions): Promise<PublishResult>;
  /** Stored and broadcast like a member's chat, from the server; resolves to the stored message. */
  sendChat(roomId: string, chat: ServerChat): Promise<ChatMessagePayload>;
  /** A page of the room's chat, as `get_chat_history` gives it. */
  chatHistory(roomId: string, page?: { before?: string; limit?: number }): Promise<ChatPage>;
  /** Close those connections wherever they are (default code 4403). */
  disconnect(target: DisconnectTarget, options?: DisconnectOptions): Promise<void>;
  /**
   * Delete a stored chat message: gone from storage (no history page or resume returns it), and every
   * member gets `chat_deleted { roomId, id }`. Resolves `false` when the room has no such message.
   */
  deleteChat(roomId: string, messageId: string): Promise<boolean>;
  /**
   * Bar a user from a room: its connections in the room are closed (4403, every instance) and its
   * `join_room` is refused with `FORBIDDEN` until the ban expires or is lifted.
   */
  ban(roomId: string, ban: BanInput): Promise<Ban>;
  /** The room's bans in force, oldest first. */
  bans(roomId: string): Promise<Ban[]>;
  /** Lift a ban; `false` when the user was not banned. */
  unban(roomId: string, userId: string): Promise<boolean>;
  /**
   * Every frame this instance sends the room's members, as sent, until the returned function is called
   * (the admin page's live tail). Nothing is paid while no one watches.
   */
  watch(roomId: string, onFrame: (frame: string) => void): () => void;
}
