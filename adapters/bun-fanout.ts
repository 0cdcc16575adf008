import type { CreateFanout } from "../src/engine/fanout.ts";
import type { Connection, Room } from "../src/engine/room.ts";

/** The parts of Bun's `ServerWebSocket` the fan-out touches (https://bun.sh/docs/api/websockets). */
export interface BunSocketLike {
  readonly readyState: number;
  send(data: string): number;
  publish(topic: string, data: string): number;
  subscribe(topic: string): void;
  unsubscribe(topic: string): void;
  getBufferedAmount(): number;
  /** crossws keeps the Bun server that upgraded the socket here. */
  readonly data: { server?: BunPublisher };
}

/** Bun's `Server`, as far as publishing goes. */
export interface BunPublisher {
  publish(topic: string, data: string): number;
}

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
 */
export const createBunFanout: CreateFanout = ({ maxBufferedBytes, overLimit }) => {
  const prefix = `ols:${crypto.randomUUID()}:`;
  let server: BunPublisher | undefined;
  const socketOf = (conn: Connection) => conn.transport as BunSocketLike;
  const topicOf = (room: Room) => prefix + room.id;

  return {
    attach(conn) {
      const ws = (conn.peer as unknown as { _internal?: { ws?: BunSocketLike } })._internal?.ws;
      if (!ws?.data) throw new Error("[openlivesync] Bun fan-out needs crossws's Bun adapter (peer._internal.ws)");
      server ??= ws.data.server;
      conn.transport = ws;
    },
    join(conn, room) {
      socketOf(conn).subscribe(topicOf(room));
    },
    leave(conn, room) {
      const ws = socketOf(conn);
      // A closed socket has already left every topic, and Bun refuses calls on it.
      if (ws.readyState === 1) ws.unsubscribe(topicOf(room));
    },
    send(conn, frame) {
      const ws = socketOf(conn);
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
    },
  };
};
