import type { Backplane } from "../cluster/backplane.ts";
import { StorageError } from "../errors.ts";
import { chatDeletedFrame, chatFrame, eventFrame } from "../protocol/frames.ts";
import { type ChatMessagePayload, isClientMessageId, type PresenceEntry } from "../protocol/messages.ts";
import type { ServerInputParser } from "../protocol/validate.ts";
import type { Ban, BanInput } from "./bans.ts";
import type { EngineContext } from "./context.ts";
import { parseEntry } from "./remote-members.ts";
import { BANNED, type BanOrder, checkTarget, closeOf, type DisconnectOrder, invalid, kickHere, obeyControl } from "./server-orders.ts";

/** A room and how many members it has, cluster-wide. */
export interface RoomSummary {
  roomId: string;
  members: number;
}

/** A chat message sent by the server (`sendChat`). */
export interface ServerChat {
  message: string;
  metadata?: Record<string, unknown>;
  /** Shown as the sender's name. @default undefined */
  name?: string;
}

export type DisconnectTarget = { connectionId: string } | { userId: string };

export interface DisconnectOptions {
  /** @default 4403 */
  code?: number;
  /** @default "Disconnected by the server" */
  reason?: string;
}

export interface PublishOptions {
  /** 1–64 of `[A-Za-z0-9_-]`: a repeat within the streams' `ttlMs` is published once (as `Idempotency-Key` on the HTTP API). */
  idempotencyKey?: string;
}

export interface PublishResult {
  /** The event's offset in the room's stream (streams on). */
  offset?: number;
  /** The key was seen: nothing was sent this time, `offset` is the first publish's. */
  duplicate: boolean;
}

/** One page of a room's chat history, oldest first. */
export interface ChatPage {
  messages: ChatMessagePayload[];
  hasMore: boolean;
}

/**
 * The server side of the rooms, for your backend: the same on one instance and across instances (with a
 * backplane). Invalid input throws a `ProtocolError` whose `code` is the wire code (`INVALID_PAYLOAD`,
 * `TOO_LARGE`); a failed store throws a `StorageError`.
 */
export interface ServerApi {
  /** Every room with at least one member, cluster-wide. */
  rooms(): Promise<RoomSummary[]>;
  /** The room's presence map, as `room_joined.presence` would give it (`{}` for an empty room). */
  presence(roomId: string): Promise<Record<string, PresenceEntry>>;
  /**
   * Every member gets a `broadcast_event` whose sender is the server (`connectionId: "server"`). With an
   * `idempotencyKey` seen in the room within the streams' `ttlMs`, nothing is sent and the first
   * publish's offset comes back (`duplicate: true`).
   */
  publish(roomId: string, event: string, payload?: unknown, options?: PublishOptions): Promise<PublishResult>;
  /** Stored and broadcast like a member's chat, from the server; resolves to the stored message. */
  sendChat(roomId: string, chat: ServerChat): Promise<ChatMessagePayload>;
  /** A page of the room's chat, as `get_chat_history` gives it. */
  chatHistory(roomId: string, page?: { before?: string; limit?: number }): Promise<ChatPage>;
  /** Close those connections wherever they are (default code 4403). */
  disconnect(target: DisconnectTarget, options?: DisconnectOptions): Promise<void>;
  /**
   * Delete a stored chat message: gone from storage (no history page or resume returns it), and every
   * member gets `chat_deleted { roomId, id }`. Resolves `false` when the room has no such message.
   */
  deleteChat(roomId: string, messageId: string): Promise<boolean>;
  /**
   * Bar a user from a room: its connections in the room are closed (4403, every instance) and its
   * `join_room` is refused with `FORBIDDEN` until the ban expires or is lifted.
   */
  ban(roomId: string, ban: BanInput): Promise<Ban>;
  /** The room's bans in force, oldest first. */
  bans(roomId: string): Promise<Ban[]>;
  /** Lift a ban; `false` when the user was not banned. */
  unban(roomId: string, userId: string): Promise<boolean>;
  /**
   * Every frame this instance sends the room's members, as sent, until the returned function is called
   * (the admin page's live tail). Nothing is paid while no one watches.
   */
  watch(roomId: string, onFrame: (frame: string) => void): () => void;
}

/** @deprecated Use `ServerApi` (the same interface, under the one name the docs use). */
export type LiveApi = ServerApi;

/** The `connectionId` of events and chat messages the server sends itself (no client has this id: theirs are UUIDs). */
export const SERVER_CONNECTION_ID = "server";
const DEFAULT_PAGE = 50;

/** The server's idempotency keys have their own scope in each room (a member's ids cannot collide with them). */
function serverKey(key: unknown): string {
  if (!isClientMessageId(key)) throw invalid("idempotencyKey must be 1-64 characters of A-Z, a-z, 0-9, _ and -");
  return JSON.stringify(["server", key]);
}

/** Delete a stored chat message, then tell the room (and the other instances) and the observers. */
async function deleteChat(ctx: EngineContext, roomId: string, messageId: string): Promise<boolean> {
  let deleted: boolean;
  try {
    deleted = await ctx.storage.delete(roomId, messageId);
  } catch (error) {
    ctx.report(error, { stage: "storage" });
    throw error instanceof StorageError ? error : new StorageError("The chat message could not be deleted", { cause: error });
  }
  if (!deleted) return false;
  // Held for joiners being prepared: the history they were given may still hold the message.
  ctx.send.publishById(roomId, {
    kind: "event",
    connectionId: SERVER_CONNECTION_ID,
    frame: chatDeletedFrame(roomId, messageId),
    hold: true,
  });
  ctx.callbacks.chatDeleted(roomId, messageId);
  return true;
}

/** A room's presence: from memory when this instance holds the room's full picture, else from shared state. */
async function presenceOf(ctx: EngineContext, backplane: Backplane | undefined, id: string): Promise<Record<string, PresenceEntry>> {
  const { rooms, cluster } = ctx;
  const room = rooms.get(id);
  if (room && (!cluster || cluster.isLoaded(room))) return room.snapshot();
  const state = await backplane?.fetchRoom(id);
  if (!state) return room ? room.snapshot() : {}; // shared state unreachable: what this instance knows
  const out: Record<string, PresenceEntry> = Object.create(null);
  for (const member of state.members) {
    const entry = parseEntry(member.entry, member.connectionId);
    if (entry) out[member.connectionId] = entry;
  }
  return out;
}

/** Rooms with members, by id: cluster-wide when the backplane can list them, else this instance's. */
async function roomList(ctx: EngineContext, backplane: Backplane | undefined): Promise<RoomSummary[]> {
  let counts = await backplane?.listRooms?.();
  if (!counts) {
    counts = new Map();
    for (const room of ctx.rooms.rooms.values()) if (room.members.size > 0) counts.set(room.id, room.members.size);
  }
  return Array.from(counts, ([roomId, members]) => ({ roomId, members })).sort((a, b) =>
    a.roomId < b.roomId ? -1 : a.roomId > b.roomId ? 1 : 0,
  );
}

/** A chat message from the server: stored, then sent to the room. */
async function sendServerChat(ctx: EngineContext, id: string, checked: ServerChat): Promise<ChatMessagePayload> {
  const message: ChatMessagePayload = {
    id: crypto.randomUUID(),
    roomId: id,
    connectionId: SERVER_CONNECTION_ID,
    ...(checked.name !== undefined ? { name: checked.name } : {}),
    message: checked.message,
    ...(checked.metadata !== undefined ? { metadata: checked.metadata } : {}),
    createdAt: Date.now(),
  };
  try {
    await ctx.storage.appendOnce(id, message);
  } catch (error) {
    ctx.report(error, { stage: "storage" });
    throw error instanceof StorageError ? error : new StorageError("The chat message could not be stored", { cause: error });
  }
  const { offset } = await ctx.send.publishById(id, {
    kind: "chat",
    connectionId: SERVER_CONNECTION_ID,
    frame: chatFrame(message),
    chatId: message.id,
  });
  ctx.callbacks.chatStored(message);
  return offset === undefined ? message : { offset, ...message };
}

/**
 * The server side of the rooms (`ServerApi`), on one instance or across instances: reads go to shared
 * state through the backplane, sends go through the same room-send path as members' messages, and a
 * disconnect is applied here and sent to the other instances on the control channel.
 */
export function createServerApi(ctx: EngineContext, input: ServerInputParser, backplane: Backplane | undefined): ServerApi {
  const { send, storage, cluster } = ctx;
  if (cluster) obeyControl(ctx, input, cluster);
  return {
    rooms: () => roomList(ctx, backplane),
    presence: async (roomId) => presenceOf(ctx, backplane, input.roomId(roomId)),
    async publish(roomId, event, payload, options) {
      const id = input.roomId(roomId);
      const checked = input.event(payload === undefined ? { event } : { event, payload });
      const key = options?.idempotencyKey === undefined ? undefined : serverKey(options.idempotencyKey);
      const frame = eventFrame({ roomId: id, connectionId: SERVER_CONNECTION_ID, event: checked.event, payload: checked.payload });
      const { offset, duplicate = false } = await send.publishById(id, { kind: "event", connectionId: SERVER_CONNECTION_ID, frame, key });
      return offset === undefined ? { duplicate } : { offset, duplicate };
    },
    sendChat: async (roomId, chat) => sendServerChat(ctx, input.roomId(roomId), input.chat(chat)),
    async chatHistory(roomId, page) {
      const id = input.roomId(roomId);
      const { before, limit } = input.page(page);
      let result: Awaited<ReturnType<typeof storage.getHistoryBefore>>;
      try {
        result = await storage.getHistoryBefore(id, before, limit ?? DEFAULT_PAGE);
      } catch (error) {
        throw new StorageError("Chat history could not be loaded", { cause: error });
      }
      if (!result) throw invalid(`before is not a message of room "${id}"`);
      return { messages: result.messages, hasMore: result.hasMore };
    },
    async disconnect(target, options) {
      const order: DisconnectOrder = { op: "disconnect", target: checkTarget(target), ...closeOf(input, options) };
      // A connection id is unique cluster-wide: found here, no other instance has it.
      if (kickHere(ctx, order) > 0 && "connectionId" in order.target) return;
      backplane?.control?.(JSON.stringify(order));
    },
    deleteChat: async (roomId, messageId) => deleteChat(ctx, input.roomId(roomId), input.messageId(messageId)),
    async ban(roomId, request) {
      const id = input.roomId(roomId);
      const { userId, durationMs, reason } = input.ban(request);
      const now = Date.now();
      const ban: Ban = { roomId: id, userId, createdAt: now };
      if (durationMs !== undefined) ban.expiresAt = now + durationMs;
      if (reason !== undefined) ban.reason = reason;
      await ctx.bans.add(ban);
      kickHere(ctx, { target: { userId }, roomId: id, ...BANNED });
      backplane?.control?.(JSON.stringify({ op: "ban", ban } satisfies BanOrder));
      return ban;
    },
    bans: async (roomId) => ctx.bans.list(input.roomId(roomId)),
    watch: (roomId, onFrame) => send.watch.watch(input.roomId(roomId), onFrame),
    async unban(roomId, userId) {
      const order: BanOrder = { op: "unban", roomId: input.roomId(roomId), userId: input.userId(userId) };
      const lifted = await ctx.bans.remove(order.roomId, order.userId);
      backplane?.control?.(JSON.stringify(order));
      return lifted;
    },
  };
}
