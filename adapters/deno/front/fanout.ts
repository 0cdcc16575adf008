import type { CreateFanout } from "../../../src/engine/fanout.ts";
import type { Connection } from "../../../src/engine/room.ts";
import { createFramedFanout } from "../../shared/framed-fanout.ts";
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
  const attach = (conn: Connection) => {
    const writer = frontWriterOf(conn.peer);
    if (writer) conn.transport = writer;
  };
  return createFramedFanout<ClientWriter>(
    context,
    attach,
    (conn, writer, bytes) => {
      if (conn.closed) return;
      writer.frame(bytes);
      if (writer.buffered > maxBufferedBytes) overLimit(conn);
    },
    (writer) => writer.buffered,
  );
};
