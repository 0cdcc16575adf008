import { type ChatMessageInput, isClientMessageId, type StoredChatMessage } from "../protocol/messages.ts";
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
 * Only `append` and `getHistory` are required (the upstream project's contract). The other methods are optional for
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
