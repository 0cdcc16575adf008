import { resolveGuard, type GuardOptions, type ResolvedGuard } from "./engine/guard.ts";
import type { Backplane } from "./cluster/backplane.ts";
import type { ChatStorage } from "./storage/chat-storage.ts";
import { createInMemoryChatStorage, SERVER_MESSAGES_PER_ROOM } from "./storage/memory.ts";
import { ConfigError, createReporter, type ErrorStage, type OnError } from "./errors.ts";
import { numberOption } from "./util/number-option.ts";
import type { UserInfo } from "./protocol/messages.ts";
import type { MessageLimits } from "./protocol/validate.ts";
import { checkApiSecret } from "./api/bearer.ts";
import type { ApiOptions } from "./api/routes.ts";
import { resolveWebhookOptions, type ResolvedWebhookOptions, type WebhookOptions } from "./webhooks/options.ts";
import type { CallbackOptions } from "./engine/app-callbacks.ts";
import { resolveStreams, type ResolvedStreams, type StreamOptions } from "./engine/streams.ts";
import { resolveDocumentOptions, type DocumentOptions, type ResolvedDocumentOptions } from "./documents/options.ts";
import type { RoomGrant } from "./engine/permissions.ts";

export interface ChatOptions {
  /**
   * Where messages are stored. @default in-memory storage keeping the newest 1000 messages per room (at
   * least `historyLimit`), 64 MiB in all, least recently used rooms dropped first
   */
  storage?: ChatStorage;
  /** How many of the newest messages a joiner receives in `room_joined.chatHistory`. @default 100 */
  historyLimit?: number;
  /**
   * Most messages a rejoining client gets after its `join_room.lastMessageId`; when more were sent since,
   * it gets the newest `historyLimit` with `resumed: false` instead. 0 turns resume off. @default 1000
   */
  resumeLimit?: number;
}

/**
 * Resolves the identity of a connection from its upgrade request. `null` rejects the upgrade with
 * HTTP 401. On Node the request is the `IncomingMessage`; on Bun and Deno it is a web `Request`.
 */
export type OnAuth = (req: any) => Promise<UserInfo | null> | UserInfo | null;

/**
 * Decides whether `user` may join `roomId` and what it may send there: `true` (or `"write"`) everything,
 * `"read"` nothing (it receives everything; `update_presence`, `broadcast_event` and `send_chat` get
 * `FORBIDDEN`), `{ presence, events, chat }` each `"write"` or `"read"`, `false` refuses the join
 * (`FORBIDDEN`). A token's `openlivesync.rooms` claim, when present, narrows it further.
 * @example
 * authorizeRoom: (user, roomId) => (roomId.startsWith("stage-") && !user?.host ? { presence: "write", events: "read", chat: "write" } : true)
 */
export type AuthorizeRoom = (user: UserInfo | undefined, roomId: string) => RoomGrant | Promise<RoomGrant>;

/** Verifies a `join_room` access token (see the auth module); resolves to identity or null. */
export type TokenVerifier = (token: string) => Promise<(UserInfo & { exp?: number }) | null>;

export interface WebSocketServerOptions extends GuardOptions, CallbackOptions {
  /** WebSocket upgrade path. @default "/live" */
  path?: string;
  /** Runs on each upgrade; `null` rejects it with 401 before the socket opens. */
  onAuth?: OnAuth;
  /** Decode/verify access tokens sent in `join_room` (see "Access token and OAuth"). */
  auth?: import("./auth/tokens.ts").AuthOptions;
  /** Per-room authorization, run on every `join_room`. */
  authorizeRoom?: AuthorizeRoom;
  /** Close a connection with 4401 when the token behind its identity expires. @default true */
  closeOnTokenExpiry?: boolean;
  /** Minimum ms between presence broadcasts per connection; the newest update inside a window is sent when it ends. @default 100 */
  presenceThrottleMs?: number;
  /**
   * How long a room collects presence news (joins, leaves, updates) before it goes out as one
   * `presence_updated` frame; the first news of an idle room goes out at once. 0 batches within one timer turn. @default 20
   */
  presenceBatchMs?: number;
  /**
   * Most `presence_updated` frames one room sends per second, to all its members together. A room's
   * window is `presenceBatchMs` or `members / presenceBudget` seconds, whichever is longer, so its
   * presence costs the same per second whether members arrive in a burst or one by one; past
   * `presenceBudget × presenceBatchMs / 1000` members (40 by default) news takes longer to show
   * (5,000 members: 2.5 s). @default 2000
   */
  presenceBudget?: number;
  /**
   * Largest `room_joined.presence` snapshot. In a bigger room the joiner gets itself and this many
   * members minus one, plus `memberCount`; others show up as they join or move. @default Infinity (the full snapshot)
   */
  maxPresenceSnapshot?: number;
  /**
   * Room streams: every `broadcast_event` relay and `chat_message` gets the room's next `offset`, the
   * newest are kept so a rejoiner with `join_room.since` gets what it missed, and a repeated
   * `clientMessageId` / `Idempotency-Key` is published once. `false` turns them off. @default { size: 256, ttlMs: 300000, maxBytes: 64 MiB }
   * @example
   * createServer({ streams: { size: 1024, ttlMs: 10 * 60_000 } });
   */
  streams?: StreamOptions | false;
  /** Chat storage and history size. */
  chat?: ChatOptions;
  /** Largest accepted frame in bytes; larger frames close the connection with 1009. @default 65536 */
  maxPayload?: number;
  /** Largest presence object, in bytes of JSON. @default 16384 */
  maxPresenceBytes?: number;
  /** Longest chat message, in characters. @default 16384 */
  maxChatMessageLength?: number;
  /** Longest room id, in characters. @default 256 */
  maxRoomIdLength?: number;
  /** Longest `broadcast_event` event name, in characters. @default 256 */
  maxEventNameLength?: number;
  /** Deepest nesting of objects and arrays in a presence, chat metadata or event payload (`{}` is 1 level); deeper gets INVALID_PAYLOAD. @default 32 */
  maxJsonDepth?: number;
  /** Interval between heartbeat pings in ms; a peer silent for two intervals is closed (4408). 0 disables. @default 30000 */
  heartbeatIntervalMs?: number;
  /** Outgoing bytes a connection may have queued before it is closed as a slow consumer (4429). @default 4194304 */
  maxBufferedBytes?: number;
  /**
   * Reports failures on background paths, with the {@link ErrorStage} where each happened; also gets the
   * JWKS fetch failures of `auth` and the backplane's failures unless those have their own `onError`.
   * A throwing or rejecting `onError` is logged, never rethrown. @default logs one line to console.error
   */
  onError?: OnError;
  /**
   * Links several instances into one cluster (see "Running several instances"). Chat history must
   * then live in a storage all instances share. @default none: a single instance
   * @example
   * createServer({ backplane: createRedisBackplane({ url: "redis://127.0.0.1:6379" }) });
   */
  backplane?: Backplane;
  /**
   * The HTTP API under `/api` (README, "HTTP API"), behind `Authorization: Bearer <secret>`; the secret
   * must be at least 16 characters. @default off: nothing answers under `/api`
   * @example api: { secret: process.env.API_SECRET! }
   */
  api?: ApiOptions;
  /**
   * Signed webhooks: `member.joined`, `member.left`, `room.emptied`, `chat.stored`, `chat.deleted` POSTed to `url`, each by
   * the instance where it happened (see "Webhooks"). @default none
   * @example
   * createServer({ webhooks: { url: "https://app.example/hooks/live", secret: process.env.WEBHOOK_SECRET! } });
   */
  webhooks?: WebhookOptions;
  /**
   * Shared Yjs documents beside the rooms (docs/documents.md): y-websocket clients at `${path}/<name>`,
   * Hocuspocus clients at `path`; `false` turns them off. @default on, at "/yjs", stored in memory
   * @example documents: { storage: await createDocumentStorageFromUrl("sqlite:./docs.db") }
   */
  documents?: DocumentOptions | false;
}

export interface ResolvedOptions extends MessageLimits {
  /** Origins, connection counts, rate limits (see GuardOptions). */
  guard: ResolvedGuard;
  path: string;
  onAuth: OnAuth | undefined;
  auth: import("./auth/tokens.ts").AuthOptions | undefined;
  authorizeRoom: AuthorizeRoom | undefined;
  closeOnTokenExpiry: boolean;
  presenceThrottleMs: number;
  presenceBatchMs: number;
  presenceBudget: number;
  maxPresenceSnapshot: number;
  /** `undefined` when streams are off. */
  streams: ResolvedStreams | undefined;
  storage: ChatStorage;
  historyLimit: number;
  resumeLimit: number;
  maxPayload: number;
  heartbeatIntervalMs: number;
  maxBufferedBytes: number;
  /** The one reporter: the user's `onError` made safe (never throws, never rejects). */
  onError: (error: unknown, context: { stage: ErrorStage }) => void;
  backplane: Backplane | undefined;
  /** Checked at start-up: a bad URL or an empty secret is a `ConfigError`. */
  webhooks: ResolvedWebhookOptions | undefined;
  /** The app's callbacks, with `callbackTimeoutMs` resolved. */
  callbacks: ResolvedCallbacks;
  /** Undefined when documents are off. */
  documents: ResolvedDocumentOptions | undefined;
}

export interface ResolvedCallbacks extends Omit<CallbackOptions, "callbackTimeoutMs" | "hookTimeoutMs"> {
  timeoutMs: number;
}

export function resolveOptions(options: WebSocketServerOptions = {}): ResolvedOptions {
  const path = options.path ?? "/live";
  if (!path.startsWith("/")) throw new ConfigError(`Option path must start with "/", got "${path}"`);
  const historyLimit = numberOption("chat.historyLimit", options.chat?.historyLimit, 100);
  const onError = createReporter(options.onError);
  if (options.api !== undefined) checkApiSecret(options.api?.secret);
  return {
    path,
    onAuth: options.onAuth,
    // JWKS fetch failures go to the server's reporter unless `auth` has its own `onError`.
    auth: options.auth && { ...options.auth, onError: options.auth.onError ?? onError },
    authorizeRoom: options.authorizeRoom,
    closeOnTokenExpiry: options.closeOnTokenExpiry ?? true,
    presenceThrottleMs: numberOption("presenceThrottleMs", options.presenceThrottleMs, 100),
    presenceBatchMs: numberOption("presenceBatchMs", options.presenceBatchMs, 20),
    presenceBudget: numberOption("presenceBudget", options.presenceBudget, 2000, "positive"),
    maxPresenceSnapshot: numberOption("maxPresenceSnapshot", options.maxPresenceSnapshot, Infinity, "positive"),
    streams: resolveStreams(options.streams),
    storage: options.chat?.storage ?? createInMemoryChatStorage({ historyLimit: Math.max(historyLimit, SERVER_MESSAGES_PER_ROOM) }),
    historyLimit,
    resumeLimit: numberOption("chat.resumeLimit", options.chat?.resumeLimit, 1000),
    maxPayload: numberOption("maxPayload", options.maxPayload, 64 * 1024),
    maxPresenceBytes: numberOption("maxPresenceBytes", options.maxPresenceBytes, 16 * 1024),
    maxChatMessageLength: numberOption("maxChatMessageLength", options.maxChatMessageLength, 16 * 1024),
    maxRoomIdLength: numberOption("maxRoomIdLength", options.maxRoomIdLength, 256),
    maxEventNameLength: numberOption("maxEventNameLength", options.maxEventNameLength, 256),
    maxJsonDepth: numberOption("maxJsonDepth", options.maxJsonDepth, 32),
    heartbeatIntervalMs: numberOption("heartbeatIntervalMs", options.heartbeatIntervalMs, 30_000),
    maxBufferedBytes: numberOption("maxBufferedBytes", options.maxBufferedBytes, 4 * 1024 * 1024),
    onError,
    backplane: options.backplane,
    webhooks: options.webhooks === undefined ? undefined : resolveWebhookOptions(options.webhooks),
    guard: resolveGuard(options),
    documents: resolveDocumentOptions(options.documents, path),
    callbacks: {
      onJoin: options.onJoin,
      onLeave: options.onLeave,
      beforeChat: options.beforeChat,
      beforeEvent: options.beforeEvent,
      timeoutMs: callbackTimeout(options),
    },
  };
}

/** `callbackTimeoutMs`, or the deprecated `hookTimeoutMs` when only that is set. */
function callbackTimeout(options: CallbackOptions): number {
  if (options.callbackTimeoutMs === undefined && options.hookTimeoutMs !== undefined)
    return numberOption("hookTimeoutMs", options.hookTimeoutMs, 5000, "positive");
  return numberOption("callbackTimeoutMs", options.callbackTimeoutMs, 5000, "positive");
}
