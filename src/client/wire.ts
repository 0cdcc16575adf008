/**
 * What the client adds to the server's protocol types. Everything else comes from the server's protocol (`src/protocol/messages.ts`); the resume, exactly-once and paging fields are optional
 * there, so a server that predates them ignores them.
 */
import type { ChatHistoryPayload as ServerChatHistoryPayload, StoredChatMessage } from "../protocol/messages.ts";

export { MSG_CHAT_HISTORY, MSG_GET_CHAT_HISTORY } from "../protocol/messages.ts";
export type { GetChatHistoryPayload } from "../protocol/messages.ts";

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
