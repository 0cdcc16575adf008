import { createLoopFanout, type CreateFanout } from "../../src/engine/fanout.ts";
import type { Connection, Room } from "../../src/engine/room.ts";
import { bunSocket, type BunPublisher, type BunSocketLike } from "../shared/crossws-internals.ts";
import type { FellBack } from "../shared/runtime-live.ts";

/**
 * Room fan-out through Bun's native pub/sub: each room is a topic, and one `publish` call hands the frame
 * to uWebSockets, which writes it to every subscriber in native code. No JavaScript runs per recipient.
 *
 * A slow subscriber cannot be checked per publish without that loop, so the Bun adapter sets
 * `backpressureLimit` to `maxBufferedBytes` with `closeOnBackpressureLimit`: Bun closes such a socket
 * itself, without a close frame (the client sees 1006); without that flag it would silently drop frames.
 * Direct sends are still checked here and closed with 4429 like on the other runtimes.
 *
 * Topics carry a per-engine prefix, since Bun's topics are shared by everything on one server.
 * A connection whose socket crossws keeps elsewhere than 0.4.17 does (`conn.transport` stays undefined)
 * gets the portable fan-out's `peer.send`; rooms then also loop over their members for those.
 */
export const createBunFanout =
  (fellBack: FellBack): CreateFanout =>
  (context) => {
    const prefix = `ols:${crypto.randomUUID()}:`;
    const portable = createLoopFanout(context);
    const { maxBufferedBytes, overLimit } = context;
    let server: BunPublisher | undefined;
    /** Connections on `peer.send` since some socket was not found; 0 in every run with the pinned crossws. */
    let portableCount = 0;
    const socketOf = (conn: Connection) => conn.transport as BunSocketLike | undefined;
    const topicOf = (room: Room) => prefix + room.id;

    return {
      attach(conn) {
        const found = bunSocket(conn.peer);
        if (!found) {
          portableCount++;
          return fellBack("Bun fan-out (peer._internal.ws)");
        }
        server ??= found.server;
        conn.transport = found.ws;
      },
      join(conn, room) {
        socketOf(conn)?.subscribe(topicOf(room));
      },
      leave(conn, room) {
        const ws = socketOf(conn);
        // A closed socket has already left every topic, and Bun refuses calls on it.
        if (ws?.readyState === 1) ws.unsubscribe(topicOf(room));
      },
      send(conn, frame) {
        const ws = socketOf(conn);
        if (!ws) return portable.send(conn, frame);
        if (conn.closed || ws.readyState !== 1) return;
        ws.send(frame);
        if (ws.getBufferedAmount() > maxBufferedBytes) overLimit(conn);
      },
      publish(room, frame, except) {
        if (room.local.size === 0) return;
        const topic = topicOf(room);
        const self = except && socketOf(except);
        // A socket's own publish reaches every subscriber but itself; a closed one publishes nothing, but it
        // is then no longer subscribed, so the server-wide publish excludes it anyway.
        if (self && self.readyState === 1) self.publish(topic, frame);
        else server?.publish(topic, frame);
        if (portableCount === 0) return;
        for (const conn of room.local) if (conn !== except && !socketOf(conn)) portable.send(conn, frame);
      },
      buffered: (conn) => socketOf(conn)?.getBufferedAmount() ?? conn.peer.bufferedAmount ?? 0,
      publishExcept(room, frame, skip) {
        if (room.local.size === 0) return;
        const topic = topicOf(room);
        // One native publish still: the skipped sockets leave the topic for that call (JavaScript runs
        // nothing in between, so no other frame can miss them).
        const off: BunSocketLike[] = [];
        for (const conn of skip) {
          const ws = socketOf(conn);
          if (ws?.readyState !== 1 || !room.local.has(conn)) continue;
          ws.unsubscribe(topic);
          off.push(ws);
        }
        server?.publish(topic, frame);
        for (const ws of off) ws.subscribe(topic);
        if (portableCount === 0) return;
        for (const conn of room.local) if (!skip.has(conn) && !socketOf(conn)) portable.send(conn, frame);
      },
    };
  };
