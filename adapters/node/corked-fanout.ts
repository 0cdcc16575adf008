import type { CreateFanout } from "../../src/engine/fanout.ts";
import type { Connection } from "../../src/engine/room.ts";
import { nextTurn } from "../../src/util/async.ts";
import { connectionOf } from "../../src/engine/hooks.ts";
import {
  reuseFragments,
  nodeReceiver,
  nodeWire,
  releaseNodeUpgradeRequest,
  type NodeWire,
  type ReceiverLike,
} from "../shared/crossws-internals.ts";
import type { FellBack } from "../shared/runtime-live.ts";
import { createFramedFanout } from "../shared/framed-fanout.ts";
import { PING } from "../shared/ws-frame.ts";

/** An unmasked ping with no payload (RFC 6455 §5.5.2): the server's heartbeat frame. */
const PING_FRAME = new Uint8Array([0x80 | PING, 0]);

interface NodeTransport extends NodeWire {
  corked: boolean;
  /** ws's Receiver for this socket, and the array it gets back for each message's fragments (see handBackFragments). */
  receiver: ReceiverLike | undefined;
  fragments: unknown[];
}

/**
 * After each message, give the socket's ws Receiver this connection's own (emptied) fragments array in
 * place of the `[]` ws has just made, which then dies at once. Left alone, that `[]` lives until the
 * socket's next message; after the joins of rooms-1000x100 (every socket sends once, then waits) V8
 * found nearly all of them alive at its scavenges and pretenured their allocation site, one site for every
 * ws socket in the process. From then on each message's `[]` was made in the old generation and held its
 * fragments, the payload and the socket's read chunk there until the next mark-compact: about 1 MB
 * promoted per scavenge at full load, server peak RSS 190–200 MB instead of about 125 (bench/README.md,
 * "rooms-1000x100 and peak RSS: ws's fragments array"). With the array handed back the site is not
 * pretenured, and should it be, its arrays die empty.
 */
export function handBackFragments(peer: unknown): void {
  const t = connectionOf(peer)?.transport as NodeTransport | undefined;
  const receiver = t?.receiver;
  if (!receiver) return;
  reuseFragments(receiver, t.fragments);
}

/**
 * Node fan-out with write coalescing. Each socket is corked on its first write in an event-loop turn
 * and all are uncorked together in the next turn (`nextTurn`: `setImmediate` on Node), so a burst of
 * frames to one socket goes out as one `writev` instead of one syscall per frame. The frame is encoded
 * and framed once per broadcast. A lone frame waits at most one turn. What sits corked counts toward
 * `maxBufferedBytes` (`socket.writableLength` includes it).
 *
 * Frames bypass ws's Sender, which is safe only on a connection without permessage-deflate (checked per
 * connection by `nodeWire`): the Sender then has no queue of its own to keep in order with, and
 * `readyState === OPEN` guarantees no close frame went out. A connection that negotiated deflate, or
 * whose socket crossws keeps elsewhere than 0.4.17 does, gets the portable fan-out's `peer.send`.
 */
export const createCorkedFanout =
  (fellBack: FellBack): CreateFanout =>
  (context) => {
    const { maxBufferedBytes, overLimit } = context;
    let corked: NodeTransport[] = [];
    const uncorkAll = () => {
      const batch = corked;
      corked = [];
      for (const t of batch) {
        t.corked = false;
        t.socket.uncork();
      }
    };

    function write(conn: Connection, t: NodeTransport, frame: Uint8Array) {
      if (conn.closed || t.ws.readyState !== 1) return;
      const socket = t.socket;
      if (!t.corked) {
        t.corked = true;
        socket.cork();
        if (corked.push(t) === 1) nextTurn(uncorkAll);
      }
      socket.write(frame);
      if (socket.writableLength > maxBufferedBytes) overLimit(conn);
    }

    const attach = (conn: Connection) => {
      const wire = nodeWire(conn.peer);
      if (typeof wire === "object") {
        const receiver = nodeReceiver(wire.ws);
        if (!receiver) fellBack("Node message fragments (ws._receiver._fragments)");
        conn.transport = { ws: wire.ws, socket: wire.socket, corked: false, receiver, fragments: [] } satisfies NodeTransport;
      } else if (wire === undefined) fellBack("Node fan-out (peer._internal.ws)");
      if (!releaseNodeUpgradeRequest(conn.peer)) fellBack("Node upgrade request release");
    };
    /** The heartbeat's ping: the same two bytes for every socket, written as they are, past ws's Sender. */
    const ping = (conn: Connection) => {
      const t = conn.transport as NodeTransport | undefined;
      if (!t) return conn.peer.ping?.();
      if (conn.closed || t.ws.readyState !== 1) return;
      t.socket.write(PING_FRAME);
      if (t.socket.writableLength > maxBufferedBytes) overLimit(conn);
    };
    // Buffers from Node's pool: `socket.write` takes them as they are (see encodeTextFrame).
    return { ...createFramedFanout<NodeTransport>(context, attach, write, (t) => t.socket.writableLength, Buffer.allocUnsafe), ping };
  };
