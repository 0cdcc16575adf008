import { createLoopFanout, type CreateFanout } from "../../../src/engine/fanout.ts";
import type { Connection } from "../../../src/engine/room.ts";
import { encodeTextFrame } from "../../shared/ws-frame.ts";
import { type ClientWriter, frontWriterOf } from "./client-writer.ts";

/**
 * Deno fan-out behind the front (listen.ts): a connection that came through the front gets the
 * engine's frames written by the front straight to its client, framed once per broadcast, instead of
 * `peer.send` into Deno's WebSocket and back out through the loopback relay. That takes two of the three
 * hops off every delivery. Deno's own frames (pings, pongs, the close frame) still come through the relay,
 * and the front's writer keeps both in order, frame by frame. A connection not behind the front (`mountLive`
 * in an app served by `Deno.serve`, `denoFront: false`) gets the portable `peer.send`.
 */
export const createFrontFanout: CreateFanout = (context) => {
  const { maxBufferedBytes, overLimit } = context;
  const portable = createLoopFanout(context);
  const write = (conn: Connection, writer: ClientWriter, bytes: Uint8Array) => {
    if (conn.closed) return;
    writer.frame(bytes);
    if (writer.buffered > maxBufferedBytes) overLimit(conn);
  };
  return {
    attach(conn) {
      const writer = frontWriterOf(conn.peer);
      if (writer) conn.transport = writer;
    },
    send(conn, frame) {
      const writer = conn.transport as ClientWriter | undefined;
      if (writer) write(conn, writer, encodeTextFrame(frame));
      else portable.send(conn, frame);
    },
    publish(room, frame, except) {
      let bytes: Uint8Array | undefined;
      for (const conn of room.local) {
        if (conn === except) continue;
        const writer = conn.transport as ClientWriter | undefined;
        if (writer) write(conn, writer, (bytes ??= encodeTextFrame(frame)));
        else portable.send(conn, frame);
      }
    },
    buffered: (conn) => (conn.transport as ClientWriter | undefined)?.buffered ?? conn.peer.bufferedAmount ?? 0,
    publishExcept(room, frame, skip) {
      let bytes: Uint8Array | undefined;
      for (const conn of room.local) {
        if (skip.has(conn)) continue;
        const writer = conn.transport as ClientWriter | undefined;
        if (writer) write(conn, writer, (bytes ??= encodeTextFrame(frame)));
        else portable.send(conn, frame);
      }
    },
  };
};
