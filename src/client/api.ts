/** The client's public shapes: its configuration, its state snapshot, and its methods. */
import type { BroadcastEventRelayPayload, Presence, PresenceEntry, RoomPermissions } from "../protocol/messages.ts";
import type { SocketStatus, WebSocketConstructorLike } from "./connection.ts";
import type { LiveSyncError } from "./errors.ts";
import type { PendingChatMessage } from "./outbox.ts";
import type { StreamGap } from "./room-stream.ts";
import type { ChatMessage } from "./wire.ts";

/** Upstream's status names: `open` while a socket is open, `connecting` while one is being opened or awaited. */
export type ConnectionStatus = "connecting" | "open" | "closing" | "closed";
/**
 * The finer status: `reconnecting` between sockets, `unreachable` once several attempts in a row never opened
 * (still retrying), `stopped` when the server said not to come back.
 */
export type ClientStatus = SocketStatus;

export interface LiveSyncClientState {
  connectionStatus: ConnectionStatus;
  status: ClientStatus;
  /** Attempts since the last socket opened. */
  reconnectAttempt: number;
  currentRoomId: string | null;
  /** True once the server confirmed the join on the current socket. */
  inRoom: boolean;
  connectionId: string | null;
  presence: Record<string, PresenceEntry>;
  /** Oldest first, no duplicates (by `id`). */
  chatMessages: ChatMessage[];
  /** Chat sends not yet acknowledged (queued while offline, or in flight), oldest first. */
  pendingMessages: PendingChatMessage[];
  /** Ids of messages after which messages may be missing: the server could not resume there. */
  chatGaps: string[];
  /** Whether `loadOlderMessages()` may find more. */
  hasMoreHistory: boolean;
  /**
   * The last rejoin's outcome on a server with room streams: `true` when every room message missed
   * while away was replayed (each event reached `onEvent` once, in order), `false` when some were lost
   * (refetch what you show; `onRecoveryFailed` is called too), `null` for a first join or a server without streams.
   */
  recovered: boolean | null;
  /**
   * What this member may send in the room, as the server said in `room_joined` (all `"write"` when it said
   * nothing); `null` until joined. A `"read"` kind is refused by the server with `FORBIDDEN`.
   */
  permissions: RoomPermissions | null;
  lastError: LiveSyncError | null;
}

export interface JoinRoomIdentity {
  /** Display name, when not using a token. */
  name?: string;
  /** Email, when not using a token. */
  email?: string;
  /** Token sent in `join_room`; prefer `getAuthToken`, which sends it once per connection. */
  accessToken?: string;
}

export interface LiveSyncClientConfig {
  /** WebSocket URL, e.g. `wss://example.com/live`. */
  url: string;
  /** Reconnect when the socket drops. @default true */
  reconnect?: boolean;
  /** First reconnect delay; it doubles per attempt, jittered. @default 1000 */
  reconnectIntervalMs?: number;
  /** Longest reconnect delay. @default 30000 */
  maxReconnectIntervalMs?: number;
  /** Called before every connect; the token goes in the URL as `?access_token=`. */
  getAuthToken?: () => string | Promise<string>;
  /** Minimum ms between presence sends; the newest value always goes out at the end of the window. @default 100 */
  presenceThrottleMs?: number;
  /** WebSocket constructor for runtimes without a global one (Node 20: `import WebSocket from "ws"`). @default globalThis.WebSocket */
  WebSocket?: WebSocketConstructorLike;
  /** Most chat sends waiting at once (offline queue plus in flight); more throw `QueueFullError`. @default 100 */
  maxQueuedMessages?: number;
  /** Page size of `loadOlderMessages()`. @default 50 */
  historyPageSize?: number;
  /**
   * Name the room in the URL (`?room=<id>`), and open a new socket to join another room. On Cloudflare
   * (`@openlivesync/server/cloudflare`) the socket then goes straight to its room's Durable Object instead
   * of through the Worker's relay; other servers ignore the parameter.
   * @default false
   */
  roomInUrl?: boolean;
}

export type EventHandler = (payload: unknown, event: BroadcastEventRelayPayload) => void;

export interface LiveSyncClient {
  connect(): void;
  /** Close the socket, stop reconnecting, and leave the room. */
  disconnect(): void;
  /** Join (or switch to) a room. Works offline: the join goes out when the socket opens, and again after every reconnect. */
  joinRoom(roomId: string, presence?: Presence, identity?: JoinRoomIdentity): void;
  leaveRoom(roomId?: string): void;
  /** Replace your presence (throttled, trailing edge). Kept for rejoins. */
  updatePresence(presence: Presence): void;
  /**
   * Send an event to the others in the room; false when not in a room right now (events are not queued).
   * To a server with room streams it carries a `clientMessageId` and goes again after a reconnect until
   * acknowledged, and the others get it once.
   */
  broadcastEvent(event: string, payload?: unknown): boolean;
  /** Send a chat message; queued while offline, retried after a reconnect, shown once. Returns its `clientMessageId`. */
  sendChat(message: string, metadata?: Record<string, unknown>): string;
  /** Fetch the page before the oldest message held; resolves with the messages added. */
  loadOlderMessages(limit?: number): Promise<ChatMessage[]>;
  /**
   * Called when a rejoin could not get every room message missed while away (`recovered: false`): the
   * events between `since` and `offset` may be lost. Returns the unsubscribe function.
   */
  onRecoveryFailed(handler: (gap: StreamGap) => void): () => void;
  /** Subscribe to relayed `broadcast_event`s named `event` (`"*"`: all). Returns the unsubscribe function. */
  onEvent(event: string, handler: EventHandler): () => void;
  getState(): LiveSyncClientState;
  subscribe(listener: (state: LiveSyncClientState) => void): () => void;
  readonly status: ClientStatus;
  getConnectionStatus(): ConnectionStatus;
  getPresence(): Record<string, PresenceEntry>;
  getChatMessages(): ChatMessage[];
  getCurrentRoomId(): string | null;
}
