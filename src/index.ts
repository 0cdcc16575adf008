// The runtime-neutral public API. Runtime entries (adapters/node.ts, bun.ts, deno.ts) add createServer & co.

// Engine and HTTP app
export { createLiveEngine } from "./engine.ts";
export { createApp } from "./app.ts";
export { createLoopFanout } from "./fanout.ts";

// Protocol constants
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
  MSG_ERROR,
} from "./protocol.ts";

// Errors
export {
  ErrorCodes,
  CloseCodes,
  OpenLiveSyncError,
  ProtocolError,
  StorageError,
  ConfigError,
  MissingDriverError,
} from "./errors.ts";

// Auth
export { decodeAccessToken, createTokenAuth, createTokenVerifier, readAccessToken } from "./auth.ts";

// Storage
export { createInMemoryChatStorage } from "./chat-storage.ts";

export type { LiveEngine, RuntimeHooks } from "./engine.ts";
export type { Fanout, FanoutContext, CreateFanout } from "./fanout.ts";
export type {
  WebSocketServerOptions,
  ChatOptions,
  OnAuth,
  AuthorizeRoom,
} from "./options.ts";
export type {
  Presence,
  UserInfo,
  PresenceEntry,
  ClientMessage,
  ServerMessage,
  JoinRoomPayload,
  LeaveRoomPayload,
  UpdatePresencePayload,
  BroadcastEventPayload,
  SendChatPayload,
  RoomJoinedPayload,
  PresenceUpdatedPayload,
  BroadcastEventRelayPayload,
  ChatMessagePayload,
  ErrorPayload,
  ChatMessageInput,
  StoredChatMessage,
} from "./protocol.ts";
export type { ErrorCode, CloseCode, ErrorStage, OnError } from "./errors.ts";
export type {
  AuthOptions,
  DecodedToken,
  CreateTokenAuthOptions,
  AuthGoogleConfig,
  AuthMicrosoftConfig,
  AuthCustomConfig,
  TokenRequest,
} from "./auth.ts";
export type { ChatStorage, InMemoryChatStorageOptions } from "./chat-storage.ts";
