import type { RoomSend } from "./room-send.ts";
import type { Room, RoomManager } from "./room.ts";
import type { PresenceEntry } from "../protocol/messages.ts";
import { isPlainObject } from "../util/json.ts";
import type { RoomState } from "../cluster/backplane.ts";

const isObject = isPlainObject as (value: unknown) => value is Record<string, any>;

export const isEntry = (entry: unknown): entry is PresenceEntry =>
  isObject(entry) && typeof entry.connectionId === "string" && isObject(entry.presence);

/** A stored presence entry for `connectionId`, or undefined when it is garbled or someone else's. */
export function parseEntry(json: string, connectionId: string): PresenceEntry | undefined {
  let entry: unknown;
  try {
    entry = JSON.parse(json);
  } catch {
    return undefined;
  }
  return isObject(entry) && entry.connectionId === connectionId && isObject(entry.presence) ? (entry as PresenceEntry) : undefined;
}

/**
 * The members of other instances that this instance shows, and the one owner of them: each is in
 * exactly one room's `remote` map, the room it is listed under here, and its instance's count. Every
 * change tells the room's local clients (`remotePresence`), so they see what the cluster sees.
 */
export class RemoteMembers {
  /** The room each remote member this instance shows is in, by connection id. */
  private readonly where = new Map<string, Room>();
  /** Per instance: members shown and when the first was seen (a beat check sent earlier cannot condemn it). */
  private readonly instances = new Map<string, { count: number; since: number }>();
  private readonly rooms: RoomManager;
  private readonly send: Pick<RoomSend, "remotePresence">;

  constructor(rooms: RoomManager, send: Pick<RoomSend, "remotePresence">) {
    this.rooms = rooms;
    this.send = send;
  }

  /** Instances with at least one member shown here. */
  instanceIds(): IterableIterator<string> {
    return this.instances.keys();
  }

  /**
   * A remote member's newest entry (`json` is its encoding): news to local clients when it is new
   * here (`joined`) or changed (`updated`). A member seen in another room moves out of it first.
   */
  upsert(room: Room, instanceId: string, entry: PresenceEntry, json: string): void {
    const id = entry.connectionId;
    const known = this.where.get(id);
    if (known === room) {
      // A member already read from shared state with this entry: nothing new to tell clients.
      if (JSON.stringify(room.members.get(id)) === json) return;
      room.setRemote(entry, room.remote.get(id)!);
      return this.send.remotePresence(room, { kind: "updated", connectionId: id, entry: json });
    }
    if (room.members.has(id)) return; // a local id: never from another instance
    if (known) this.leave(known, id); // it shows up here before its `left` there arrived (missed while Redis was away)
    this.add(room, instanceId, entry);
    this.send.remotePresence(room, { kind: "joined", connectionId: id, entry: json });
  }

  /** A remote member left `room`; nothing happens when it is not shown there (swept, re-read, or never seen). */
  leave(room: Room, id: string): void {
    if (this.where.get(id) !== room) return;
    this.remove(room, id);
    this.send.remotePresence(room, { kind: "left", connectionId: id });
  }

  /** Make `room`'s remote members what shared state says, telling local clients each change. */
  apply(room: Room, state: RoomState, selfId: string, garbled: (id: string) => void): void {
    const seen = new Set<string>();
    for (const member of state.members) {
      const id = member.connectionId;
      if (member.instanceId === selfId) continue;
      const entry = parseEntry(member.entry, id);
      if (!entry) {
        garbled(id);
        continue;
      }
      seen.add(id);
      this.upsert(room, member.instanceId, entry, member.entry);
    }
    const gone: string[] = [];
    for (const [id, instanceId] of room.remote) {
      if (!seen.has(id) && state.instances.has(instanceId)) gone.push(id);
    }
    for (const id of gone) this.leave(room, id);
  }

  /** Remove the members of `dead` instances first seen before `checkedAt`; returns the rooms they were in. */
  dropInstances(dead: ReadonlySet<string>, checkedAt: number): Room[] {
    const byRoom = new Map<Room, string[]>();
    for (const [id, room] of this.where) {
      const instanceId = room.remote.get(id)!;
      const seen = this.instances.get(instanceId);
      if (!dead.has(instanceId) || !seen || seen.since >= checkedAt) continue;
      let ids = byRoom.get(room);
      if (!ids) byRoom.set(room, (ids = []));
      ids.push(id);
    }
    for (const [room, ids] of byRoom) for (const id of ids) this.leave(room, id);
    return [...byRoom.keys()];
  }

  /** The last local connection left `room`: forget its remote members, telling no one, so the room can be freed. */
  forget(room: Room): void {
    for (const id of [...room.remote.keys()]) this.remove(room, id);
  }

  private add(room: Room, instanceId: string, entry: PresenceEntry): void {
    room.setRemote(entry, instanceId);
    this.where.set(entry.connectionId, room);
    const seen = this.instances.get(instanceId);
    if (seen) seen.count++;
    else this.instances.set(instanceId, { count: 1, since: Date.now() });
  }

  private remove(room: Room, id: string): void {
    const instanceId = room.remote.get(id);
    if (instanceId === undefined || !room.deleteRemote(id)) return;
    this.where.delete(id);
    const seen = this.instances.get(instanceId);
    if (seen && --seen.count === 0) this.instances.delete(instanceId);
    this.rooms.removeIfEmpty(room);
  }
}
