/**
 * The wire frames the client speaks, by the names the client code uses. Every one comes from the
 * server's protocol (`src/protocol/messages.ts`); the resume, exactly-once and paging fields are optional
 * there, so a server that predates them ignores them.
 */
import type {
  ChatHistoryPayload as ServerChatHistoryPayload,
  ChatMessagePayload,
  JoinRoomPayload,
  RoomJoinedPayload,
  SendChatPayload,
  StoredChatMessage,
} from "../protocol/messages.ts";

export { MSG_CHAT_HISTORY, MSG_GET_CHAT_HISTORY } from "../protocol/messages.ts";
export type { GetChatHistoryPayload } from "../protocol/messages.ts";

export type ResumingJoinPayload = JoinRoomPayload;
export type ResumedRoomJoinedPayload = RoomJoinedPayload;
export type IdempotentSendChatPayload = SendChatPayload;
export type ChatMessageFrame = ChatMessagePayload;

/** A chat message as the client keeps it: the stored message, and the sender's id for it when the server echoes one. */
export interface ChatMessage extends StoredChatMessage {
  email?: string;
  provider?: string;
  clientMessageId?: string;
}

export interface ChatHistoryPayload extends Omit<ServerChatHistoryPayload, "messages"> {
  /** Oldest first. */
  messages: ChatMessage[];
}
