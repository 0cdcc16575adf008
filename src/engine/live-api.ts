import type { Backplane } from "../cluster/backplane.ts";
import { parseEntry } from "./remote-members.ts";
import { ErrorCodes, ProtocolError, StorageError } from "../errors.ts";
import { CloseCodes } from "../protocol/codes.ts";
import { chatDeletedFrame, chatFrame, eventFrame } from "../protocol/frames.ts";
import type { ChatMessagePayload, PresenceEntry } from "../protocol/messages.ts";
import type { ServerInputParser } from "../protocol/validate.ts";
import { isPlainObject } from "../util/json.ts";
import { isClientMessageId } from "../protocol/messages.ts";
import type { Ban } from "./bans.ts";
import type { EngineContext } from "./context.ts";
import type { DisconnectOptions, DisconnectTarget, LiveApi, RoomSummary, ServerChat } from "./server-api.ts";

/** The `connectionId` of events and chat messages the server sends itself (no client has this id: theirs are UUIDs). */
export const SERVER_CONNECTION_ID = "server";
const DEFAULT_PAGE = 50;

const invalid = (message: string) => new ProtocolError(ErrorCodes.INVALID_PAYLOAD, message);

/** The server's idempotency keys have their own scope in each room (a member's ids cannot collide with them). */
function serverKey(key: unknown): string {
  if (!isClientMessageId(key)) throw invalid("idempotencyKey must be 1-64 characters of A-Z, a-z, 0-9, _ and -");
  return JSON.stringify(["server", key]);
}

/**
 * A disconnect as it crosses instances: `{ op: "disconnect", target, code, reason }`; with `roomId`, only
 * the target's connections in that room (a ban).
 */
interface DisconnectOrder {
  op: "disconnect";
  target: DisconnectTarget;
  code: number;
  reason: string;
  roomId?: string;
}

/** A ban made or lifted on another instance: remembered or forgotten here, and (made) its user's connections in the room closed. */
type BanOrder = { op: "ban"; ban: Ban } | { op: "unban"; roomId: string; userId: string };

/** The close of a banned user's connections in the room. */
const BANNED = { code: CloseCodes.KICKED, reason: "Banned from this room" };

function checkTarget(target: unknown): DisconnectTarget {
  if (isPlainObject(target)) {
    const { connectionId, userId } = target;
    const ok = (v: unknown) => typeof v === "string" && v.length > 0 && v.length <= 256;
    if (ok(connectionId) && userId === undefined) return { connectionId: connectionId as string };
    if (ok(userId) && connectionId === undefined) return { userId: userId as string };
  }
  throw invalid("disconnect target must be { connectionId } or { userId }, a non-empty string of at most 256 characters");
}

/** `disconnect`'s close code and reason, checked by `input.close` and defaulted. */
function closeOf(input: ServerInputParser, options: DisconnectOptions = {}): { code: number; reason: string } {
  const { code = CloseCodes.KICKED, reason = "Disconnected by the server" } = input.close(options);
  return { code, reason };
}

/** Close the matching connections of this instance; how many there were. */
function kickHere(ctx: EngineContext, { target, code, reason, roomId }: Omit<DisconnectOrder, "op">): number {
  const match =
    "connectionId" in target
      ? (c: { id: string }) => c.id === target.connectionId
      : (c: { user?: { userId?: string } }) => c.user?.userId === target.userId;
  let closed = 0;
  for (const conn of [...ctx.rooms.connections()]) {
    if (conn.closed || !match(conn) || (roomId !== undefined && conn.room?.id !== roomId)) continue;
    ctx.drop(conn, code, reason);
    closed++;
  }
  return closed;
}

/** Apply the disconnects other instances send on the control channel. */
function obeyControl(ctx: EngineContext, input: ServerInputParser, cluster: NonNullable<EngineContext["cluster"]>): void {
  cluster.onControl = (body, instanceId) => {
    let order: DisconnectOrder | BanOrder | undefined;
    try {
      order = JSON.parse(body);
      if (order?.op === "ban") return obeyBan(ctx, input, order.ban);
      if (order?.op === "unban") return void ctx.bans.forget(input.roomId(order.roomId), input.userId(order.userId));
      if (order?.op !== "disconnect") throw new Error(`unknown op ${String((order as { op?: unknown } | undefined)?.op)}`);
      const roomId = order.roomId === undefined ? undefined : input.roomId(order.roomId);
      kickHere(ctx, { target: checkTarget(order.target), ...closeOf(input, { code: order.code, reason: order.reason }), roomId });
    } catch (error) {
      ctx.report(
        new ProtocolError(ErrorCodes.INVALID_MESSAGE, `Ignored a control message from instance ${instanceId}: ${(error as Error).message}`),
        {
          stage: "backplane",
        },
      );
    }
  };
}

/** Remember a ban another instance made and close its user's connections in the room here. */
function obeyBan(ctx: EngineContext, input: ServerInputParser, ban: Ban): void {
  if (!isPlainObject(ban) || typeof ban.createdAt !== "number" || (ban.expiresAt !== undefined && typeof ban.expiresAt !== "number"))
    throw new Error("malformed ban");
  const checked: Ban = { ...ban, roomId: input.roomId(ban.roomId), userId: input.userId(ban.userId) };
  ctx.bans.remember(checked);
  kickHere(ctx, { target: { userId: checked.userId }, roomId: checked.roomId, ...BANNED });
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
  ctx.hooks.chatDeleted(roomId, messageId);
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
  ctx.hooks.chatStored(message);
  return offset === undefined ? message : { offset, ...message };
}

/**
 * The server side of the rooms (`LiveApi`), on one instance or across instances: reads go to shared
 * state through the backplane, sends go through the same room-send path as members' messages, and a
 * disconnect is applied here and sent to the other instances on the control channel.
 */
export function createLiveApi(ctx: EngineContext, input: ServerInputParser, backplane: Backplane | undefined): LiveApi {
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
