import { ErrorCodes } from "../protocol/codes.ts";
import { chatFrame } from "../protocol/frames.ts";
import type { ChatMessagePayload, SendChatPayload } from "../protocol/messages.ts";
import { contextOf } from "./app-hooks.ts";
import { createChatHistory } from "./chat-history.ts";
import { type Connection, inOrder } from "./connection.ts";
import type { EngineContext } from "./context.ts";
import { senderKey } from "./events.ts";
import { withOffset } from "./streams.ts";

/** `beforeChat`, when set: false when the message was refused or the hook failed (the sender was told). */
async function moderate(ctx: EngineContext, conn: Connection, chat: ChatMessagePayload): Promise<boolean> {
  const { send, report, hooks } = ctx;
  const draft = { message: chat.message, ...(chat.metadata !== undefined ? { metadata: chat.metadata } : {}) };
  let out: Awaited<ReturnType<NonNullable<typeof hooks.beforeChat>>>;
  try {
    out = await hooks.beforeChat!(draft, contextOf(conn, chat.roomId));
  } catch (error) {
    report(error, { stage: "hook" });
    const text = "The chat message could not be checked (beforeChat failed); it was not stored or sent";
    send.error(conn, ErrorCodes.INTERNAL_ERROR, text, chat.clientMessageId);
    return false;
  }
  if (out === null) {
    send.error(conn, ErrorCodes.REJECTED, "The chat message was refused; it was not stored or sent", chat.clientMessageId);
    return false;
  }
  chat.message = out.message;
  if (out.metadata === undefined) delete chat.metadata;
  else chat.metadata = out.metadata;
  return true;
}

/** Store `chat`, then send it: to the room, or to the sender alone when it repeats a stored one. */
async function store(ctx: EngineContext, conn: Connection, chat: ChatMessagePayload): Promise<void> {
  const { rooms, send, report, storage, hooks, streams, shared } = ctx;
  if (hooks.beforeChat && !(await moderate(ctx, conn, chat))) return;
  let duplicate: boolean;
  try {
    const result = await storage.appendOnce(chat.roomId, {
      id: chat.id,
      connectionId: chat.connectionId,
      userId: chat.userId,
      name: chat.name,
      message: chat.message,
      metadata: chat.metadata,
      createdAt: chat.createdAt,
      clientMessageId: chat.clientMessageId,
    });
    duplicate = result.duplicate;
    if (duplicate) {
      // The original as stored; `email` and `provider`, which stores do not keep, come from this sender (same identity).
      chat = { ...result.message, email: chat.email, provider: chat.provider, clientMessageId: chat.clientMessageId };
    }
  } catch (error) {
    report(error, { stage: "storage" });
    return send.error(
      conn,
      ErrorCodes.STORAGE_ERROR,
      "Chat message was not confirmed as stored and was not sent to the room; send it again",
      chat.clientMessageId,
    );
  }
  const frame = chatFrame(chat);
  const key = chat.clientMessageId === undefined ? undefined : `chat:${senderKey(conn, chat.clientMessageId)}`;
  if (duplicate) {
    // A repeat was broadcast when it was first stored: only the sender, which may have missed it, hears
    // it again, with its offset while the room's stream (here, or in shared state) remembers it.
    const offset = key === undefined ? undefined : (streams?.remembered(chat.roomId, key) ?? (await shared?.remembered(chat.roomId, key)));
    return send.to(conn, offset === undefined ? frame : withOffset(frame, offset));
  }
  // Sent even when the sender left meanwhile: the message is stored, so everyone sees it.
  const published = await send.publishById(chat.roomId, { kind: "chat", connectionId: conn.id, frame, chatId: chat.id, key });
  hooks.chatStored(chat);
  // The sender always gets its acknowledgement, even if it left the room meanwhile.
  if (rooms.get(chat.roomId)?.local.has(conn) !== true) send.to(conn, published.frame);
}

/**
 * `send_chat`: stored first, then sent to everyone in the room (the sender included) with the stored
 * `id` and `createdAt`. One connection's chats are stored and echoed in the order it sent them: each
 * waits for the previous one (`work.chatChain`). A failed store answers the sender alone with
 * STORAGE_ERROR and sends nothing to the room.
 *
 * With a `clientMessageId` the message is stored once per room, sender and id (`appendOnce`): a repeat
 * (same connection, after a reconnect, through another instance, after a restart) stores nothing and
 * sends nothing to the room; the sender alone gets the stored message again, same `id` and `createdAt`.
 */
export function createChat(ctx: EngineContext) {
  const { send, report } = ctx;
  const maxInFlight = ctx.options.guard.maxChatsInFlight || Number.POSITIVE_INFINITY;

  function sendChat(conn: Connection, payload: SendChatPayload): void {
    const user = conn.user;
    const chat: ChatMessagePayload = {
      id: crypto.randomUUID(),
      roomId: conn.room!.id,
      connectionId: conn.id,
      userId: user?.userId,
      name: user?.name,
      email: user?.email,
      provider: user?.provider,
      message: payload.message,
      metadata: payload.metadata,
      createdAt: Date.now(),
    };
    if (payload.clientMessageId !== undefined) chat.clientMessageId = payload.clientMessageId;
    const work = conn.busy();
    if ((work.chatsInFlight ?? 0) >= maxInFlight) {
      if (!ctx.guard.mayWarn(conn)) return; // refused all the same: at most one RATE_LIMITED a second
      return send.error(
        conn,
        ErrorCodes.RATE_LIMITED,
        `More than ${maxInFlight} chat messages are waiting to be stored; wait for their chat_message`,
        payload.clientMessageId,
      );
    }
    work.chatsInFlight = (work.chatsInFlight ?? 0) + 1;
    inOrder(
      conn,
      "chatChain",
      () => store(ctx, conn, chat),
      report,
      (w) => {
        w.chatsInFlight! -= 1;
      },
    );
  }

  return { send: sendChat, history: createChatHistory(ctx) };
}

export type ChatActions = ReturnType<typeof createChat>;
