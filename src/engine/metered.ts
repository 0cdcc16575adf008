/** The fan-out and the chat storage wrapped so that `Metrics` sees what goes through them. */
import type { Fanout } from "./fanout.ts";
import type { Metrics } from "./metrics.ts";
import type { Connection, Room } from "./room.ts";

/**
 * The fan-out with every frame counted (per recipient) by `count`, for a sender whose frames are all of
 * one kind (the presence batch). Every method is an own property bound to `base` (no prototype to walk),
 * so each call site sees one shape.
 */
export function countingFanout(base: Fanout, count: (n: number) => void): Fanout {
  const send = base.send.bind(base);
  const publish = base.publish.bind(base);
  const publishExcept = base.publishExcept?.bind(base);
  return {
    attach: base.attach?.bind(base),
    join: base.join?.bind(base),
    leave: base.leave?.bind(base),
    send(conn, frame) {
      if (!conn.closed) count(1);
      send(conn, frame);
    },
    publish(room, frame, except) {
      count(recipients(room, except));
      publish(room, frame, except);
    },
    publishExcept:
      publishExcept &&
      ((room, frame, skip) => {
        let skipped = 0;
        for (const conn of skip) if (room.local.has(conn)) skipped++;
        count(room.local.size - skipped);
        publishExcept(room, frame, skip);
      }),
  };
}

/** How many sockets `Fanout.publish(room, frame, except)` writes to. */
export const recipients = (room: Room, except: Connection | undefined): number =>
  room.local.size - (except !== undefined && room.local.has(except) ? 1 : 0);

/** The `ChatStorage` methods that are timed; they all return promises. */
const TIMED = new Set(["append", "appendOnce", "getHistory", "getHistoryBefore", "getHistoryAfter"]);

/** The storage with its reads and writes timed; everything else (close, flags, own helpers) passes through. */
export function timedStorage<S extends object>(storage: S, metrics: Metrics): S {
  return new Proxy(storage, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== "function" || typeof prop !== "string" || !TIMED.has(prop)) return value;
      // `appendOnce` is how the engine writes a chat: it is the `append` operation either way.
      const op = prop === "appendOnce" ? "append" : prop;
      return (...args: unknown[]) => metrics.timeStorage(op, () => value.apply(target, args));
    },
  });
}
