/**
 * Chat sends not yet acknowledged, in the order they were made. Each carries a `clientMessageId`, so a send
 * repeated after a reconnect is stored once; an entry leaves when its `chat_message` comes back.
 */
import { MSG_SEND_CHAT } from "../protocol/messages.ts";
import { QueueFullError } from "./errors.ts";

export interface PendingChatMessage {
  clientMessageId: string;
  roomId: string;
  message: string;
  metadata?: Record<string, unknown>;
  /** Written to the current socket (and not yet acknowledged). */
  sent: boolean;
}

export interface Outbox {
  add(entry: Omit<PendingChatMessage, "sent">): PendingChatMessage;
  /** Remove the entry with this id; false when there is none. */
  acknowledge(clientMessageId: string): boolean;
  /** Remove the oldest entry written to the current socket; false when there is none. */
  acknowledgeOldestSent(): boolean;
  /** The socket closed: everything written to it must go again. */
  unsendAll(): void;
  /** Entries not written to the current socket, oldest first; marks them sent. */
  takeUnsent(): PendingChatMessage[];
  /** Write every entry not yet on the current socket as `send_chat`; when a write fails, all go again on the next. */
  flush(link: { send(frame: unknown): boolean }): void;
  clear(): void;
  /** A snapshot, oldest first. */
  list(): PendingChatMessage[];
}

export function createOutbox(limit: number): Outbox {
  let entries: PendingChatMessage[] = [];
  return {
    add(entry) {
      if (entries.length >= limit) throw new QueueFullError(limit);
      const pending = { ...entry, sent: false };
      entries.push(pending);
      return pending;
    },
    acknowledge(clientMessageId) {
      const before = entries.length;
      entries = entries.filter((e) => e.clientMessageId !== clientMessageId);
      return entries.length !== before;
    },
    acknowledgeOldestSent() {
      const at = entries.findIndex((e) => e.sent);
      if (at >= 0) entries.splice(at, 1);
      return at >= 0;
    },
    unsendAll() {
      for (const e of entries) e.sent = false;
    },
    takeUnsent() {
      const unsent = entries.filter((e) => !e.sent);
      for (const e of unsent) e.sent = true;
      return unsent;
    },
    flush(link) {
      for (const entry of this.takeUnsent()) {
        const payload = {
          message: entry.message,
          clientMessageId: entry.clientMessageId,
          ...(entry.metadata ? { metadata: entry.metadata } : {}),
        };
        if (!link.send({ type: MSG_SEND_CHAT, payload })) return this.unsendAll();
      }
    },
    clear() {
      entries = [];
    },
    list: () => entries.map((e) => ({ ...e })),
  };
}

/** 22 random characters of [A-Za-z0-9_-]. `getRandomValues` exists in every runtime and, unlike `randomUUID`, on plain-HTTP pages. */
export function newClientMessageId(): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
  const bytes = crypto.getRandomValues(new Uint8Array(22));
  let id = "";
  for (const b of bytes) id += alphabet[b & 63];
  return id;
}
