/**
 * `createLiveSyncClient`: a room session over a connection that keeps coming back. The connection
 * (connection.ts) owns sockets and retries; this file owns the room: joining and rejoining, the presence
 * map, the chat list and its outbox, relayed events, and the state snapshot subscribers see.
 */
import type { LiveSyncClient, LiveSyncClientConfig } from "./api.ts";
import { CONNECTION_STATUS, EMPTY_ROOM, StateStore } from "./client-state.ts";
import { createConnection, type WebSocketConstructorLike } from "./connection.ts";
import { EventHandlers } from "./event-handlers.ts";
import { LiveSyncError } from "./errors.ts";
import { RoomSession } from "./room-session.ts";
import type { StreamGap } from "./room-stream.ts";

/** `url` with `room=<roomId>` added to its query (replacing one there). */
function withRoom(url: string, roomId: string): string {
  const hash = url.indexOf("#");
  const base = hash === -1 ? url : url.slice(0, hash);
  const [path, query = ""] = base.split("?", 2) as [string, string?];
  const params = query.split("&").filter((p) => p !== "" && !p.startsWith("room="));
  params.push(`room=${encodeURIComponent(roomId)}`);
  return `${path}?${params.join("&")}`;
}

/**
 * A client for one room at a time.
 * @example
 * const client = createLiveSyncClient({ url: "ws://localhost:3000/live" });
 * client.connect();
 * client.joinRoom("room1", { color: "#e11d48" }, { name: "Alice" });
 * client.subscribe((state) => render(state.presence, state.chatMessages));
 */
export function createLiveSyncClient(config: LiveSyncClientConfig): LiveSyncClient {
  const store = new StateStore();
  const events = new EventHandlers();
  const gapHandlers = new Set<(gap: StreamGap) => void>();
  const session: RoomSession = new RoomSession(
    store,
    { send: (frame) => connection.send(frame) },
    events,
    { maxQueuedMessages: config.maxQueuedMessages ?? 100, presenceThrottleMs: config.presenceThrottleMs ?? 100 },
    (gap) => {
      for (const handler of [...gapHandlers]) {
        try {
          handler(gap);
        } catch (error) {
          store.update({ lastError: new LiveSyncError("EVENT_HANDLER_FAILED", "An onRecoveryFailed handler threw", { cause: error }) });
        }
      }
    },
  );
  /** With `roomInUrl`: the room the current socket was opened for. */
  let urlRoom: string | undefined;
  const url = () => {
    if (!config.roomInUrl) return config.url;
    urlRoom = store.state.currentRoomId ?? undefined;
    return urlRoom === undefined ? config.url : withRoom(config.url, urlRoom);
  };
  const connection = createConnection({
    url,
    WebSocket: config.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructorLike }).WebSocket,
    getAuthToken: config.getAuthToken,
    reconnect: config.reconnect ?? true,
    reconnectIntervalMs: config.reconnectIntervalMs ?? 1000,
    maxReconnectIntervalMs: config.maxReconnectIntervalMs ?? 30_000,
    onOpen: () => session.sendJoin(),
    onMessage: (data) => session.receive(data),
    onDrop: () => session.dropped(),
    onStatus: (status, attempt, error) =>
      store.update({
        status,
        connectionStatus: CONNECTION_STATUS[status],
        reconnectAttempt: attempt,
        ...(error ? { lastError: error } : {}),
      }),
    onError: (error) => store.update({ lastError: error }),
  });

  return {
    connect: () => connection.start(),
    disconnect() {
      session.reset();
      connection.stop();
      store.update(EMPTY_ROOM);
    },
    joinRoom(roomId, presence, identity) {
      session.join(roomId, presence, identity);
      // The socket serves the room in its URL: another room needs its own socket (the join goes out when it opens).
      if (config.roomInUrl && roomId !== urlRoom) connection.restart();
    },
    leaveRoom: (roomId) => session.leave(roomId),
    updatePresence: (presence) => session.updatePresence(presence),
    broadcastEvent: (event, payload) => session.broadcastEvent(event, payload),
    sendChat: (message, metadata) => session.sendChat(message, metadata),
    loadOlderMessages: (limit = config.historyPageSize ?? 50) => session.loadOlderMessages(limit),
    onEvent: (event, handler) => events.add(event, handler),
    onRecoveryFailed(handler) {
      gapHandlers.add(handler);
      return () => void gapHandlers.delete(handler);
    },
    getState: () => store.state,
    subscribe: (listener) => store.subscribe(listener),
    get status() {
      return store.state.status;
    },
    getConnectionStatus: () => store.state.connectionStatus,
    getPresence: () => store.state.presence,
    getChatMessages: () => store.state.chatMessages,
    getCurrentRoomId: () => store.state.currentRoomId,
  };
}
