// @openlivesync/server/client: the runtime-neutral client. Imports no server code (only the protocol's pure types and constants).

export { createLiveSyncClient } from "./client.ts";
export {
  LiveSyncError,
  ServerError,
  ConnectionClosedError,
  AuthTokenError,
  QueueFullError,
  NotInRoomError,
  DisconnectedError,
  ClientConfigError,
  ConnectError,
} from "./errors.ts";
export { UNREACHABLE_AFTER } from "./connection.ts";
export { createDocumentProvider } from "./document-provider.ts";
export { ErrorCodes, CloseCodes } from "../protocol/codes.ts";
export {
  MSG_JOIN_ROOM,
  MSG_LEAVE_ROOM,
  MSG_UPDATE_PRESENCE,
  MSG_BROADCAST_EVENT,
  MSG_SEND_CHAT,
  MSG_ROOM_JOINED,
  MSG_PRESENCE_UPDATED,
  MSG_BROADCAST_EVENT_RELAY,
  MSG_CHAT_MESSAGE,
  MSG_CHAT_DELETED,
  MSG_ERROR,
  MSG_EVENT_ACK,
} from "../protocol/messages.ts";
export { MSG_GET_CHAT_HISTORY, MSG_CHAT_HISTORY } from "./wire.ts";

export type {
  LiveSyncClient,
  LiveSyncClientConfig,
  LiveSyncClientState,
  ConnectionStatus,
  ClientStatus,
  JoinRoomIdentity,
  EventHandler,
} from "./api.ts";
export type { WebSocketLike, WebSocketConstructorLike } from "./connection.ts";
export type {
  DocumentProvider,
  DocumentProviderOptions,
  DocumentProviderState,
  DocumentStatus,
  BinaryWebSocketLike,
} from "./document-provider.ts";
export type { PendingChatMessage } from "./outbox.ts";
export type { StreamGap } from "./room-session.ts";
export type { ChatMessage, ChatHistoryPayload, GetChatHistoryPayload } from "./wire.ts";
export type {
  Presence,
  PresenceEntry,
  UserInfo,
  ClientMessage,
  ServerMessage,
  RoomJoinedPayload,
  PresenceUpdatedPayload,
  BroadcastEventRelayPayload,
  ChatMessagePayload,
  ChatDeletedPayload,
  RoomPermissions,
  Access,
  StoredChatMessage,
  ErrorPayload,
  EventAckPayload,
  StreamPosition,
} from "../protocol/messages.ts";
export type { ErrorCode, CloseCode } from "../protocol/codes.ts";
