import type { StoredChatMessage } from "../protocol/messages.ts";
import { numberOption } from "../util/number-option.ts";
import { type ChatStorage, clientScopeKey, pageFromNewest, toStored } from "./chat-storage.ts";

/**
 * Messages per room the server's own in-memory storage keeps (at least `chat.historyLimit`): more than a
 * joiner gets, so "load older" pages back past `room_joined.chatHistory`, and as many as a resume may
 * ask for (`chat.resumeLimit`'s default). `maxBytes` bounds them all.
 */
export const SERVER_MESSAGES_PER_ROOM = 1000;

/** What the storage counts for a kept message besides its strings: the objects, map entries and slot. */
const ENTRY_BYTES = 320;
/** What a kept room costs besides its messages: its log, maps and LRU entry. */
const ROOM_BYTES = 480;

export interface InMemoryChatStorageOptions {
  /**
   * Messages kept per room; older ones are dropped. Also the page `getHistory` returns without a limit.
   * @default 100
   */
  historyLimit?: number;
  /**
   * Bytes of history kept in all, estimated (two bytes a character of every field, plus about 320 bytes
   * a message and 480 a room). Past it the least recently used rooms (by append or read) are dropped;
   * a room that alone passes it loses its oldest messages. Without such a bound one client filling
   * rooms left 179 MB of heap behind, and the ceiling was about 16 GB.
   * @default 67108864 (64 MiB)
   */
  maxBytes?: number;
  /**
   * Rooms whose history is kept; past it the least recently used room (by append or read) is dropped.
   * @default 10000
   */
  maxRooms?: number;
}

interface Entry {
  message: StoredChatMessage;
  key: string | undefined;
  /** What this entry counts against `maxBytes`. */
  bytes: number;
}

/** The estimated bytes of a kept message: two a character of its strings, plus its objects. */
function sizeOf(message: StoredChatMessage, key: string | undefined): number {
  let chars = message.id.length + message.roomId.length + message.connectionId.length + message.message.length;
  chars += (message.userId?.length ?? 0) + (message.name?.length ?? 0) + (key?.length ?? 0);
  if (message.metadata !== undefined) chars += JSON.stringify(message.metadata).length;
  return ENTRY_BYTES + 2 * chars;
}

/** One room's kept history: entries oldest first, `entries[i]` has sequence `firstSeq + i`. */
class RoomLog {
  entries: Entry[] = [];
  firstSeq = 0;
  /** What this room counts against `maxBytes`, its own cost included. */
  bytes = ROOM_BYTES;
  readonly seqOf = new Map<string, number>();
  readonly byKey = new Map<string, StoredChatMessage>();

  /** Keep `entry`, dropping the oldest past `cap`; returns the change in bytes. */
  push(entry: Entry, cap: number): number {
    const before = this.bytes;
    const seq = this.firstSeq + this.entries.length;
    this.entries.push(entry);
    this.bytes += entry.bytes;
    this.seqOf.set(entry.message.id, seq);
    if (entry.key !== undefined) this.byKey.set(entry.key, entry.message);
    while (this.entries.length > cap) this.dropOldest();
    return this.bytes - before;
  }

  /** Drop the oldest message; returns the bytes freed. */
  dropOldest(): number {
    const old = this.entries.shift()!;
    if (this.seqOf.get(old.message.id) === this.firstSeq) this.seqOf.delete(old.message.id);
    if (old.key !== undefined && this.byKey.get(old.key) === old.message) this.byKey.delete(old.key);
    this.firstSeq++;
    this.bytes -= old.bytes;
    return old.bytes;
  }

  /** Remove message `id` (later entries move down one sequence number); returns the bytes freed, 0 when absent. */
  remove(id: string): number {
    const at = this.indexOf(id);
    if (at === undefined) return 0;
    const gone = this.entries.splice(at, 1)[0]!;
    this.seqOf.delete(id);
    if (gone.key !== undefined && this.byKey.get(gone.key) === gone.message) this.byKey.delete(gone.key);
    for (let i = at; i < this.entries.length; i++) this.seqOf.set(this.entries[i]!.message.id, this.firstSeq + i);
    this.bytes -= gone.bytes;
    return gone.bytes;
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
 * recently used rooms, at most `maxBytes` in all (least recently used rooms go first). A
 * `clientMessageId` is remembered as long as its message is kept.
 * @example
 * const storage = createInMemoryChatStorage({ historyLimit: 1000, maxBytes: 256 * 1024 * 1024 });
 */
export function createInMemoryChatStorage(options: InMemoryChatStorageOptions = {}): ChatStorage {
  const cap = Math.max(0, Math.floor(options.historyLimit ?? 100));
  const maxRooms = Math.max(1, Math.floor(options.maxRooms ?? 10_000));
  const maxBytes = numberOption("maxBytes", options.maxBytes, 64 * 1024 * 1024, "positive");
  const rooms = new Map<string, RoomLog>();
  let total = 0; // bytes counted by every kept room
  let counter = 0;
  const forget = (roomId: string, log: RoomLog) => {
    rooms.delete(roomId);
    total -= log.bytes;
  };
  /** The room's log, moved to the most recently used end; created (evicting the least recent) if `create`. */
  function use(roomId: string, create: boolean): RoomLog | undefined {
    let log = rooms.get(roomId);
    if (log) {
      rooms.delete(roomId);
    } else {
      if (!create) return undefined;
      log = new RoomLog();
      total += log.bytes;
      if (rooms.size >= maxRooms) forget(...rooms.entries().next().value!);
    }
    rooms.set(roomId, log);
    return log;
  }
  /** Back under `maxBytes`: the least recently used rooms first, then `current`'s oldest messages (its newest stays). */
  function shrink(current: RoomLog): void {
    for (const [roomId, log] of rooms) {
      if (total <= maxBytes || log === current) break; // `current` was just used: it is the last one
      forget(roomId, log);
    }
    while (total > maxBytes && current.entries.length > 1) total -= current.dropOldest();
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
      total += log.push({ message, key, bytes: sizeOf(message, key) }, cap);
      if (total > maxBytes) shrink(log);
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
    async delete(roomId, id) {
      const freed = rooms.get(roomId)?.remove(id) ?? 0;
      total -= freed;
      return freed > 0;
    },
    async close() {
      rooms.clear();
      total = 0;
    },
  };
  return storage;
}
