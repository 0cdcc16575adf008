import { OpenLiveSyncError, type OnError } from "../errors.ts";

/**
 * The seam between the engine and whatever links several instances (Redis in
 * `redis-backplane.ts`). Runtime-neutral and driver-free: the engine only ever sees this interface.
 *
 * Invariants the engine relies on:
 * - `publish` never throws and never waits; while the link is down messages are dropped (local
 *   clients are still served) and the state is repaired by `sink.resync()` once it is back.
 * - Messages published by one instance to one room reach every other instance subscribed to that room
 *   in publish order (one connection, one channel per room), which keeps per-sender order across instances.
 * - What `store` wrote for a room is in shared state before any message published after it on that
 *   room is delivered: a receiver that hears of a member and then reads the room finds it.
 */
export interface Backplane {
  /** This instance's id, unique in the cluster. */
  readonly instanceId: string;
  /** Connect and begin delivering other instances' messages to `sink`. Rejects only when the driver is missing. */
  start(sink: BackplaneSink): Promise<void>;
  /**
   * Record changes to this instance's members of `roomId` in shared state (what `fetchRoom` reads), in
   * order, without telling anyone: the news crosses in the room's next `presence` message. The engine
   * stores joins and leaves as they happen, so a joiner on another instance (which subscribes to the
   * room, then reads it) finds every member that joined before it; updates are stored when they are
   * published. Never throws, never waits; dropped while the link is down (repaired on reconnect).
   * May return a promise that settles once shared state answered (never rejects): a join sends
   * `room_joined` only after it (at most 2 s), so whoever joins after that, anywhere, finds the member.
   */
  store(roomId: string, changes: readonly MemberChange[]): Promise<void> | void;
  /** Send one room message to the other instances subscribed to the room. */
  publish(message: OutgoingMessage): void;
  /**
   * Start receiving `roomId`'s messages (its first local member is joining). Resolves once the
   * subscription is in place, so a read of the room after it misses nothing published meanwhile.
   * A backplane that delivers every room to every instance may leave it out.
   */
  subscribe?(roomId: string): Promise<void>;
  /** Stop receiving `roomId`'s messages (its last local member left). */
  unsubscribe?(roomId: string): void;
  /**
   * Send an instance-level message (the server API's `disconnect`) to every other instance; they get it
   * through `sink.control`. Dropped while the link is down.
   */
  control?(body: string): void;
  /** Room bans in shared state, so every instance (and one started later) refuses a banned user's join. */
  readonly bans?: SharedBans;
  /** Every room with members, cluster-wide, with its member count; `undefined` while unreachable. */
  listRooms?(): Promise<Map<string, number> | undefined>;
  /**
   * This instance's last member of `roomId` left: true when the room is now empty cluster-wide and no
   * other instance saw that first (exactly one instance gets true per time the room empties).
   */
  claimEmptied?(roomId: string): Promise<boolean>;
  /** Every member of `roomId` across the cluster, or `undefined` while the shared state is unreachable. */
  fetchRoom(roomId: string): Promise<RoomState | undefined>;
  /** Remove this instance's members from the shared state and disconnect. */
  close(): Promise<void>;
  /**
   * Optional, for `/readyz` and `/metrics`: whether the link is up, and the round trip of one cheap
   * command. A backplane without it counts as up.
   */
  health?(): Promise<{ up: boolean; rttMs?: number }>;
  /**
   * Room streams in shared state, so the whole cluster has one authority per room: `sequence` gives a
   * room message the room's next offset, keeps it and publishes it to every instance subscribed to the
   * room (this one included, through the reply) in one atomic step; `read` answers a room's offset,
   * epoch and (with `since`) its kept messages. Both resolve `undefined` while shared state is unreachable.
   */
  streams?: SharedStreamStore;
  /** Shared documents across instances (docs/documents.md, "Across instances"). */
  documents?: DocumentLink;
}

/**
 * How shared documents cross instances: one channel per document, which an instance hears while it holds
 * the document loaded. Updates and awareness go to every other holder; a loading instance asks the holders
 * for what they have beyond its state vector (their diffs), so a late joiner gets updates not yet stored.
 * Like `publish`, nothing here throws or waits on a lost link: messages are dropped and `sink.resync` repairs.
 */
export interface DocumentLink {
  /** Where other instances' document news goes; set once, before any subscribe. */
  listen(sink: DocumentSink): void;
  /** Start hearing `name` (it is loading here); resolves once subscribed (never rejects). */
  subscribe(name: string): Promise<void>;
  /** Stop hearing `name` (unloaded here). */
  unsubscribe(name: string): void;
  /** An update or awareness update applied here, for the other holders of `name`. */
  publish(name: string, kind: "update" | "awareness", data: Uint8Array): void;
  /**
   * Ask every other holder of `name` for what it holds beyond `stateVector`: resolves with the answers that
   * came within `timeoutMs` (all of them, as soon as every holder answered; none when nobody else holds it).
   */
  fetch(name: string, stateVector: Uint8Array, timeoutMs: number): Promise<DocumentAnswer[]>;
}

/** One holder's answer to `DocumentLink.fetch`. */
export interface DocumentAnswer {
  /** Everything it holds beyond the asker's state vector (a Yjs update). */
  update: Uint8Array;
  /** Its state vector, so the asker can send back what the holder lacks. */
  stateVector: Uint8Array;
  /** The awareness states it knows, as one awareness update. */
  awareness?: Uint8Array;
  /** The awareness client ids among those that its own clients set (an instance before this field: absent). */
  ownClients?: number[];
  /** The answering instance (set by the link on receipt). */
  from?: string;
}

/**
 * Which instance set awareness states that came over the link: all the states of a live message (an
 * instance relays only its own clients'), or, in an answer (which carries every state the answerer knows),
 * only `clientIds`.
 */
export interface AwarenessSource {
  instanceId: string;
  clientIds?: readonly number[];
}

/** Whose clients set an answer's awareness states: the answerer's own only (it also tells what it heard from others). */
export function sourceOf(answer: DocumentAnswer): AwarenessSource | undefined {
  return answer.from !== undefined && answer.ownClients ? { instanceId: answer.from, clientIds: answer.ownClients } : undefined;
}

/** The documents' side of the link: how other instances' news reaches loaded documents. */
export interface DocumentSink {
  update(name: string, update: Uint8Array): void;
  /** Awareness from another instance: `source` is the instance whose clients set the states (see `AwarenessSource`). */
  awareness(name: string, update: Uint8Array, source?: AwarenessSource): void;
  /** Another instance asks for what this one holds of `name` beyond `stateVector`; undefined when not loaded. */
  answer(name: string, stateVector: Uint8Array): DocumentAnswer | undefined;
  /** News may have been missed (reconnect): exchange diffs with the other holders of every loaded document. */
  resync(): void;
  /** Instances whose clients' awareness states are shown here: the backplane checks they still beat. */
  remoteInstances(): Iterable<string>;
  /** These instances stopped beating at `checkedAt` (ms epoch): remove their clients' awareness states. */
  instancesDown(instanceIds: ReadonlySet<string>, checkedAt: number): void;
}

/** One room message to sequence (see `Backplane.streams`). */
export interface SequenceRequest {
  kind: "event" | "chat";
  roomId: string;
  connectionId: string;
  /** The client frame without an offset. */
  frame: string;
  /** The connection id it is not delivered to (an event's sender), kept with it in the backlog. */
  except?: string | undefined;
  /** The sender's `join_room.resumeKey` (an event's), kept with it: a replay to that resumeKey leaves it out. */
  resumeKey?: string | undefined;
  /** Idempotency key, scoped to the room. */
  key?: string;
  /** The key is only remembered (for `remembered`), not checked: a chat's repeats are the storage's call. */
  rememberOnly?: boolean;
}

export interface SharedStreamStore {
  /** `undefined`: not sequenced (unreachable); `null`: sent, but whether it was sequenced is unknown (its answer was lost). */
  sequence(
    request: SequenceRequest,
    limits: { size: number; ttlMs: number },
  ): Promise<{ offset: number; epoch: string; duplicate: boolean } | null | undefined>;
  read(
    roomId: string,
    since?: number,
  ): Promise<
    | { offset: number; epoch: string; entries?: { at: number; offset: number; frame: string; except?: string; resumeKey?: string }[] }
    | undefined
  >;
  /** The offset the publish with `key` was given, while remembered; `undefined` when not (or unreachable). */
  remembered(roomId: string, key: string): Promise<number | undefined>;
}

/**
 * Bans as shared state stores them: one record (JSON, written by the engine) per room and user, gone by
 * itself after `ttlMs` when given. Reads resolve `undefined` while shared state is unreachable; writes reject.
 */
export interface SharedBans {
  put(roomId: string, userId: string, record: string, ttlMs: number | undefined): Promise<void>;
  get(roomId: string, userId: string): Promise<string | null | undefined>;
  list(roomId: string): Promise<string[] | undefined>;
  /** True when a ban was there. */
  remove(roomId: string, userId: string): Promise<boolean>;
}

/**
 * What travels between instances. `frame` is the finished client frame, encoded once by the sender.
 * `presence` carries one room's presence news of one window (at most one per room per window per
 * instance). `joined`, `updated` and `left` (one member each) are what instances before presence
 * batching sent; they are still understood on receipt (see the Redis backplane's rolling upgrades).
 */
export type MessageKind = "presence" | "event" | "chat" | "joined" | "updated" | "left";

/** One local member's presence change, as shared state records it. */
export interface MemberChange {
  kind: "joined" | "updated" | "left";
  connectionId: string;
  /** The member's entry as JSON, for `joined` and `updated`. */
  entry?: string;
}

/** One room's presence news from one instance over one window. Each member is in one list at most. */
export interface PresenceNews {
  /** Members that joined, with their newest entry (JSON). */
  joined: { connectionId: string; entry: string }[];
  /** Members whose entry changed (or that left and came back), with their newest entry. */
  updated: { connectionId: string; entry: string }[];
  /** Members that left, and members that joined and left inside the window (a reader of shared state may have seen them). */
  left: string[];
}

export type OutgoingMessage =
  | {
      kind: "event" | "chat";
      roomId: string;
      /** The sender. */
      connectionId: string;
      frame: string;
    }
  | {
      kind: "presence";
      roomId: string;
      /** `presence_updated` with the lists of `presence` (no `memberCount`): what receivers apply. */
      frame: string;
      presence: PresenceNews;
    };

/** What another instance published, as delivered to this one. */
export interface BackplaneMessage {
  kind: MessageKind;
  instanceId: string;
  roomId: string;
  /** The member it is about (sender, joiner, leaver); empty for `presence`. */
  connectionId: string;
  frame: string;
}

export interface RoomState {
  members: RemoteMember[];
  /**
   * Instances whose members are all recorded. After shared state was lost (a Redis restart) an
   * instance is missing until it has written its members back; its members are kept meanwhile.
   */
  instances: ReadonlySet<string>;
}

export interface RemoteMember {
  instanceId: string;
  connectionId: string;
  /** The entry as JSON, exactly as its instance announced it. */
  entry: string;
}

/** The engine side of a backplane: how remote news reaches local rooms. */
export interface BackplaneSink {
  deliver(message: BackplaneMessage): void;
  /** These instances stopped beating at `checkedAt` (ms epoch): drop their members and tell local clients. */
  instancesDown(instanceIds: ReadonlySet<string>, checkedAt: number): void;
  /** Shared state may differ from what this instance saw (reconnect, a peer re-announced): re-read it. */
  resync(): void;
  /** Instances whose members this instance currently shows; the backplane checks they still beat. */
  remoteInstances(): Iterable<string>;
  /** An instance-level message another instance sent with `control`. */
  control(body: string, instanceId: string): void;
  /** These rooms emptied because a dead instance's members were swept (this instance claimed them). */
  roomsEmptied?(roomIds: string[]): void;
  /** Local members to write back into shared state after a reconnect. */
  localMembers(): Iterable<{ roomId: string; connectionId: string; entry: string }>;
  onError: OnError;
}

/** A backplane failure: lost connection, a foreign or garbled message, a failed command. */
export class BackplaneError extends OpenLiveSyncError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("BACKPLANE_ERROR", message, options);
  }
}
