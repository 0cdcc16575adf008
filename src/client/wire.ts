/**
 * The wire frames the client speaks: the server's protocol types, plus the optional fields of chat resume,
 * idempotent sends and history paging. A server that predates those ignores the extra fields.
 */
import type {
  ChatMessagePayload,
  JoinRoomPayload,
  RoomJoinedPayload,
  SendChatPayload,
  StoredChatMessage,
} from "../protocol/messages.ts";

export const MSG_GET_CHAT_HISTORY = "get_chat_history";
export const MSG_CHAT_HISTORY = "chat_history";

export interface ResumingJoinPayload extends JoinRoomPayload {
  /** Ask for the messages after this one instead of the newest page. */
  lastMessageId?: string;
}
export interface ResumedRoomJoinedPayload extends RoomJoinedPayload {
  /** True when `chatHistory` holds exactly the messages after `lastMessageId`. */
  resumed?: boolean;
}
export interface IdempotentSendChatPayload extends SendChatPayload {
  /** 1–64 of [A-Za-z0-9_-]; a repeat is not stored again. */
  clientMessageId?: string;
}
/** A chat message as the client keeps it: the stored message, and the sender's id for it when the server echoes one. */
export interface ChatMessage extends StoredChatMessage {
  email?: string;
  provider?: string;
  clientMessageId?: string;
}
export type ChatMessageFrame = ChatMessagePayload & { clientMessageId?: string };
export interface GetChatHistoryPayload {
  before?: string;
  limit?: number;
}
export interface ChatHistoryPayload {
  roomId: string;
  /** Oldest first. */
  messages: ChatMessage[];
  hasMore: boolean;
}
