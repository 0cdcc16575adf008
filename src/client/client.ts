/**
 * `createLiveSyncClient`: a room session over a connection that keeps coming back. The connection
 * (connection.ts) owns sockets and retries; this file owns the room: joining and rejoining, the presence
 * map, the chat list and its outbox, relayed events, and the state snapshot subscribers see.
 */
import {
  MSG_BROADCAST_EVENT,
  MSG_BROADCAST_EVENT_RELAY,
  MSG_CHAT_MESSAGE,
  MSG_ERROR,
  MSG_JOIN_ROOM,
  MSG_LEAVE_ROOM,
  MSG_PRESENCE_UPDATED,
  MSG_ROOM_JOINED,
  MSG_SEND_CHAT,
  MSG_UPDATE_PRESENCE,
  type BroadcastEventRelayPayload,
  type ChatMessagePayload,
  type ErrorPayload,
  type JoinRoomPayload,
  type Presence,
  type PresenceUpdatedPayload,
  type RoomJoinedPayload,
} from "../protocol/messages.ts";
import type {
  ClientStatus,
  ConnectionStatus,
  EventHandler,
  JoinRoomIdentity,
  LiveSyncClient,
  LiveSyncClientConfig,
  LiveSyncClientState,
} from "./api.ts";
import { createConnection, type WebSocketConstructorLike } from "./connection.ts";
import { DisconnectedError, LiveSyncError, NotInRoomError, ServerError } from "./errors.ts";
import { createOutbox, newClientMessageId } from "./outbox.ts";
import { createPresenceThrottle } from "./presence-throttle.ts";
import { applyPresenceDiff, chatAfterJoin, prependMessages, appendMessages, type PresenceMap } from "./room-view.ts";
import { MSG_CHAT_HISTORY, MSG_GET_CHAT_HISTORY, type ChatHistoryPayload, type ChatMessage } from "./wire.ts";

const INITIAL_STATE: LiveSyncClientState = {
  connectionStatus: "closed",
  status: "idle",
  reconnectAttempt: 0,
  currentRoomId: null,
  inRoom: false,
  connectionId: null,
  presence: {},
  chatMessages: [],
  pendingMessages: [],
  chatGaps: [],
  hasMoreHistory: false,
  lastError: null,
};

const CONNECTION_STATUS: Record<ClientStatus, ConnectionStatus> = {
  idle: "closed",
  stopped: "closed",
  connecting: "connecting",
  reconnecting: "connecting",
  open: "open",
};

interface HistoryRequest {
  resolve(messages: ChatMessage[]): void;
  reject(error: LiveSyncError): void;
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
  let state = INITIAL_STATE;
  const listeners = new Set<(state: LiveSyncClientState) => void>();
  const handlers = new Map<string, Set<EventHandler>>();
  const outbox = createOutbox(config.maxQueuedMessages ?? 100);
  /** The room as the user asked for it; resent on every socket. */
  let room: { id: string; presence: Presence | undefined; identity: JoinRoomIdentity | undefined } | undefined;
  /** The presence the server has for us (sent in the join or an update). */
  let presenceOnServer: Presence | undefined;
  let askedAfter: string | undefined;
  const historyRequests: HistoryRequest[] = [];

  function update(patch: Partial<LiveSyncClientState>) {
    state = { ...state, ...patch };
    for (const listener of [...listeners]) listener(state);
  }

  const connection = createConnection({
    url: config.url,
    WebSocket: config.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructorLike }).WebSocket,
    getAuthToken: config.getAuthToken,
    reconnect: config.reconnect ?? true,
    reconnectIntervalMs: config.reconnectIntervalMs ?? 1000,
    maxReconnectIntervalMs: config.maxReconnectIntervalMs ?? 30_000,
    onOpen: sendJoin,
    onMessage: handleFrame,
    onDrop() {
      throttle.cancel();
      outbox.unsendAll();
      failHistoryRequests();
      update({ inRoom: false });
    },
    onStatus: (status, attempt) => update({ status, connectionStatus: CONNECTION_STATUS[status], reconnectAttempt: attempt }),
    onError: (error) => update({ lastError: error }),
  });

  const throttle = createPresenceThrottle(config.presenceThrottleMs ?? 100, (presence) => {
    if (state.inRoom && connection.send({ type: MSG_UPDATE_PRESENCE, payload: { presence } })) presenceOnServer = presence;
  });

  function sendJoin() {
    if (!room) return;
    askedAfter = state.chatMessages.at(-1)?.id;
    const payload: JoinRoomPayload = { roomId: room.id };
    if (room.presence !== undefined) payload.presence = room.presence;
    if (room.identity?.accessToken !== undefined) payload.accessToken = room.identity.accessToken;
    if (room.identity?.name !== undefined) payload.name = room.identity.name;
    if (room.identity?.email !== undefined) payload.email = room.identity.email;
    if (askedAfter !== undefined) payload.lastMessageId = askedAfter;
    if (connection.send({ type: MSG_JOIN_ROOM, payload })) presenceOnServer = room.presence;
  }

  function flushOutbox() {
    for (const entry of outbox.takeUnsent()) {
      const payload = {
        message: entry.message,
        clientMessageId: entry.clientMessageId,
        ...(entry.metadata ? { metadata: entry.metadata } : {}),
      };
      if (!connection.send({ type: MSG_SEND_CHAT, payload })) return outbox.unsendAll();
    }
  }

  function failHistoryRequests(error: LiveSyncError = new DisconnectedError("get_chat_history")) {
    for (const request of historyRequests.splice(0)) request.reject(error);
  }

  function handleFrame(data: string) {
    let frame: { type?: unknown; payload?: any };
    try {
      frame = JSON.parse(data);
    } catch {
      return update({ lastError: new LiveSyncError("INVALID_FRAME", "The server sent a frame that is not JSON.") });
    }
    const payload = frame?.payload;
    if (!payload || typeof payload !== "object") return;
    if (frame.type === MSG_ERROR) return onServerError(payload as ErrorPayload);
    if (!room || payload.roomId !== room.id) return;
    switch (frame.type) {
      case MSG_ROOM_JOINED:
        return onJoined(payload as RoomJoinedPayload);
      case MSG_PRESENCE_UPDATED:
        if (state.inRoom) update({ presence: applyPresenceDiff(state.presence, payload as PresenceUpdatedPayload) });
        return;
      case MSG_CHAT_MESSAGE:
        return onChat(payload as ChatMessagePayload);
      case MSG_BROADCAST_EVENT_RELAY:
        return dispatchEvent(payload as BroadcastEventRelayPayload);
      case MSG_CHAT_HISTORY: {
        const page = payload as ChatHistoryPayload;
        const request = historyRequests.shift();
        const before = state.chatMessages;
        const chatMessages = prependMessages(before, page.messages ?? []);
        update({ chatMessages, hasMoreHistory: page.hasMore === true });
        request?.resolve(chatMessages.slice(0, chatMessages.length - before.length));
        return;
      }
    }
  }

  function onJoined(payload: RoomJoinedPayload) {
    if (!room) return;
    const history = (payload.chatHistory ?? []) as ChatMessage[];
    const fresh = askedAfter === undefined;
    const chat = chatAfterJoin({ messages: state.chatMessages, gaps: state.chatGaps }, history, askedAfter, payload.resumed === true);
    // Sends whose message the history already holds were stored before the socket dropped.
    for (const m of history) if (m.clientMessageId) outbox.acknowledge(m.clientMessageId);
    // Our own entry shows the newest presence we asked for: the server has it or will (it is in flight, or
    // pushed below), even when this snapshot answers an older join still in flight on this socket.
    let presence: PresenceMap = payload.presence ?? {};
    const own = presence[payload.connectionId];
    if (own && room.presence !== undefined) presence = { ...presence, [payload.connectionId]: { ...own, presence: room.presence } };
    update({
      inRoom: true,
      connectionId: payload.connectionId,
      presence,
      chatMessages: chat.messages,
      chatGaps: chat.gaps,
      hasMoreHistory: fresh ? history.length > 0 : state.hasMoreHistory,
      pendingMessages: outbox.list(),
    });
    // Presence changed while the join was on its way: send the newest.
    if (room.presence !== undefined && room.presence !== presenceOnServer) throttle.push(room.presence);
    flushOutbox();
    update({ pendingMessages: outbox.list() });
  }

  function onChat(payload: ChatMessagePayload) {
    // A server that does not echo clientMessageId still stores and sends one connection's chats in order:
    // our own message then answers the oldest send written to this socket.
    const ownWithoutId = payload.clientMessageId === undefined && payload.connectionId === state.connectionId;
    const acknowledged = ownWithoutId
      ? outbox.acknowledgeOldestSent()
      : payload.clientMessageId !== undefined && outbox.acknowledge(payload.clientMessageId);
    const chatMessages = appendMessages(state.chatMessages, [payload]);
    if (chatMessages === state.chatMessages && !acknowledged) return;
    update({ chatMessages, ...(acknowledged ? { pendingMessages: outbox.list() } : {}) });
  }

  function onServerError(payload: ErrorPayload) {
    const error = new ServerError(String(payload.code), String(payload.message));
    // The only request waiting for an answer is a history page; a server without paging says UNKNOWN_TYPE.
    if (
      historyRequests.length > 0 &&
      (payload.code === "UNKNOWN_TYPE" || payload.code === "INVALID_PAYLOAD" || payload.code === "STORAGE_ERROR")
    ) {
      historyRequests.shift()?.reject(error);
    }
    update({ lastError: error });
  }

  function dispatchEvent(relay: BroadcastEventRelayPayload) {
    for (const name of [relay.event, "*"]) {
      for (const handler of handlers.get(name) ?? []) {
        try {
          handler(relay.payload, relay);
        } catch (error) {
          update({ lastError: new LiveSyncError("EVENT_HANDLER_FAILED", `A handler for "${relay.event}" threw`, { cause: error }) });
        }
      }
    }
  }

  function resetRoom() {
    room = undefined;
    presenceOnServer = undefined;
    askedAfter = undefined;
    throttle.cancel();
    outbox.clear();
    failHistoryRequests(new DisconnectedError("get_chat_history (left the room)"));
  }

  const emptyRoom = {
    currentRoomId: null,
    inRoom: false,
    connectionId: null,
    presence: {},
    chatMessages: [],
    pendingMessages: [],
    chatGaps: [],
    hasMoreHistory: false,
  } satisfies Partial<LiveSyncClientState>;

  return {
    connect() {
      connection.start();
    },
    disconnect() {
      resetRoom();
      connection.stop();
      update(emptyRoom);
    },
    joinRoom(roomId, presence, identity) {
      const sameRoom = room?.id === roomId;
      if (!sameRoom) resetRoom();
      room = { id: roomId, presence, identity };
      throttle.cancel();
      // Rejoining the room we are in keeps its chat and resumes it; another room starts empty.
      update(sameRoom ? { inRoom: false } : { ...emptyRoom, currentRoomId: roomId });
      sendJoin();
    },
    leaveRoom(roomId) {
      if (!room || (roomId !== undefined && roomId !== room.id)) return;
      // Also while our join is still in flight: the server handles the two in order.
      connection.send({ type: MSG_LEAVE_ROOM, payload: { roomId: room.id } });
      resetRoom();
      update(emptyRoom);
    },
    updatePresence(presence) {
      if (!room) return;
      room.presence = presence;
      const id = state.connectionId;
      const own = id === null ? undefined : state.presence[id];
      if (state.inRoom && own && id !== null) update({ presence: { ...state.presence, [id]: { ...own, presence } } });
      if (state.inRoom) throttle.push(presence);
    },
    broadcastEvent(event, payload) {
      if (!state.inRoom) return false;
      return connection.send({ type: MSG_BROADCAST_EVENT, payload: payload === undefined ? { event } : { event, payload } });
    },
    sendChat(message, metadata) {
      if (!room) throw new NotInRoomError("sendChat");
      const entry = outbox.add({ clientMessageId: newClientMessageId(), roomId: room.id, message, ...(metadata ? { metadata } : {}) });
      if (state.inRoom) flushOutbox();
      update({ pendingMessages: outbox.list() });
      return entry.clientMessageId;
    },
    loadOlderMessages(limit = config.historyPageSize ?? 50) {
      if (!room || !state.inRoom) return Promise.reject(new NotInRoomError("loadOlderMessages"));
      const before = state.chatMessages[0]?.id;
      const sent = connection.send({ type: MSG_GET_CHAT_HISTORY, payload: before === undefined ? { limit } : { before, limit } });
      if (!sent) return Promise.reject(new DisconnectedError("get_chat_history"));
      return new Promise<ChatMessage[]>((resolve, reject) => historyRequests.push({ resolve, reject }));
    },
    onEvent(event, handler) {
      let set = handlers.get(event);
      if (!set) handlers.set(event, (set = new Set()));
      set.add(handler);
      return () => {
        set.delete(handler);
        if (set.size === 0) handlers.delete(event);
      };
    },
    getState: () => state,
    subscribe(listener) {
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    },
    get status() {
      return state.status;
    },
    getConnectionStatus: () => state.connectionStatus,
    getPresence: () => state.presence,
    getChatMessages: () => state.chatMessages,
    getCurrentRoomId: () => state.currentRoomId,
  };
}
