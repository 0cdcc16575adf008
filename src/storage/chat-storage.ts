import type { ChatMessageInput, StoredChatMessage } from "../protocol/messages.ts";

/**
 * Where chat history lives. Every adapter follows one paging rule: pages count back from the newest
 * message and each page comes back oldest first. `getHistory(room, 100)` is the newest 100;
 * `getHistory(room, 20, 40)` is the third-newest page of 20.
 */
export interface ChatStorage {
  /** Persist a message. When the promise resolves the message is stored. */
  append(roomId: string, message: ChatMessageInput): Promise<void | StoredChatMessage>;
  /** Messages of the room, oldest first, paged back from the newest. */
  getHistory(roomId: string, limit?: number, offset?: number): Promise<StoredChatMessage[]>;
  /** Release pools and handles. */
  close?(): Promise<void>;
  /** History lives in this process only (the in-memory storage): a cluster's instances do not share it. */
  readonly processLocal?: boolean;
}

export interface InMemoryChatStorageOptions {
  /**
   * Messages kept per room; older ones are dropped.
   * @default 100
   */
  historyLimit?: number;
}

/**
 * Chat history in process memory, capped per room.
 * @example
 * const storage = createInMemoryChatStorage({ historyLimit: 100 });
 */
export function createInMemoryChatStorage(options: InMemoryChatStorageOptions = {}): ChatStorage {
  const cap = options.historyLimit ?? 100;
  const rooms = new Map<string, StoredChatMessage[]>();
  let counter = 0;

  return {
    processLocal: true,
    async append(roomId, message) {
      const stored = toStored(roomId, message, () => `m${Date.now().toString(36)}-${(counter++).toString(36)}`);
      let list = rooms.get(roomId);
      if (!list) rooms.set(roomId, (list = []));
      list.push(stored);
      // Trim in chunks so a hot room does not shift the array on every append.
      if (list.length > cap * 2 || (cap < 64 && list.length > cap)) list.splice(0, list.length - cap);
      return stored;
    },
    async getHistory(roomId, limit = cap, offset = 0) {
      const list = rooms.get(roomId);
      if (!list) return [];
      const kept = Math.min(list.length, cap);
      return pageFromNewest(list, list.length - kept, limit, offset);
    },
    async close() {
      rooms.clear();
    },
  };
}

/** Slice a list (oldest first) by the paging rule, looking only at `list[from..]`. */
export function pageFromNewest<T>(list: readonly T[], from: number, limit: number, offset: number): T[] {
  const end = list.length - Math.max(0, offset);
  const start = Math.max(from, end - Math.max(0, limit));
  return end <= start ? [] : list.slice(start, end);
}

/** Fill the fields storage owns (`id`, `createdAt`) and drop absent optionals. */
export function toStored(roomId: string, input: ChatMessageInput, newId: () => string): StoredChatMessage {
  const stored: StoredChatMessage = {
    id: input.id ?? newId(),
    roomId,
    connectionId: input.connectionId,
    message: input.message,
    createdAt: input.createdAt ?? Date.now(),
  };
  if (input.userId !== undefined) stored.userId = input.userId;
  if (input.name !== undefined) stored.name = input.name;
  if (input.metadata !== undefined) stored.metadata = input.metadata;
  return stored;
}
