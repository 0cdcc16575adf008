import type { StoredChatMessage } from "../protocol/messages.ts";
import { type ChatStorage, clientScopeKey, pageFromNewest, toStored } from "./chat-storage.ts";

export interface InMemoryChatStorageOptions {
  /**
   * Messages kept per room; older ones are dropped.
   * @default 100
   */
  historyLimit?: number;
  /**
   * Rooms whose history is kept; past it the least recently used room (by append or read) is dropped.
   * @default 10000
   */
  maxRooms?: number;
}

interface Entry {
  message: StoredChatMessage;
  key: string | undefined;
}

/** One room's kept history: entries oldest first, `entries[i]` has sequence `firstSeq + i`. */
class RoomLog {
  entries: Entry[] = [];
  firstSeq = 0;
  readonly seqOf = new Map<string, number>();
  readonly byKey = new Map<string, StoredChatMessage>();

  push(entry: Entry, cap: number): void {
    const seq = this.firstSeq + this.entries.length;
    this.entries.push(entry);
    this.seqOf.set(entry.message.id, seq);
    if (entry.key !== undefined) this.byKey.set(entry.key, entry.message);
    while (this.entries.length > cap) this.dropOldest();
  }

  private dropOldest(): void {
    const old = this.entries.shift()!;
    if (this.seqOf.get(old.message.id) === this.firstSeq) this.seqOf.delete(old.message.id);
    if (old.key !== undefined && this.byKey.get(old.key) === old.message) this.byKey.delete(old.key);
    this.firstSeq++;
  }

  /** Index in `entries` of message `id`, or `undefined`. */
  indexOf(id: string): number | undefined {
    const seq = this.seqOf.get(id);
    return seq === undefined ? undefined : seq - this.firstSeq;
  }

  slice(start: number, end: number): StoredChatMessage[] {
    return this.entries.slice(start, end).map((e) => e.message);
  }
}

const pageSize = (limit: number) => (Number.isNaN(limit) || limit <= 0 ? 0 : Math.floor(Math.min(limit, 2 ** 31 - 1)));

/**
 * Chat history in process memory: the newest `historyLimit` messages of each of the `maxRooms` most
 * recently used rooms. A `clientMessageId` is remembered as long as its message is kept.
 * @example
 * const storage = createInMemoryChatStorage({ historyLimit: 100, maxRooms: 10_000 });
 */
export function createInMemoryChatStorage(options: InMemoryChatStorageOptions = {}): ChatStorage {
  const cap = Math.max(0, Math.floor(options.historyLimit ?? 100));
  const maxRooms = Math.max(1, Math.floor(options.maxRooms ?? 10_000));
  const rooms = new Map<string, RoomLog>();
  let counter = 0;

  /** The room's log, moved to the most recently used end; created (evicting the least recent) if `create`. */
  function use(roomId: string, create: boolean): RoomLog | undefined {
    let log = rooms.get(roomId);
    if (log) {
      rooms.delete(roomId);
    } else {
      if (!create) return undefined;
      log = new RoomLog();
      if (rooms.size >= maxRooms) rooms.delete(rooms.keys().next().value!);
    }
    rooms.set(roomId, log);
    return log;
  }

  const storage: Required<Omit<ChatStorage, "processLocal">> & { processLocal: true } = {
    processLocal: true,
    async append(roomId, message) {
      return (await storage.appendOnce(roomId, message)).message;
    },
    async appendOnce(roomId, input) {
      const key = clientScopeKey(roomId, input);
      const log = use(roomId, true)!;
      const original = key === undefined ? undefined : log.byKey.get(key);
      if (original) return { message: original, duplicate: true };
      const message = toStored(roomId, input, () => `m${Date.now().toString(36)}-${(counter++).toString(36)}`);
      log.push({ message, key }, cap);
      return { message, duplicate: false };
    },
    async getHistory(roomId, limit = cap, offset = 0) {
      const log = use(roomId, false);
      return log ? pageFromNewest(log.entries, 0, limit, offset).map((e) => e.message) : [];
    },
    async getHistoryBefore(roomId, beforeId, limit) {
      const log = use(roomId, false);
      const end = beforeId === undefined ? (log?.entries.length ?? 0) : log?.indexOf(beforeId);
      if (end === undefined) return undefined;
      const start = Math.max(0, end - pageSize(limit));
      return { messages: log ? log.slice(start, end) : [], hasMore: start > 0 };
    },
    async getHistoryAfter(roomId, afterId, limit) {
      const log = use(roomId, false);
      const at = log?.indexOf(afterId);
      if (log === undefined || at === undefined) return undefined;
      return log.slice(at + 1, at + 1 + pageSize(limit));
    },
    async close() {
      rooms.clear();
    },
  };
  return storage;
}
