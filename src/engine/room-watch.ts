import type { Fanout } from "./fanout.ts";

/** Receives a copy of every frame a watched room's members are sent (the admin page's live tail). */
export type FrameWatcher = (frame: string) => void;

/**
 * Who watches which room. The send path asks `watching` first, a size check, so rooms cost nothing
 * while nobody watches; a watcher sees the frames as members get them on this instance, and (with a
 * backplane) the room's frames from other instances while this instance holds none of its members.
 */
export class RoomWatch {
  private readonly byRoom = new Map<string, Set<FrameWatcher>>();
  /**
   * A room got its first watcher (`true`) or lost its last (`false`): with a backplane the room's
   * channel is subscribed meanwhile, so a tail sees the room's frames when all its members are elsewhere.
   */
  onRoom: ((roomId: string, watched: boolean) => void) | undefined;

  /** Start watching `roomId`; returns the function that stops. */
  watch(roomId: string, watcher: FrameWatcher): () => void {
    let set = this.byRoom.get(roomId);
    if (!set) {
      this.byRoom.set(roomId, (set = new Set()));
      this.onRoom?.(roomId, true);
    }
    set.add(watcher);
    return () => {
      if (!set.delete(watcher) || set.size > 0 || this.byRoom.get(roomId) !== set) return;
      this.byRoom.delete(roomId);
      this.onRoom?.(roomId, false);
    };
  }

  get watching(): boolean {
    return this.byRoom.size > 0;
  }

  /** Hand `frame` to the watchers of `roomId`; a watcher that throws is dropped from this frame only. */
  seen(roomId: string, frame: string): void {
    const set = this.byRoom.get(roomId);
    if (!set) return;
    for (const watcher of set) {
      try {
        watcher(frame);
      } catch {}
    }
  }
}

/** `base` whose room-wide sends (presence batches) are also shown to the room's watchers. */
export function watchedFanout(base: Fanout, watch: RoomWatch): Fanout {
  const publish = base.publish.bind(base);
  const publishExcept = base.publishExcept?.bind(base);
  return {
    attach: base.attach?.bind(base),
    join: base.join?.bind(base),
    leave: base.leave?.bind(base),
    send: base.send.bind(base),
    publish(room, frame, except) {
      publish(room, frame, except);
      if (watch.watching) watch.seen(room.id, frame);
    },
    publishExcept:
      publishExcept &&
      ((room, frame, skip) => {
        publishExcept(room, frame, skip);
        if (watch.watching) watch.seen(room.id, frame);
      }),
  };
}
