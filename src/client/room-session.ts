/**
 * The room a client is in, kept across sockets: joining and rejoining (resuming the chat after the last
 * message held), the presence sent, the chat outbox, history pages, and the room's incoming frames.
 */
import {
  MSG_BROADCAST_EVENT,
  MSG_BROADCAST_EVENT_RELAY,
  MSG_CHAT_DELETED,
  MSG_CHAT_MESSAGE,
  MSG_ERROR,
  MSG_EVENT_ACK,
  MSG_JOIN_ROOM,
  MSG_LEAVE_ROOM,
  MSG_PRESENCE_UPDATED,
  MSG_ROOM_JOINED,
  MSG_UPDATE_PRESENCE,
  type BroadcastEventRelayPayload,
  type ChatDeletedPayload,
  type ChatMessagePayload,
  type ErrorPayload,
  type EventAckPayload,
  type JoinRoomPayload,
  type Presence,
  type PresenceUpdatedPayload,
  type RoomJoinedPayload,
} from "../protocol/messages.ts";
import type { JoinRoomIdentity } from "./api.ts";
import { EMPTY_ROOM, FULL_ACCESS, type StateStore } from "./client-state.ts";
import { DisconnectedError, LiveSyncError, NotInRoomError, ServerError } from "./errors.ts";
import type { EventHandlers } from "./event-handlers.ts";
import { createOutbox, newClientMessageId, type Outbox } from "./outbox.ts";
import { HistoryPages } from "./history-pages.ts";
import { createPresenceThrottle, type PresenceThrottle } from "./presence-throttle.ts";
import { type EventBody, RoomStream, type StreamGap } from "./room-stream.ts";
import { applyPresenceDiff, appendMessages, chatAfterJoin, prependMessages, withOwnPresence } from "./room-view.ts";
import { MSG_CHAT_HISTORY, MSG_GET_CHAT_HISTORY, type ChatHistoryPayload, type ChatMessage } from "./wire.ts";

/** The room as the user asked for it; its join is resent on every socket. */
interface RoomIntent {
  id: string;
  presence: Presence | undefined;
  identity: JoinRoomIdentity | undefined;
}

/** What the resumeKey needs of the connection: writing a frame, false when no socket is open. */
export interface FrameLink {
  send(frame: unknown): boolean;
}

export interface RoomSessionOptions {
  maxQueuedMessages: number;
  presenceThrottleMs: number;
}

export class RoomSession {
  private readonly store: StateStore;
  private readonly link: FrameLink;
  private readonly events: EventHandlers;
  private readonly outbox: Outbox;
  private readonly throttle: PresenceThrottle;
  private readonly pages = new HistoryPages();
  private readonly stream: RoomStream;
  private room: RoomIntent | undefined;
  /** The presence the server has for us (sent in the join or an update). */
  private presenceOnServer: Presence | undefined;
  /** The last message id the current join resumes after. */
  private askedAfter: string | undefined;

  constructor(
    store: StateStore,
    link: FrameLink,
    events: EventHandlers,
    options: RoomSessionOptions,
    onGap: (gap: StreamGap) => void = () => {},
  ) {
    this.store = store;
    this.link = link;
    this.events = events;
    this.stream = new RoomStream(options.maxQueuedMessages, onGap);
    this.outbox = createOutbox(options.maxQueuedMessages);
    this.throttle = createPresenceThrottle(options.presenceThrottleMs, (presence) => {
      if (this.store.state.inRoom && this.link.send({ type: MSG_UPDATE_PRESENCE, payload: { presence } })) this.presenceOnServer = presence;
    });
  }

  // ---- what the user asks for -------------------------------------------------------------------

  join(roomId: string, presence: Presence | undefined, identity: JoinRoomIdentity | undefined): void {
    const sameRoom = this.room?.id === roomId;
    if (!sameRoom) this.reset();
    this.room = { id: roomId, presence, identity };
    this.throttle.cancel();
    // Rejoining the room we are in keeps its chat and resumes it; another room starts empty.
    this.store.update(sameRoom ? { inRoom: false } : { ...EMPTY_ROOM, currentRoomId: roomId });
    this.sendJoin();
  }

  leave(roomId: string | undefined): void {
    const room = this.room;
    if (!room || (roomId !== undefined && roomId !== room.id)) return;
    // Also while our join is still in flight: the server handles the two in order.
    this.link.send({ type: MSG_LEAVE_ROOM, payload: { roomId: room.id } });
    this.reset();
    this.store.update(EMPTY_ROOM);
  }

  updatePresence(presence: Presence): void {
    if (!this.room) return;
    this.room.presence = presence;
    const { state } = this.store;
    const id = state.connectionId;
    const own = id === null ? undefined : state.presence[id];
    if (state.inRoom && own && id !== null) this.store.update({ presence: { ...state.presence, [id]: { ...own, presence } } });
    if (this.store.state.inRoom) this.throttle.push(presence);
  }

  sendChat(message: string, metadata: Record<string, unknown> | undefined): string {
    if (!this.room) throw new NotInRoomError("sendChat");
    const entry = this.outbox.add({
      clientMessageId: newClientMessageId(),
      roomId: this.room.id,
      message,
      ...(metadata ? { metadata } : {}),
    });
    if (this.store.state.inRoom) this.outbox.flush(this.link);
    this.store.update({ pendingMessages: this.outbox.list() });
    return entry.clientMessageId;
  }

  /**
   * Send an event to the others. To a server with streams it carries a `clientMessageId` and is sent
   * again after a reconnect until the server acknowledges it (the server relays a repeat to nobody).
   */
  broadcastEvent(event: string, payload: unknown): boolean {
    if (!this.room || !this.store.state.inRoom) return false;
    const body: EventBody = payload === undefined ? { event } : { event, payload };
    this.stream.track(body);
    return this.link.send({ type: MSG_BROADCAST_EVENT, payload: body });
  }

  loadOlderMessages(limit: number): Promise<ChatMessage[]> {
    const { state } = this.store;
    if (!this.room || !state.inRoom) return Promise.reject(new NotInRoomError("loadOlderMessages"));
    const before = state.chatMessages[0]?.id;
    const sent = this.link.send({ type: MSG_GET_CHAT_HISTORY, payload: before === undefined ? { limit } : { before, limit } });
    if (!sent) return Promise.reject(new DisconnectedError("get_chat_history"));
    return this.pages.wait();
  }

  /** Forget the room: nothing pending is sent, waiting history pages fail. */
  reset(): void {
    this.room = undefined;
    this.presenceOnServer = undefined;
    this.askedAfter = undefined;
    this.stream.reset();
    this.throttle.cancel();
    this.outbox.clear();
    this.pages.failAll(new DisconnectedError("get_chat_history (left the room)"));
  }

  // ---- the socket ------------------------------------------------------------------------------

  /** A socket opened (or the user joined): ask for the room, resuming after the last message held. */
  sendJoin(): void {
    const room = this.room;
    if (!room) return;
    this.askedAfter = this.store.state.chatMessages.at(-1)?.id;
    const payload: JoinRoomPayload = { roomId: room.id };
    if (room.presence !== undefined) payload.presence = room.presence;
    if (room.identity?.accessToken !== undefined) payload.accessToken = room.identity.accessToken;
    if (room.identity?.name !== undefined) payload.name = room.identity.name;
    if (room.identity?.email !== undefined) payload.email = room.identity.email;
    if (this.askedAfter !== undefined) payload.lastMessageId = this.askedAfter;
    const since = this.stream.ask();
    if (since) payload.since = since;
    payload.resumeKey = this.stream.resumeKey;
    if (this.link.send({ type: MSG_JOIN_ROOM, payload })) this.presenceOnServer = room.presence;
  }

  /** The socket dropped: what was written to it goes again on the next one. */
  dropped(): void {
    this.throttle.cancel();
    this.outbox.unsendAll();
    this.pages.failAll();
    this.store.update({ inRoom: false });
  }

  receive(data: string): void {
    let frame: { type?: unknown; payload?: any };
    try {
      frame = JSON.parse(data);
    } catch {
      return this.store.update({ lastError: new LiveSyncError("INVALID_FRAME", "The server sent a frame that is not JSON.") });
    }
    const payload = frame?.payload;
    if (!payload || typeof payload !== "object") return;
    if (frame.type === MSG_ERROR) return this.onServerError(payload as ErrorPayload);
    if (!this.room || payload.roomId !== this.room.id) return;
    switch (frame.type) {
      case MSG_ROOM_JOINED:
        return this.onJoined(this.room, payload as RoomJoinedPayload);
      case MSG_PRESENCE_UPDATED:
        if (this.store.state.inRoom)
          this.store.update({ presence: applyPresenceDiff(this.store.state.presence, payload as PresenceUpdatedPayload) });
        return;
      case MSG_CHAT_MESSAGE:
        this.stream.advance(payload.offset);
        return this.onChat(payload as ChatMessagePayload);
      case MSG_BROADCAST_EVENT_RELAY:
        // An offset already held is a repeat (a replay overlapping what arrived live): handlers ran for it.
        if (!this.stream.advance(payload.offset)) return;
        return this.events.dispatch(payload as BroadcastEventRelayPayload, (error) => this.store.update({ lastError: error }));
      case MSG_EVENT_ACK:
        this.stream.forget((payload as EventAckPayload).clientMessageId);
        return;
      case MSG_CHAT_HISTORY:
        return this.onHistoryPage(payload as ChatHistoryPayload);
      case MSG_CHAT_DELETED:
        return this.onChatDeleted(payload as ChatDeletedPayload);
    }
  }

  // ---- incoming frames -------------------------------------------------------------------------

  private onJoined(room: RoomIntent, payload: RoomJoinedPayload): void {
    const { state } = this.store;
    const history = (payload.chatHistory ?? []) as ChatMessage[];
    const fresh = this.askedAfter === undefined;
    const chat = chatAfterJoin({ messages: state.chatMessages, gaps: state.chatGaps }, history, this.askedAfter, payload.resumed === true);
    // Sends whose message the history already holds were stored before the socket dropped.
    for (const m of history) if (m.clientMessageId) this.outbox.acknowledge(m.clientMessageId);
    // Our own entry shows the newest presence we asked for: the server has it or will (it is in flight, or
    // pushed below), even when this snapshot answers an older join still in flight on this socket.
    const presence = withOwnPresence(payload.presence ?? {}, payload.connectionId, room.presence);
    const recovered = this.stream.joined(room.id, payload);
    this.store.update({
      inRoom: true,
      recovered,
      connectionId: payload.connectionId,
      presence,
      chatMessages: chat.messages,
      chatGaps: chat.gaps,
      permissions: payload.permissions ?? FULL_ACCESS,
      hasMoreHistory: fresh ? history.length > 0 : state.hasMoreHistory,
      pendingMessages: this.outbox.list(),
    });
    // Presence changed while the join was on its way: send the newest.
    if (room.presence !== undefined && room.presence !== this.presenceOnServer) this.throttle.push(room.presence);
    this.outbox.flush(this.link);
    // Events the last socket took without an acknowledgement: the server relays each once, whatever it got.
    for (const body of this.stream.unacknowledged()) if (!this.link.send({ type: MSG_BROADCAST_EVENT, payload: body })) break;
    this.store.update({ pendingMessages: this.outbox.list() });
  }

  private onChat(payload: ChatMessagePayload): void {
    const { state } = this.store;
    // A server that does not echo clientMessageId still stores and sends one connection's chats in order:
    // our own message then answers the oldest send written to this socket.
    const ownWithoutId = payload.clientMessageId === undefined && payload.connectionId === state.connectionId;
    const acknowledged = ownWithoutId
      ? this.outbox.acknowledgeOldestSent()
      : payload.clientMessageId !== undefined && this.outbox.acknowledge(payload.clientMessageId);
    const chatMessages = appendMessages(state.chatMessages, [payload]);
    if (chatMessages === state.chatMessages && !acknowledged) return;
    this.store.update({ chatMessages, ...(acknowledged ? { pendingMessages: this.outbox.list() } : {}) });
  }

  /** A moderator deleted a message: it leaves `chatMessages` (and the gaps, where it marked one). */
  private onChatDeleted({ id }: ChatDeletedPayload): void {
    const { chatMessages, chatGaps } = this.store.state;
    if (!chatMessages.some((m) => m.id === id)) return;
    this.store.update({ chatMessages: chatMessages.filter((m) => m.id !== id), chatGaps: chatGaps.filter((g) => g !== id) });
  }

  private onHistoryPage(page: ChatHistoryPayload): void {
    const request = this.pages.take();
    const before = this.store.state.chatMessages;
    const chatMessages = prependMessages(before, page.messages ?? []);
    this.store.update({ chatMessages, hasMoreHistory: page.hasMore === true });
    request?.resolve(chatMessages.slice(0, chatMessages.length - before.length));
  }

  private onServerError(payload: ErrorPayload): void {
    const id = typeof payload.clientMessageId === "string" ? payload.clientMessageId : undefined;
    const error = new ServerError(String(payload.code), String(payload.message), id);
    // The server's beforeChat or beforeEvent refused this message for good: sending it again would be refused again.
    if (id !== undefined) this.stream.forget(id); // an event refused or failed is not retried
    if (payload.code === "REJECTED" && id !== undefined && this.outbox.acknowledge(id)) {
      this.store.update({ pendingMessages: this.outbox.list() });
    }
    // The only request waiting for an answer is a history page; a server without paging says UNKNOWN_TYPE.
    if (payload.code === "UNKNOWN_TYPE" || payload.code === "INVALID_PAYLOAD" || payload.code === "STORAGE_ERROR") {
      this.pages.take()?.reject(error);
    }
    this.store.update({ lastError: error });
  }
}
