import type { Socket } from "node:net";
import type { CreateFanout } from "../src/engine/fanout.ts";
import type { Connection } from "../src/engine/room.ts";

/** The parts of a `ws` WebSocket the fan-out touches (crossws's Node peer keeps it at `_internal.ws`). */
interface WsLike {
  readonly readyState: number;
  readonly _socket?: Socket;
}
/** crossws 0.4's Node peer internals, by the parts read here. */
interface NodePeerInternals {
  ws?: WsLike;
  request?: unknown;
  nodeReq?: { _context?: unknown; _request?: unknown; socket?: unknown };
}
interface NodeTransport {
  socket: Socket;
  ws: WsLike;
  corked: boolean;
}

/** A complete unmasked text frame (RFC 6455 §5.2) around `text`, built once and written to every member. */
export function encodeTextFrame(text: string): Buffer {
  const length = Buffer.byteLength(text);
  const head = length < 126 ? 2 : length < 65536 ? 4 : 10;
  const frame = Buffer.allocUnsafe(head + length);
  frame[0] = 0x81; // FIN + text opcode
  if (length < 126) frame[1] = length;
  else if (length < 65536) {
    frame[1] = 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 127;
    frame.writeUInt32BE(Math.floor(length / 2 ** 32), 2);
    frame.writeUInt32BE(length >>> 0, 6);
  }
  frame.write(text, head, "utf8");
  return frame;
}

/**
 * Node fan-out with write coalescing. Each socket is corked on its first write in an event-loop turn
 * and all are uncorked together in one `setImmediate`, so a burst of frames to one socket goes out as
 * one `writev` instead of one syscall per frame. The frame is encoded and framed once per broadcast.
 * A lone frame waits at most one turn. What sits corked counts toward `maxBufferedBytes`
 * (`socket.writableLength` includes it).
 *
 * Frames bypass ws's Sender: the server never negotiates permessage-deflate, so the Sender has no
 * queue of its own to keep in order with; `readyState === OPEN` guarantees no close frame went out.
 */
export const createCorkedFanout: CreateFanout = ({ maxBufferedBytes, overLimit }) => {
  let corked: NodeTransport[] = [];
  const uncorkAll = () => {
    const batch = corked;
    corked = [];
    for (const t of batch) {
      t.corked = false;
      t.socket.uncork();
    }
  };

  function write(conn: Connection, frame: Buffer) {
    const t = conn.transport as NodeTransport | undefined;
    if (conn.closed || !t || t.ws.readyState !== 1) return;
    const socket = t.socket;
    if (!t.corked) {
      t.corked = true;
      socket.cork();
      if (corked.push(t) === 1) setImmediate(uncorkAll);
    }
    socket.write(frame);
    if (socket.writableLength > maxBufferedBytes) overLimit(conn);
  }

  return {
    attach(conn) {
      const internal = (conn.peer as unknown as { _internal?: NodePeerInternals })._internal;
      const ws = internal?.ws;
      const socket = ws?._socket;
      if (!internal || !ws || !socket) throw new Error("[openlivesync] Node fan-out needs crossws's Node adapter (peer._internal.ws)");
      conn.transport = { ws, socket, corked: false } satisfies NodeTransport;
      // The upgrade request is not needed once the socket is open (identity is in the context), but
      // crossws keeps the IncomingMessage and its request wrappers for the connection's lifetime:
      // ~4 KB of heap per idle connection. Keep only what the peer still reads (context, socket).
      const nodeReq = internal.nodeReq;
      if (nodeReq) internal.nodeReq = { _context: nodeReq._context, socket: nodeReq.socket };
      internal.request = undefined;
    },
    send(conn, frame) {
      write(conn, encodeTextFrame(frame));
    },
    publish(room, frame, except) {
      if (room.local.size === 0) return;
      const wire = encodeTextFrame(frame);
      for (const conn of room.local) if (conn !== except) write(conn, wire);
    },
  };
};
