import type { ChatMessageInput, StoredChatMessage } from "../protocol/messages.ts";
import { StorageError } from "../errors.ts";

/** A message to store, with the client's id for exactly-once sends. */
export interface ChatAppendInput extends ChatMessageInput {
  /**
   * The client's own id for this send, 1–64 characters of `[A-Za-z0-9_-]`, scoped to the room and the
   * sender (its `userId` when it has one, else its `connectionId`). A second append with the same id
   * stores nothing and returns the first one's stored message.
   */
  clientMessageId?: string;
}

/** What {@link ChatStorage.appendOnce} resolves to. */
export interface AppendResult {
  /** The stored message: the new one, or for a duplicate the original (its `id` and `createdAt`). */
  message: StoredChatMessage;
  /** `true` when `clientMessageId` was already stored for this room and sender, and nothing was stored. */
  duplicate: boolean;
}

/** A page of history older than a message, from {@link ChatStorage.getHistoryBefore}. */
export interface HistoryPage {
  /** Oldest first. */
  messages: StoredChatMessage[];
  /** Whether the room holds messages older than the first of `messages`. */
  hasMore: boolean;
}

/**
 * Where chat history lives. Messages of a room have one total order, the order they were stored in
 * (a per-room sequence in memory, the `seq` column in SQL), and every method below reads it.
 *
 * Only `append` and `getHistory` are required (the seed's contract). The other methods are optional for
 * custom storages: {@link withChatCapabilities} fills the gaps and says which are native.
 */
export interface ChatStorage {
  /** Persist a message. When the promise resolves the message is stored. */
  append(roomId: string, message: ChatMessageInput): Promise<void | StoredChatMessage>;
  /** Messages of the room, oldest first, paged back from the newest: `getHistory(room, 20, 40)` is the third-newest page of 20. */
  getHistory(roomId: string, limit?: number, offset?: number): Promise<StoredChatMessage[]>;
  /**
   * Store a message once per `clientMessageId` (room + sender scope); without one, the same as `append`.
   * Duplicates inside one group-commit batch, against the table, and from other instances all resolve
   * to the original message with `duplicate: true`.
   */
  appendOnce?(roomId: string, message: ChatAppendInput): Promise<AppendResult>;
  /**
   * The `limit` messages just older than `beforeId` (the newest `limit` without it), oldest first, and
   * whether older ones exist. `undefined` when `beforeId` is not a message of this room.
   */
  getHistoryBefore?(roomId: string, beforeId: string | undefined, limit: number): Promise<HistoryPage | undefined>;
  /**
   * The messages stored after `afterId`, oldest first, at most `limit`. `undefined` when `afterId` is not
   * (or no longer) a message of this room.
   */
  getHistoryAfter?(roomId: string, afterId: string, limit: number): Promise<StoredChatMessage[] | undefined>;
  /**
   * Remove message `id` of the room for good (moderation): no later `getHistory`, page or resume returns
   * it. Resolves `true` when it was stored, `false` when the room holds no such message. Optional for
   * custom storages: without it, deleting a message fails with a `StorageError` that says so.
   */
  delete?(roomId: string, id: string): Promise<boolean>;
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
  /**
   * Rooms whose history is kept; past it the least recently used room (by append or read) is dropped.
   * @default 10000
   */
  maxRooms?: number;
}

const CLIENT_MESSAGE_ID = /^[A-Za-z0-9_-]{1,64}$/;

/** Whether `value` is a valid `clientMessageId`: 1–64 characters of `[A-Za-z0-9_-]`. */
export function isClientMessageId(value: unknown): value is string {
  return typeof value === "string" && CLIENT_MESSAGE_ID.test(value);
}

/**
 * The scope of a `clientMessageId`: the room, the sender's `userId` when it has one, and the id. Senders
 * without a `userId` share one scope per room: their connection id changes on every reconnect, and a
 * retry after a reconnect is what the id is for (a client makes it a random UUID, so it does not collide).
 * `undefined` when the input carries none.
 */
export function clientScopeKey(roomId: string, input: ChatAppendInput): string | undefined {
  const id = input.clientMessageId;
  if (id === undefined) return undefined;
  if (!isClientMessageId(id)) throw new StorageError("clientMessageId must be 1-64 characters of A-Z, a-z, 0-9, _ and -.");
  const sender = input.userId ? ["u", input.userId] : ["anonymous"];
  return JSON.stringify([roomId, ...sender, id]);
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

  /** Remove message `id`; later entries move down one sequence number. */
  remove(id: string): boolean {
    const at = this.indexOf(id);
    if (at === undefined) return false;
    const [gone] = this.entries.splice(at, 1);
    this.seqOf.delete(id);
    if (gone!.key !== undefined && this.byKey.get(gone!.key) === gone!.message) this.byKey.delete(gone!.key);
    for (let i = at; i < this.entries.length; i++) this.seqOf.set(this.entries[i]!.message.id, this.firstSeq + i);
    return true;
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
    async delete(roomId, id) {
      return rooms.get(roomId)?.remove(id) ?? false;
    },
    async close() {
      rooms.clear();
    },
  };
  return storage;
}

/** Slice a list (oldest first) by the paging rule, looking only at `list[from..]`. */
export function pageFromNewest<T>(list: readonly T[], from: number, limit: number, offset: number): T[] {
  const end = list.length - Math.max(0, offset);
  const start = Math.max(from, end - Math.max(0, limit));
  return end <= start ? [] : list.slice(start, end);
}

/** Fill the fields storage owns (`id`, `createdAt`) and drop absent optionals (and `clientMessageId`). */
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
