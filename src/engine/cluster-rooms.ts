import type { OnError } from "../errors.ts";
import type { RoomSend } from "./room-send.ts";
import type { Room, RoomManager } from "./room.ts";
import { MSG_CHAT_DELETED } from "../protocol/messages.ts";
import { isPlainObject } from "../util/json.ts";
import { BackplaneError, type Backplane, type BackplaneSink, type BackplaneMessage, type RoomState } from "../cluster/backplane.ts";
import { isEntry, RemoteMembers } from "./remote-members.ts";

const isObject = isPlainObject as (value: unknown) => value is Record<string, any>;

/** How many times a room is re-read when remote news for it arrived while the read was in flight. */
const REFRESH_ATTEMPTS = 3;

export interface ClusterRoomsOptions {
  backplane: Backplane;
  rooms: RoomManager;
  /** Local delivery: remote news goes to this instance's members only (presence news batched). */
  send: Pick<RoomSend, "deliver" | "remotePresence">;
  onError: OnError;
}

/**
 * Keeps the remote members of each locally held room in the room (`Room.setRemote`), so
 * `room_joined.presence` and every diff are served from memory. A room exists here only while it has
 * local connections; news for other rooms is dropped unread.
 */
export class ClusterRooms {
  /** What the backplane calls: remote news, dead instances, resync requests. */
  readonly sink: BackplaneSink;
  private readonly backplane: Backplane;
  private readonly rooms: RoomManager;
  private readonly send: Pick<RoomSend, "deliver" | "remotePresence">;
  private readonly onError: OnError;
  /** The members of other instances shown in this instance's rooms. */
  private readonly remote: RemoteMembers;
  /** Bumped on every remote change to a room; a read that overlapped one is repeated. */
  private readonly epochs = new WeakMap<Room, number>();
  private readonly loaded = new WeakSet<Room>();
  private readonly loading = new Map<Room, Promise<void>>();
  private resyncing: Promise<void> | undefined;
  private resyncAgain = false;
  /** `claimEmptied` calls in flight (shutdown waits for them). */
  private readonly claims = new Set<Promise<boolean>>();
  /** An instance-level message from another instance (the server API's `disconnect`). */
  onControl: ((body: string, instanceId: string) => void) | undefined;
  /** A room emptied cluster-wide, and this instance is the one to say so. */
  onEmptied: ((roomId: string) => void) | undefined;
  /** A room message that carries its offset (shared room streams): delivered in offset order by the streams. */
  onSequenced: ((room: Room, frame: string, offset: number, chatId: string | undefined, except: string | undefined) => void) | undefined;
  /** Shared state may have changed (reconnect): the streams check their rooms' epochs. */
  onResync: (() => void) | undefined;
  /** Rooms a live tail watches here: their channels stay subscribed while this instance holds no member. */
  private readonly watched = new Set<string>();
  /** A frame of a watched room this instance holds no member of, from another instance (the live tail shows it). */
  onWatchedFrame: ((roomId: string, frame: string) => void) | undefined;

  constructor({ backplane, rooms, send, onError }: ClusterRoomsOptions) {
    this.backplane = backplane;
    this.rooms = rooms;
    this.send = send;
    this.onError = onError;
    this.remote = new RemoteMembers(rooms, send);
    this.sink = {
      deliver: (message) => this.deliver(message),
      onError,
      resync: () => this.resync(),
      instancesDown: (dead, checkedAt) => this.instancesDown(dead, checkedAt),
      remoteInstances: () => this.remote.instanceIds(),
      localMembers: () => this.localMembers(),
      control: (body, instanceId) => this.onControl?.(body, instanceId),
      roomsEmptied: (roomIds) => {
        for (const roomId of roomIds) this.onEmptied?.(roomId);
      },
    };
    this.release = this.release.bind(this);
  }

  /** Whether `room`'s remote members have been read (its snapshot is the cluster's). */
  isLoaded(room: Room): boolean {
    return this.loaded.has(room);
  }

  /** Resolves once `room`'s remote members are loaded (first local join on this instance). */
  prepare(room: Room): Promise<void> | undefined {
    if (this.loaded.has(room)) return undefined;
    let pending = this.loading.get(room);
    if (!pending) {
      // Subscribed before the read: whatever is published to the room after it is delivered, and a
      // read that overlapped a delivery is repeated (see `refresh`). Sent now, in event order with `release`.
      const subscribed = this.backplane.subscribe?.(room.id);
      pending = (subscribed ? subscribed.then(() => this.refresh(room)) : this.refresh(room)).finally(() => {
        this.loading.delete(room);
        this.loaded.add(room);
      });
      this.loading.set(room, pending);
    }
    return pending;
  }

  /**
   * This instance's last member of `roomId` left: whether the room is empty cluster-wide and this
   * instance is the one to say so. False when the backplane cannot tell.
   */
  claimEmptied(roomId: string): Promise<boolean> {
    if (!this.backplane.claimEmptied) return Promise.resolve(false);
    const claim = this.backplane.claimEmptied(roomId).catch((error) => {
      this.report("Could not check whether a room emptied", error);
      return false;
    });
    this.claims.add(claim);
    claim.finally(() => this.claims.delete(claim));
    return claim;
  }

  /** Resolves once every `claimEmptied` in flight settled. */
  async settled(): Promise<void> {
    await Promise.all(this.claims);
  }

  /**
   * A live tail started (`true`) or stopped watching `roomId`: its channel is subscribed while it is
   * watched or has a local member, so a tail on this instance sees the frames of members elsewhere.
   */
  watch(roomId: string, watched: boolean): void {
    if (watched) {
      this.watched.add(roomId);
      Promise.resolve(this.backplane.subscribe?.(roomId)).catch((error) => this.report("Could not watch a room", error));
      return;
    }
    this.watched.delete(roomId);
    // A room held here keeps its channel; `release` drops it when the last local member leaves.
    if (!this.rooms.get(roomId)) this.backplane.unsubscribe?.(roomId);
  }

  /** The last local connection left `room`: forget its remote members so the room can be freed. */
  release(room: Room): void {
    if (!this.watched.has(room.id)) this.backplane.unsubscribe?.(room.id);
    this.remote.forget(room);
    this.loading.delete(room);
  }

  private report(message: string, cause?: unknown): void {
    this.onError(new BackplaneError(message, { cause }), { stage: "backplane" });
  }

  private bump(room: Room): void {
    this.epochs.set(room, (this.epochs.get(room) ?? 0) + 1);
  }

  /** A room message from another instance. */
  private deliver(message: BackplaneMessage): void {
    const room = this.rooms.get(message.roomId);
    if (!room) {
      if (this.watched.has(message.roomId)) this.onWatchedFrame?.(message.roomId, message.frame);
      return;
    }
    let frame: any;
    try {
      frame = JSON.parse(message.frame);
    } catch {}
    const payload = frame?.payload;
    if (!isObject(frame) || !isObject(payload) || payload.roomId !== message.roomId) {
      return this.report(`Dropped a ${message.kind} message from instance ${message.instanceId}: its frame is not a frame for its room`);
    }
    this.bump(room);
    const id = message.connectionId;
    switch (message.kind) {
      case "event":
        if (typeof payload.offset === "number" && this.onSequenced)
          return this.onSequenced(room, message.frame, payload.offset, undefined, id);
        return this.send.deliver(room, message.frame, undefined, frame.type === MSG_CHAT_DELETED);
      case "chat":
        if (typeof payload.id !== "string") return this.report(`Dropped a chat message from instance ${message.instanceId} without an id`);
        if (typeof payload.offset === "number" && this.onSequenced)
          return this.onSequenced(room, message.frame, payload.offset, payload.id, undefined);
        return this.send.deliver(room, message.frame, payload.id);
      case "presence":
        return this.deliverNews(room, message.instanceId, payload);
      case "left":
        return this.remote.leave(room, id);
      case "joined":
      case "updated": {
        const entry = (message.kind === "joined" ? payload.joined : payload.updated)?.[0];
        if (!isEntry(entry) || entry.connectionId !== id) return this.reportEntry(message.kind, message.instanceId);
        return this.remote.upsert(room, message.instanceId, entry, JSON.stringify(entry));
      }
    }
  }

  private reportEntry(kind: string, instanceId: string): void {
    this.report(`Dropped a ${kind} message from instance ${instanceId} without a presence entry`);
  }

  /** One room's presence news of one window from another instance: applied as its single messages would be. */
  private deliverNews(room: Room, instanceId: string, payload: Record<string, any>): void {
    const { joined = [], updated = [], left = [] } = payload;
    if (!Array.isArray(joined) || !Array.isArray(updated) || !Array.isArray(left)) return this.reportEntry("presence", instanceId);
    for (const list of [joined, updated]) {
      for (const entry of list) {
        if (isEntry(entry)) this.remote.upsert(room, instanceId, entry, JSON.stringify(entry));
        else this.reportEntry("presence", instanceId);
      }
    }
    for (const id of left) if (typeof id === "string") this.remote.leave(room, id);
  }

  /** Re-read `room` from shared state and send local clients the difference. */
  private async refresh(room: Room): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const before = this.epochs.get(room) ?? 0;
      let state: RoomState | undefined;
      try {
        state = await this.backplane.fetchRoom(room.id);
      } catch (error) {
        return this.report("Could not read the members of a room", error);
      }
      if (!state || this.rooms.get(room.id) !== room) return;
      if ((this.epochs.get(room) ?? 0) !== before && attempt < REFRESH_ATTEMPTS) continue;
      return this.remote.apply(room, state, this.backplane.instanceId, (id) =>
        this.report(`Ignored a garbled presence entry for connection ${id}`),
      );
    }
  }

  private resync(): void {
    this.onResync?.();
    if (this.resyncing) {
      this.resyncAgain = true;
      return;
    }
    this.resyncing = this.resyncAll()
      .catch((error) => this.report("Re-reading rooms after a reconnect failed", error))
      .finally(() => (this.resyncing = undefined));
  }

  private async resyncAll(): Promise<void> {
    do {
      this.resyncAgain = false;
      await Promise.all(Array.from(this.rooms.rooms.values(), (room) => this.refresh(room)));
    } while (this.resyncAgain);
  }

  private instancesDown(dead: ReadonlySet<string>, checkedAt: number): void {
    for (const room of this.remote.dropInstances(dead, checkedAt)) this.bump(room);
  }

  private *localMembers(): Generator<{ roomId: string; connectionId: string; entry: string }> {
    for (const room of this.rooms.rooms.values()) {
      for (const [id, entry] of room.members) {
        if (!room.remote.has(id)) yield { roomId: room.id, connectionId: id, entry: JSON.stringify(entry) };
      }
    }
  }
}

export function createClusterRooms(options: ClusterRoomsOptions): ClusterRooms {
  return new ClusterRooms(options);
}
