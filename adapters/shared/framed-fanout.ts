import { createLoopFanout, type Fanout, type FanoutContext } from "../../src/engine/fanout.ts";
import type { Connection } from "../../src/engine/room.ts";
import { encodeTextFrame, type FrameAlloc } from "./ws-frame.ts";

/**
 * A fan-out that writes WebSocket frames itself (Node's corked sockets, the Deno front's writers): a
 * broadcast is framed once and the same bytes go to every connection with a `T` transport, set up by
 * `attach`; a connection without one gets the portable `peer.send`. `bufferedOf` tells what a transport
 * still holds (a stream replay paces itself by it); `alloc` is where frames are copied out to (see
 * `encodeTextFrame`).
 */
export function createFramedFanout<T>(
  context: FanoutContext,
  attach: (conn: Connection) => void,
  write: (conn: Connection, transport: T, frame: Uint8Array) => void,
  bufferedOf?: (transport: T) => number,
  alloc?: FrameAlloc,
): Fanout {
  const portable = createLoopFanout(context);
  const encode = (frame: string) => encodeTextFrame(frame, alloc);
  return {
    attach,
    send(conn, frame) {
      const t = conn.transport as T | undefined;
      if (t) write(conn, t, encode(frame));
      else portable.send(conn, frame);
    },
    publish(room, frame, except) {
      if (room.local.size === 0) return;
      let bytes: Uint8Array | undefined;
      for (const conn of room.local) {
        if (conn === except) continue;
        const t = conn.transport as T | undefined;
        if (t) write(conn, t, (bytes ??= encode(frame)));
        else portable.send(conn, frame);
      }
    },
    buffered:
      bufferedOf &&
      ((conn) => {
        const t = conn.transport as T | undefined;
        return t ? bufferedOf(t) : (conn.peer.bufferedAmount ?? 0);
      }),
    publishExcept(room, frame, skip) {
      let bytes: Uint8Array | undefined;
      for (const conn of room.local) {
        if (skip.has(conn)) continue;
        const t = conn.transport as T | undefined;
        if (t) write(conn, t, (bytes ??= encode(frame)));
        else portable.send(conn, frame);
      }
    },
  };
}
