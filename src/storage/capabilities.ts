import type { StoredChatMessage } from "../protocol/messages.ts";
import type { AppendResult, ChatAppendInput, ChatStorage, HistoryPage } from "./chat-storage.ts";
import { toStored } from "./chat-storage.ts";
import { StorageError } from "../errors.ts";

/** Which of the optional {@link ChatStorage} methods a storage implements itself. */
export interface ChatStorageCapabilities {
  /** `getHistoryBefore` is native; otherwise it pages through `getHistory`. */
  paging: boolean;
  /** `getHistoryAfter` is native; otherwise resume is off (it always answers "not found"). */
  resume: boolean;
  /** `appendOnce` is native; otherwise `clientMessageId` is ignored (every append stores). */
  idempotency: boolean;
  /** `delete` is native; otherwise deleting a message fails with a `StorageError` that says so. */
  deletion: boolean;
}

/** A storage with every method, as {@link withChatCapabilities} returns it. */
export type CompleteChatStorage = Required<
  Pick<ChatStorage, "append" | "getHistory" | "appendOnce" | "getHistoryBefore" | "getHistoryAfter" | "delete">
> &
  Pick<ChatStorage, "close" | "processLocal">;

export interface WithCapabilities {
  storage: CompleteChatStorage;
  native: ChatStorageCapabilities;
  /** One start-up warning per missing capability (empty for the built-in storages). */
  warnings: string[];
}

const NO_DELETE = "This chat storage cannot delete messages: give it a delete(roomId, id) method (see ChatStorage.delete).";

/** How far back an emulated `getHistoryBefore` looks for `beforeId` through `getHistory`. */
export const EMULATED_SCAN_LIMIT = 10_000;
const SCAN_PAGE = 200;

/**
 * Wrap any {@link ChatStorage} into one with every method, native where the storage has it:
 * - no `getHistoryBefore`: paged through `getHistory`, looking for `beforeId` among the newest
 *   {@link EMULATED_SCAN_LIMIT} messages (older ids count as unknown);
 * - no `getHistoryAfter`: resume is off, every `lastMessageId` is "not found";
 * - no `appendOnce`: `clientMessageId` is ignored and every append stores (never `duplicate`);
 * - no `delete`: deleting a message rejects with a `StorageError` that says what to add.
 * A custom storage that implements only `append` and `getHistory` keeps working; the server logs `warnings` once.
 * @example
 * const { storage, warnings } = withChatCapabilities(options.chat.storage);
 * for (const w of warnings) console.warn(`[openlivesync] ${w}`);
 */
export function withChatCapabilities(storage: ChatStorage): WithCapabilities {
  const native: ChatStorageCapabilities = {
    paging: typeof storage.getHistoryBefore === "function",
    resume: typeof storage.getHistoryAfter === "function",
    idempotency: typeof storage.appendOnce === "function",
    deletion: typeof storage.delete === "function",
  };
  const warnings: string[] = [];
  if (!native.paging)
    warnings.push(
      `Chat storage has no getHistoryBefore: get_chat_history pages through getHistory and finds only the newest ${EMULATED_SCAN_LIMIT} messages.`,
    );
  if (!native.resume)
    warnings.push(
      "Chat storage has no getHistoryAfter: lastMessageId is ignored, rejoining clients get the newest history (resumed: false).",
    );
  if (!native.idempotency) warnings.push("Chat storage has no appendOnce: clientMessageId is ignored, a resent message is stored again.");

  const complete: CompleteChatStorage = {
    append: (roomId, message) => storage.append(roomId, message),
    getHistory: (roomId, limit, offset) => storage.getHistory(roomId, limit, offset),
    appendOnce: native.idempotency
      ? (roomId, input) => storage.appendOnce!(roomId, input)
      : (roomId, input) => appendPlain(storage, roomId, input),
    getHistoryBefore: native.paging
      ? (roomId, beforeId, limit) => storage.getHistoryBefore!(roomId, beforeId, limit)
      : (roomId, beforeId, limit) => pageBefore(storage, roomId, beforeId, limit),
    delete: native.deletion ? (roomId, id) => storage.delete!(roomId, id) : async () => Promise.reject(new StorageError(NO_DELETE)),
    getHistoryAfter: native.resume ? (roomId, afterId, limit) => storage.getHistoryAfter!(roomId, afterId, limit) : async () => undefined,
    ...(storage.close ? { close: () => storage.close!() } : {}),
    ...(storage.processLocal !== undefined ? { processLocal: storage.processLocal } : {}),
  };
  return { storage: complete, native, warnings };
}

/** The required `append`, with `id` and `createdAt` filled first so the stored message is known even when it returns nothing. */
async function appendPlain(storage: ChatStorage, roomId: string, input: ChatAppendInput): Promise<AppendResult> {
  const { clientMessageId: _ignored, ...rest } = input;
  const filled = toStored(roomId, rest, () => globalThis.crypto.randomUUID());
  const { roomId: _room, ...message } = filled;
  const returned = await storage.append(roomId, message);
  return { message: returned ?? filled, duplicate: false };
}

/** How many messages are newer than `id` (its position counted from the newest, 0-based), or `undefined`. */
async function positionFromNewest(storage: ChatStorage, roomId: string, id: string): Promise<number | undefined> {
  for (let offset = 0; offset < EMULATED_SCAN_LIMIT; offset += SCAN_PAGE) {
    const page = await storage.getHistory(roomId, SCAN_PAGE, offset);
    const at = page.findIndex((m) => m.id === id);
    if (at >= 0) return offset + (page.length - 1 - at);
    if (page.length < SCAN_PAGE) return undefined;
  }
  return undefined;
}

async function pageBefore(
  storage: ChatStorage,
  roomId: string,
  beforeId: string | undefined,
  limit: number,
): Promise<HistoryPage | undefined> {
  const n = Math.max(0, Math.floor(limit) || 0);
  let skip = 0;
  if (beforeId !== undefined) {
    const position = await positionFromNewest(storage, roomId, beforeId);
    if (position === undefined) return undefined;
    skip = position + 1;
  }
  // One more than asked says whether older messages exist.
  const page: StoredChatMessage[] = n === 0 ? [] : await storage.getHistory(roomId, n + 1, skip);
  const hasMore = n === 0 ? (await storage.getHistory(roomId, 1, skip)).length > 0 : page.length > n;
  return { messages: hasMore && n > 0 ? page.slice(1) : page, hasMore };
}
