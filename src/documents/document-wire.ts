/**
 * How a runtime lets document broadcasts skip its WebSocket library's per-socket send (Node: ws's Sender):
 * a broadcast's payload is framed once and the same frame bytes are written to every socket that has a
 * writer, and a batch of updates goes to a socket as several frames in one write. Without one (or for a socket the runtime cannot write to directly) `peer.send` is used.
 */
export interface DocumentWire {
  /** Complete unmasked binary WebSocket frames, one around each payload, back to back in one buffer. */
  frame(payloads: readonly Uint8Array[]): Uint8Array;
  /** A writer of complete frames to `peer`'s socket, or undefined when this socket must use `peer.send`. */
  writer(peer: object): ((frame: Uint8Array) => void) | undefined;
}
