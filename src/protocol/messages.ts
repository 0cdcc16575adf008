/**
 * Wire protocol: message type constants and payload shapes shared by server and clients.
 * Every frame is JSON `{ type, payload }`.
 */

// Client → server
export const MSG_JOIN_ROOM = "join_room";
export const MSG_LEAVE_ROOM = "leave_room";
export const MSG_UPDATE_PRESENCE = "update_presence";
export const MSG_BROADCAST_EVENT = "broadcast_event";
export const MSG_SEND_CHAT = "send_chat";
export const MSG_GET_CHAT_HISTORY = "get_chat_history";

// Server → client
export const MSG_ROOM_JOINED = "room_joined";
export const MSG_PRESENCE_UPDATED = "presence_updated";
/** Same string as {@link MSG_BROADCAST_EVENT}: the relay keeps the client's type name. */
export const MSG_BROADCAST_EVENT_RELAY = "broadcast_event";
export const MSG_CHAT_MESSAGE = "chat_message";
export const MSG_CHAT_HISTORY = "chat_history";
export const MSG_ERROR = "error";
/** Answers a `broadcast_event` that carried a `clientMessageId`: relayed (or a repeat of one that was). */
export const MSG_EVENT_ACK = "event_ack";
/** A moderator deleted a chat message: clients drop it. */
export const MSG_CHAT_DELETED = "chat_deleted";

/** Arbitrary JSON object per connection (cursor, name, colour…). The server stores and relays it. */
const CLIENT_MESSAGE_ID = /^[A-Za-z0-9_-]{1,64}$/;

/** Whether `value` is a valid `clientMessageId`: 1–64 characters of `[A-Za-z0-9_-]`. */
export function isClientMessageId(value: unknown): value is string {
  return typeof value === "string" && CLIENT_MESSAGE_ID.test(value);
}

export type Presence = Record<string, unknown>;

/** Identity attached to a connection by `onAuth`, a verified token, or unverified join data. */
export interface UserInfo {
  userId?: string;
  name?: string;
  email?: string;
  provider?: string;
  [key: string]: unknown;
}

export interface PresenceEntry {
  connectionId: string;
  userId?: string;
  name?: string;
  email?: string;
  provider?: string;
  /** Extra identity fields returned by `onAuth` (e.g. `team`, `picture`). */
  [field: string]: unknown;
  presence: Presence;
}

export interface JoinRoomPayload {
  roomId: string;
  presence?: Presence;
  accessToken?: string;
  /** Unverified display data, as the upstream client sends it. Never overrides a verified identity. */
  name?: string;
  email?: string;
  /** The newest message the client has: `room_joined` then holds the messages after it (`resumed: true`) when the store still has it. */
  lastMessageId?: string;
  /**
   * The last room offset the client holds and its epoch (from `room_joined` and the frames since): when
   * the room still keeps every message after it, they follow `room_joined` (`recovered: true`).
   */
  since?: StreamPosition;
  /**
   * A secret the client picks once (random, 1–64 of `[A-Za-z0-9_-]`) and sends with every join: a
   * replay (`since`) leaves out the events this client sent under it, from any of its connections.
   */
  resumeKey?: string;
}
/** A place in a room's stream: an offset of one epoch. */
export interface StreamPosition {
  /** A whole number ≥ 0. */
  offset: number;
  epoch: string;
}
export interface LeaveRoomPayload {
  roomId?: string;
}
export interface UpdatePresencePayload {
  presence: Presence;
}
export interface BroadcastEventPayload {
  event: string;
  payload?: unknown;
  /** The client's id for this send (chat's format): a repeat within the streams' window is relayed to nobody; the sender gets the same `event_ack`. */
  clientMessageId?: string;
}
export interface SendChatPayload {
  message: string;
  metadata?: Record<string, unknown>;
  /** The client's id for this send (1–64 of `[A-Za-z0-9_-]`): a repeat stores nothing and only the sender gets the stored message again. */
  clientMessageId?: string;
}
export interface GetChatHistoryPayload {
  /** A message id: the page ends just before it. Absent: the newest page. */
  before?: string;
  /** 1–100. @default 50 */
  limit?: number;
}

export type ClientMessage =
  | { type: typeof MSG_JOIN_ROOM; payload: JoinRoomPayload }
  | { type: typeof MSG_LEAVE_ROOM; payload?: LeaveRoomPayload }
  | { type: typeof MSG_UPDATE_PRESENCE; payload: UpdatePresencePayload }
  | { type: typeof MSG_BROADCAST_EVENT; payload: BroadcastEventPayload }
  | { type: typeof MSG_SEND_CHAT; payload: SendChatPayload }
  | { type: typeof MSG_GET_CHAT_HISTORY; payload?: GetChatHistoryPayload };

/** A chat message as the caller hands it to storage. */
export interface ChatMessageInput {
  /** Assigned by the server before storing; storages keep it as given. */
  id?: string;
  connectionId: string;
  userId?: string;
  name?: string;
  message: string;
  metadata?: Record<string, unknown>;
  /** Milliseconds since the epoch; the server sets it. */
  createdAt?: number;
}

/** A chat message as storage returns it. */
export interface StoredChatMessage {
  id: string;
  roomId: string;
  connectionId: string;
  userId?: string;
  name?: string;
  message: string;
  metadata?: Record<string, unknown>;
  createdAt: number;
}

export interface RoomJoinedPayload {
  roomId: string;
  connectionId: string;
  /** Every member, the joiner included, keyed by connection id. */
  presence: Record<string, PresenceEntry>;
  /** How many members the room has, when `presence` was capped at `maxPresenceSnapshot`. */
  memberCount?: number;
  chatHistory?: StoredChatMessage[];
  /**
   * Only when `join_room` carried `lastMessageId`: `true` when `chatHistory` is exactly the messages after
   * it, `false` when the store no longer has it and `chatHistory` is the newest history (a gap).
   */
  resumed?: boolean;
  /** The room's newest offset when the snapshot was taken (streams on). */
  offset?: number;
  /** The epoch of the room's offsets: it changes whenever the room's backlog was lost (streams on). */
  epoch?: string;
  /**
   * Only when `join_room` carried `since`: `true` when every room message after `since.offset` follows
   * (each once, in order, ahead of anything newer); `false` when some are gone (refetch what you show).
   */
  recovered?: boolean;
  /** What the joiner may send in this room; absent when it may send everything (see {@link RoomPermissions}). */
  permissions?: RoomPermissions;
}
/** `"write"`: may send; `"read"`: receives only. */
export type Access = "write" | "read";
/** A member's rights in a room, by what it sends: `update_presence`, `broadcast_event`, `send_chat`. */
export interface RoomPermissions {
  presence: Access;
  events: Access;
  chat: Access;
}
/** `chat_deleted`: message `id` of the room was deleted by a moderator and is gone from history. */
export interface ChatDeletedPayload {
  roomId: string;
  id: string;
}
export interface EventAckPayload {
  roomId: string;
  clientMessageId: string;
  /** The relayed event's offset (streams on); a repeat gets the first one's. */
  offset?: number;
}
export interface ChatHistoryPayload {
  roomId: string;
  /** Oldest first. */
  messages: StoredChatMessage[];
  /** Whether the room holds messages older than the first of `messages`. */
  hasMore: boolean;
}
export interface PresenceUpdatedPayload {
  roomId: string;
  joined?: PresenceEntry[];
  left?: string[];
  updated?: PresenceEntry[];
  /** The room's size, in rooms past `maxPresenceSnapshot`. */
  memberCount?: number;
}
export interface BroadcastEventRelayPayload {
  /** The message's place in the room's stream (streams on): one more than the room's previous message. */
  offset?: number;
  roomId: string;
  connectionId: string;
  userId?: string;
  event: string;
  payload?: unknown;
}
export interface ChatMessagePayload {
  /** The message's place in the room's stream (streams on; absent on a repeat's answer and in history). */
  offset?: number;
  id: string;
  roomId: string;
  connectionId: string;
  userId?: string;
  name?: string;
  email?: string;
  provider?: string;
  message: string;
  metadata?: Record<string, unknown>;
  createdAt: number;
  /** The sender's `send_chat.clientMessageId`, when it sent one. */
  clientMessageId?: string;
}
export interface ErrorPayload {
  code: string;
  message: string;
  /** When the error is about a `send_chat` that carried a `clientMessageId` (e.g. `REJECTED`): that id. */
  clientMessageId?: string;
}

export type ServerMessage =
  | { type: typeof MSG_ROOM_JOINED; payload: RoomJoinedPayload }
  | { type: typeof MSG_PRESENCE_UPDATED; payload: PresenceUpdatedPayload }
  | { type: typeof MSG_BROADCAST_EVENT_RELAY; payload: BroadcastEventRelayPayload }
  | { type: typeof MSG_CHAT_MESSAGE; payload: ChatMessagePayload }
  | { type: typeof MSG_CHAT_HISTORY; payload: ChatHistoryPayload }
  | { type: typeof MSG_CHAT_DELETED; payload: ChatDeletedPayload }
  | { type: typeof MSG_ERROR; payload: ErrorPayload }
  | { type: typeof MSG_EVENT_ACK; payload: EventAckPayload };
