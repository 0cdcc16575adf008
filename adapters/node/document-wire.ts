import type { DocumentWire } from "../../src/documents/document-wire.ts";
import { nodeWire } from "../shared/crossws-internals.ts";
import type { FellBack } from "../shared/runtime-live.ts";
import { BINARY, encodeFrames } from "../shared/ws-frame.ts";

/**
 * Document broadcasts on Node: framed once per broadcast (a batch of updates as consecutive frames) into
 * one pooled `Buffer` and written to each
 * socket as they are, past ws's Sender (which would frame, allocate and cork per socket), as the rooms'
 * corked fan-out does and under the same condition: no extension negotiated on that connection
 * (`nodeWire`), so the Sender keeps no queue of its own to stay in order with, and `readyState === OPEN`
 * means no close frame went out. Other frames to the same socket (replies, awareness) still go through
 * `peer.send`, which writes to the same socket synchronously: order is kept.
 */
export function createNodeDocumentWire(fellBack: FellBack): DocumentWire {
  return {
    frame: (payloads) => encodeFrames(BINARY, payloads, Buffer.allocUnsafe),
    writer(peer) {
      const wire = nodeWire(peer);
      if (wire === undefined) fellBack("Node document frames (peer._internal.ws)");
      if (typeof wire !== "object") return undefined;
      const { ws, socket } = wire;
      return (frame) => {
        if (ws.readyState === 1) socket.write(frame);
      };
    },
  };
}
