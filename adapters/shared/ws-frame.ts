/**
 * The WebSocket frame codec (RFC 6455 §5.2) for the fast paths that write frames themselves: Node's
 * corked fan-out and the Deno front. Encodes server frames and reads frame headers; the 64-bit length is
 * computed here only.
 */

export const TEXT = 0x1;
export const BINARY = 0x2;
export const CLOSE = 0x8;
export const PING = 0x9;
export const PONG = 0xa;

const encoder = new TextEncoder();
/** Where text frames are encoded before they are copied out at their exact size (grown on demand). */
let scratch = new Uint8Array(64 * 1024);
/** `scratch` past room for the longest header: where payloads are encoded (kept, not made per frame). */
let body = scratch.subarray(10);

/** Where a frame is copied out to: a fresh `Uint8Array` by default (Node passes `Buffer.allocUnsafe`). */
export type FrameAlloc = (size: number) => Uint8Array;

const newBytes: FrameAlloc = (size) => new Uint8Array(size);

/**
 * A complete unmasked text frame around `text`: the payload is encoded after room for the longest header,
 * the header written just before it, and the frame copied out at its exact size into `alloc(size)` (it
 * may sit in many clients' queues). On Node, `Buffer.allocUnsafe` takes small frames from a shared pool
 * and hands sockets a `Buffer`, which `socket.write` takes as it is (a plain `Uint8Array` is wrapped in
 * a new `Buffer` on every write, that is once per recipient).
 */
export function encodeTextFrame(text: string, alloc: FrameAlloc = newBytes): Uint8Array {
  if (scratch.length < 10 + text.length * 3) {
    scratch = new Uint8Array(10 + text.length * 3);
    body = scratch.subarray(10);
  }
  const { written: length } = encoder.encodeInto(text, body);
  const at = 10 - headerSize(length, false);
  writeHeader(scratch, at, 0x80 | TEXT, length, false);
  const frame = alloc(10 - at + length);
  frame.set(scratch.subarray(at, 10 + length));
  return frame;
}

/**
 * One whole frame (FIN set) around `payload`. `masked` marks it as a client's, with an all-zero mask so
 * the payload goes as it is: the Deno front hands frames it has already unmasked on to `Deno.serve` so.
 */
export function encodeFrame(opcode: number, payload: Uint8Array, masked = false): Uint8Array {
  const head = headerSize(payload.length, masked);
  const frame = new Uint8Array(head + payload.length);
  writeHeader(frame, 0, 0x80 | opcode, payload.length, masked);
  frame.set(payload, head);
  return frame;
}

/**
 * Whole unmasked server frames, one around each payload, back to back in one buffer from `alloc` (one
 * write sends them all; `alloc` as for {@link encodeTextFrame}).
 */
export function encodeFrames(opcode: number, payloads: readonly Uint8Array[], alloc: FrameAlloc = newBytes): Uint8Array {
  let size = 0;
  for (const payload of payloads) size += headerSize(payload.length, false) + payload.length;
  const out = alloc(size);
  let at = 0;
  for (const payload of payloads) {
    writeHeader(out, at, 0x80 | opcode, payload.length, false);
    at += headerSize(payload.length, false);
    out.set(payload, at);
    at += payload.length;
  }
  return out;
}

/** A server's close frame with `code` and no reason. */
export function closeFrame(code: number): Uint8Array {
  return Uint8Array.of(0x80 | CLOSE, 2, code >> 8, code & 0xff);
}

function headerSize(length: number, masked: boolean): number {
  return (length < 126 ? 2 : length < 65536 ? 4 : 10) + (masked ? 4 : 0);
}

/** Writes a header at `at` (a mask, when `masked`, of four zero bytes). */
function writeHeader(target: Uint8Array, at: number, first: number, length: number, masked: boolean) {
  target[at] = first;
  const mask = masked ? 0x80 : 0;
  if (length < 126) target[at + 1] = mask | length;
  else if (length < 65536) {
    target[at + 1] = mask | 126;
    target[at + 2] = length >> 8;
    target[at + 3] = length & 0xff;
  } else {
    target[at + 1] = mask | 127;
    const high = Math.floor(length / 2 ** 32);
    for (let i = 0; i < 4; i++) target[at + 2 + i] = (high >>> (24 - 8 * i)) & 0xff;
    for (let i = 0; i < 4; i++) target[at + 6 + i] = (length >>> (24 - 8 * i)) & 0xff;
  }
  if (masked) target.fill(0, at + headerSize(length, true) - 4, at + headerSize(length, true));
}

/** A frame header's whole length, known from its second byte (length code and mask bit). */
export function headerLength(second: number): number {
  const short = second & 0x7f;
  return 2 + (short === 126 ? 2 : short === 127 ? 8 : 0) + (second & 0x80 ? 4 : 0);
}

/**
 * The payload length in a complete header starting at `head[0]`. A 64-bit length past 2^53 comes out
 * inexact but still larger than any limit, which is all a reader needs of it.
 */
export function payloadLength(head: Uint8Array): number {
  const short = head[1]! & 0x7f;
  if (short === 126) return (head[2]! << 8) | head[3]!;
  if (short < 126) return short;
  const high = ((head[2]! << 24) | (head[3]! << 16) | (head[4]! << 8) | head[5]!) >>> 0;
  const low = ((head[6]! << 24) | (head[7]! << 16) | (head[8]! << 8) | head[9]!) >>> 0;
  return high * 2 ** 32 + low;
}
