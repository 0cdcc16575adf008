/**
 * `createLiveSyncClient`: a room session over a connection that keeps coming back. The connection
 * (connection.ts) owns sockets and retries; this file owns the room: joining and rejoining, the presence
 * map, the chat list and its outbox, relayed events, and the state snapshot subscribers see.
 */
import { MSG_BROADCAST_EVENT } from "../protocol/messages.ts";
import type { LiveSyncClient, LiveSyncClientConfig } from "./api.ts";
import { CONNECTION_STATUS, EMPTY_ROOM, StateStore } from "./client-state.ts";
import { createConnection, type WebSocketConstructorLike } from "./connection.ts";
import { EventHandlers } from "./event-handlers.ts";
import { RoomSession } from "./room-session.ts";

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
  const session: RoomSession = new RoomSession(store, { send: (frame) => connection.send(frame) }, events, {
    maxQueuedMessages: config.maxQueuedMessages ?? 100,
    presenceThrottleMs: config.presenceThrottleMs ?? 100,
  });
  const connection = createConnection({
    url: config.url,
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
    joinRoom: (roomId, presence, identity) => session.join(roomId, presence, identity),
    leaveRoom: (roomId) => session.leave(roomId),
    updatePresence: (presence) => session.updatePresence(presence),
    broadcastEvent(event, payload) {
      if (!store.state.inRoom) return false;
      return connection.send({ type: MSG_BROADCAST_EVENT, payload: payload === undefined ? { event } : { event, payload } });
    },
    sendChat: (message, metadata) => session.sendChat(message, metadata),
    loadOlderMessages: (limit = config.historyPageSize ?? 50) => session.loadOlderMessages(limit),
    onEvent: (event, handler) => events.add(event, handler),
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
