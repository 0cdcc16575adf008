// The runtime-neutral public API. Runtime entries (adapters/node, bun, deno) add createServer & co.
// What engine plug-ins (fan-outs, backplanes) build on is in engine-api.ts (`@openlivesync/server/engine`).

// HTTP app
export { createApp } from "./app.ts";

// Protocol constants
export {
  MSG_JOIN_ROOM,
  MSG_LEAVE_ROOM,
  MSG_UPDATE_PRESENCE,
  MSG_BROADCAST_EVENT,
  MSG_SEND_CHAT,
  MSG_GET_CHAT_HISTORY,
  MSG_ROOM_JOINED,
  MSG_PRESENCE_UPDATED,
  MSG_BROADCAST_EVENT_RELAY,
  MSG_CHAT_MESSAGE,
  MSG_CHAT_HISTORY,
  MSG_CHAT_DELETED,
  MSG_ERROR,
  MSG_EVENT_ACK,
  isClientMessageId,
} from "./protocol/messages.ts";

// Errors
export {
  ErrorCodes,
  CloseCodes,
  OpenLiveSyncError,
  ProtocolError,
  StorageError,
  ConfigError,
  MissingDriverError,
  WebhookError,
} from "./errors.ts";

// Webhooks
export { WEBHOOK_EVENTS } from "./webhooks/options.ts";

// Auth
export { decodeAccessToken, createTokenAuth, createTokenVerifier, readAccessToken } from "./auth/tokens.ts";

// Storage
export { createInMemoryChatStorage } from "./storage/memory.ts";
export { withChatCapabilities } from "./storage/capabilities.ts";
export { registerSqliteDriver } from "./storage/sqlite-driver.ts";
export { createPostgresChatStorage } from "./storage/postgres.ts";
export { createMySQLChatStorage } from "./storage/mysql.ts";
export { createSQLiteChatStorage } from "./storage/sqlite.ts";
export { createChatStorageFromUrl } from "./storage/from-url.ts";
export { DEFAULT_TABLE_NAME, validateTableName } from "./storage/table-name.ts";
export { pgChatTable } from "./storage/schema-pg.ts";
export { mysqlChatTable } from "./storage/schema-mysql.ts";
export { sqliteChatTable } from "./storage/schema-sqlite.ts";

// Documents (shared Yjs documents: y-websocket and Hocuspocus clients)
export { DocumentCloseCodes } from "./documents/codes.ts";
export { MAX_DOCUMENT_NAME_LENGTH } from "./documents/options.ts";
export { createInMemoryDocumentStorage } from "./storage/document-storage.ts";
export { createSQLiteDocumentStorage, createPostgresDocumentStorage, createMySQLDocumentStorage } from "./storage/sql-document-stores.ts";
export { createDocumentStorageFromUrl } from "./storage/from-url.ts";
export { DEFAULT_DOCUMENT_TABLE, sqliteDocumentTable, pgDocumentTable, mysqlDocumentTable } from "./storage/document-schema.ts";
export type { DocumentOptions, DocumentAccess, AuthorizeDocument } from "./documents/options.ts";
export type { DocumentCloseCode } from "./documents/codes.ts";
export type { DocumentApi, DocumentInfo, DocumentSnapshot } from "./documents/document-api.ts";
export type { DocumentStorage, StoredDocument, StoredDocumentInfo } from "./storage/document-storage.ts";
export type { SqlDocumentStorageOptions } from "./storage/sql-document-storage.ts";

// Server API and hooks
export { SERVER_CONNECTION_ID } from "./engine/live-api.ts";
export { HookError } from "./engine/app-hooks.ts";
export type {
  LiveApi,
  HookOptions,
  HookContext,
  ChatDraft,
  EventDraft,
  LiveLifecycle,
  RoomSummary,
  ServerChat,
  DisconnectTarget,
  DisconnectOptions,
  ChatPage,
  PublishOptions,
  PublishResult,
} from "./engine/server-api.ts";
export type { Ban, BanInput } from "./engine/bans.ts";
export type { RoomGrant } from "./engine/permissions.ts";
export { GRANTS_CLAIM } from "./engine/permissions.ts";

// Scale-out
export { createRedisBackplane } from "./cluster/redis-backplane.ts";
export { BackplaneError } from "./cluster/backplane.ts";

export type { LiveEngine } from "./engine/engine.ts";
export type { Backplane, SharedBans } from "./cluster/backplane.ts";
export type { RedisBackplaneOptions, RedisBackplane, RedisBackplaneStats, RedisClientLike } from "./cluster/redis-backplane.ts";
export type {
  WebSocketServerOptions,
  ChatOptions,
  OnAuth,
  AuthorizeRoom,
} from "./options.ts";
export type { StreamOptions } from "./engine/streams.ts";
export type { ApiOptions } from "./api/routes.ts";
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
  GetChatHistoryPayload,
  RoomJoinedPayload,
  PresenceUpdatedPayload,
  BroadcastEventRelayPayload,
  ChatMessagePayload,
  ChatHistoryPayload,
  ChatDeletedPayload,
  RoomPermissions,
  Access,
  ErrorPayload,
  EventAckPayload,
  StreamPosition,
  ChatMessageInput,
  StoredChatMessage,
} from "./protocol/messages.ts";
export type { ErrorCode, CloseCode, ErrorStage, OnError, WebhookErrorCode } from "./errors.ts";
export type { WebhookOptions, WebhookEventType } from "./webhooks/options.ts";
export type { WebhookEvent } from "./webhooks/webhooks.ts";
export type { WebhookStats } from "./webhooks/dispatcher.ts";
export type {
  AuthOptions,
  DecodedToken,
  CreateTokenAuthOptions,
  AuthGoogleConfig,
  AuthMicrosoftConfig,
  AuthCustomConfig,
  TokenRequest,
} from "./auth/tokens.ts";
export type { ChatStorage, ChatAppendInput, AppendResult, HistoryPage } from "./storage/chat-storage.ts";
export type { InMemoryChatStorageOptions } from "./storage/memory.ts";
export type { ChatStorageCapabilities, CompleteChatStorage, WithCapabilities } from "./storage/capabilities.ts";
export type { SqliteDriver, SqliteDatabaseLike, SqliteStatementLike } from "./storage/sqlite-driver.ts";
export type { SqlChatStorageOptions } from "./storage/sql-chat-storage.ts";
export type { GroupCommitOptions } from "./storage/group-commit.ts";
export type { PostgresConnection, PostgresConnectionOptions, PostgresClientLike } from "./storage/postgres.ts";
export type { MySQLConnection, MySQLConnectionOptions, MySQLPoolLike } from "./storage/mysql.ts";
export type { SQLiteChatStorageFileOptions } from "./storage/sqlite.ts";
