import type { OnError } from "../errors.ts";
import type { Fanout } from "../engine/fanout.ts";
import type { Room, RoomManager } from "../engine/room.ts";
import { leftFrame, presenceFrame } from "../protocol/frames.ts";
import type { PresenceEntry } from "../protocol/messages.ts";
import { BackplaneError, type Backplane, type BackplaneSink, type IncomingMessage, type RoomState } from "./backplane.ts";

const isObject = (value: unknown): value is Record<string, any> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

function parseEntry(json: string, connectionId: string): PresenceEntry | undefined {
  let entry: unknown;
  try {
    entry = JSON.parse(json);
  } catch {
    return undefined;
  }
  return isObject(entry) && entry.connectionId === connectionId && isObject(entry.presence) ? (entry as PresenceEntry) : undefined;
}

/** How many times a room is re-read when remote news for it arrived while the read was in flight. */
const REFRESH_ATTEMPTS = 3;

export interface ClusterRooms {
  readonly sink: BackplaneSink;
  /** Resolves once `room`'s remote members are loaded (first local join on this instance). */
  prepare(room: Room): Promise<void> | undefined;
  /** The last local connection left `room`: forget its remote members so the room can be freed. */
  release(room: Room): void;
}

/**
 * Keeps the remote members of each locally held room in `room.members`, so `room_joined.presence`
 * and every diff are served from memory. A room exists here only while it has local connections;
 * news for other rooms is dropped unread.
 */
export function createClusterRooms(ctx: {
  backplane: Backplane;
  rooms: RoomManager;
  fanout: Fanout;
  onError: OnError;
}): ClusterRooms {
  const { backplane, rooms, fanout, onError } = ctx;
  const self = backplane.instanceId;
  /** Remote members this instance shows, by connection id. */
  const remote = new Map<string, { instanceId: string; room: Room }>();
  /** Per instance: members shown and when the first was seen (a beat check sent earlier cannot condemn it). */
  const instances = new Map<string, { count: number; since: number }>();
  /** Bumped on every remote change to a room; a read that overlapped one is repeated. */
  const epochs = new WeakMap<Room, number>();
  const loaded = new WeakSet<Room>();
  const loading = new Map<Room, Promise<void>>();
  let resyncing: Promise<void> | undefined;
  let resyncAgain = false;

  const report = (message: string, cause?: unknown) => onError(new BackplaneError(message, { cause }), { stage: "backplane" });
  const bump = (room: Room) => epochs.set(room, (epochs.get(room) ?? 0) + 1);

  function addRemote(room: Room, instanceId: string, entry: PresenceEntry) {
    const id = entry.connectionId;
    room.members.set(id, entry);
    remote.set(id, { instanceId, room });
    const seen = instances.get(instanceId);
    if (seen) seen.count++;
    else instances.set(instanceId, { count: 1, since: Date.now() });
  }

  function removeRemote(room: Room, id: string) {
    const known = remote.get(id);
    if (!known) return;
    remote.delete(id);
    known.room.members.delete(id);
    const seen = instances.get(known.instanceId);
    if (seen && --seen.count === 0) instances.delete(known.instanceId);
    rooms.removeIfEmpty(room);
  }

  /** A member shows up in another room before its `left` here arrived (missed while Redis was away). */
  function moveOut(room: Room, id: string) {
    removeRemote(room, id);
    fanout.publish(room, leftFrame(room.id, [id]), undefined);
  }

  function deliver(message: IncomingMessage) {
    const room = rooms.get(message.roomId);
    if (!room) return;
    let frame: any;
    try {
      frame = JSON.parse(message.frame);
    } catch {}
    const payload = frame?.payload;
    if (!isObject(frame) || !isObject(payload) || payload.roomId !== message.roomId) {
      return report(`Dropped a ${message.kind} message from instance ${message.instanceId}: its frame is not a frame for room "${message.roomId}"`);
    }
    bump(room);
    const id = message.connectionId;
    switch (message.kind) {
      case "event":
        return fanout.publish(room, message.frame, undefined);
      case "chat": {
        if (typeof payload.id !== "string") return report(`Dropped a chat message from instance ${message.instanceId} without an id`);
        fanout.publish(room, message.frame, undefined);
        for (const held of room.joining.values()) held.push({ frame: message.frame, chatId: payload.id });
        return;
      }
      case "left": {
        if (remote.get(id)?.room !== room) return; // already gone (swept, or re-read)
        removeRemote(room, id);
        return fanout.publish(room, message.frame, undefined);
      }
      case "joined":
      case "updated": {
        const entry = (message.kind === "joined" ? payload.joined : payload.updated)?.[0];
        if (!isObject(entry) || entry.connectionId !== id || !isObject(entry.presence)) {
          return report(`Dropped a ${message.kind} message from instance ${message.instanceId} without a presence entry`);
        }
        const known = remote.get(id);
        if (known?.room === room) {
          room.members.set(id, entry as PresenceEntry);
          // A `joined` for a member already read from shared state says nothing new to clients.
          if (message.kind === "updated") fanout.publish(room, message.frame, undefined);
          return;
        }
        if (room.members.has(id)) return; // a local id: never from another instance
        if (known) moveOut(known.room, id);
        addRemote(room, message.instanceId, entry as PresenceEntry);
        const joined = message.kind === "joined" ? message.frame : presenceFrame(room.id, "joined", JSON.stringify(entry));
        return fanout.publish(room, joined, undefined);
      }
    }
  }

  /** Re-read `room` from shared state and send local clients the difference. */
  async function refresh(room: Room): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const before = epochs.get(room) ?? 0;
      let state: RoomState | undefined;
      try {
        state = await backplane.fetchRoom(room.id);
      } catch (error) {
        return report(`Could not read the members of room "${room.id}"`, error);
      }
      if (!state || rooms.get(room.id) !== room) return;
      if ((epochs.get(room) ?? 0) !== before && attempt < REFRESH_ATTEMPTS) continue;
      const seen = new Set<string>();
      for (const member of state.members) {
        const id = member.connectionId;
        if (member.instanceId === self) continue;
        const entry = parseEntry(member.entry, id);
        if (!entry) {
          report(`Ignored a garbled presence entry for ${id} in room "${room.id}"`);
          continue;
        }
        seen.add(id);
        const known = remote.get(id);
        if (known?.room === room) {
          if (JSON.stringify(room.members.get(id)) !== member.entry) {
            room.members.set(id, entry);
            fanout.publish(room, presenceFrame(room.id, "updated", member.entry), undefined);
          }
          continue;
        }
        if (room.members.has(id)) continue;
        if (known) moveOut(known.room, id);
        addRemote(room, member.instanceId, entry);
        fanout.publish(room, presenceFrame(room.id, "joined", member.entry), undefined);
      }
      const gone: string[] = [];
      for (const id of room.members.keys()) {
        const known = remote.get(id);
        if (known?.room === room && !seen.has(id) && state.instances.has(known.instanceId)) gone.push(id);
      }
      if (gone.length > 0) {
        for (const id of gone) removeRemote(room, id);
        fanout.publish(room, leftFrame(room.id, gone), undefined);
      }
      return;
    }
  }

  async function resyncAll(): Promise<void> {
    do {
      resyncAgain = false;
      await Promise.all(Array.from(rooms.rooms.values(), (room) => refresh(room)));
    } while (resyncAgain);
  }

  const sink: BackplaneSink = {
    deliver,
    onError,
    resync() {
      if (resyncing) {
        resyncAgain = true;
        return;
      }
      resyncing = resyncAll()
        .catch((error) => report("Re-reading rooms after a reconnect failed", error))
        .finally(() => (resyncing = undefined));
    },
    instancesDown(dead, checkedAt) {
      const byRoom = new Map<Room, string[]>();
      for (const [id, { instanceId, room }] of remote) {
        const seen = instances.get(instanceId);
        if (!dead.has(instanceId) || !seen || seen.since >= checkedAt) continue;
        let ids = byRoom.get(room);
        if (!ids) byRoom.set(room, (ids = []));
        ids.push(id);
      }
      for (const [room, ids] of byRoom) {
        bump(room);
        for (const id of ids) removeRemote(room, id);
        fanout.publish(room, leftFrame(room.id, ids), undefined);
      }
    },
    remoteInstances: () => instances.keys(),
    *localMembers() {
      for (const room of rooms.rooms.values()) {
        for (const [id, entry] of room.members) {
          if (!remote.has(id)) yield { roomId: room.id, connectionId: id, entry: JSON.stringify(entry) };
        }
      }
    },
  };

  return {
    sink,
    prepare(room) {
      if (loaded.has(room)) return undefined;
      let pending = loading.get(room);
      if (!pending) {
        pending = refresh(room).finally(() => {
          loading.delete(room);
          loaded.add(room);
        });
        loading.set(room, pending);
      }
      return pending;
    },
    release(room) {
      for (const id of [...room.members.keys()]) if (remote.get(id)?.room === room) removeRemote(room, id);
      loading.delete(room);
    },
  };
}
