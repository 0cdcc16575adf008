/**
 * Follows the frame headers of a WebSocket stream (RFC 6455 §5.2) without copying payloads, for the Deno
 * front (listen.ts). On a client's stream every frame must be masked (else 1002), and a message, all
 * its fragments together, must not exceed `maxPayload` (else 1009); other protocol errors are left to
 * Deno. On the server's stream (`fromClient` false: unmasked frames, no limit) it only tells where frames
 * end, so the front can put frames of its own between them.
 */
export class FrameCheck {
  /** The close code once a frame was refused. */
  failed: number | undefined;
  private readonly header = new Uint8Array(14);
  private have = 0;
  private need = 2;
  /** Payload bytes of the current frame still to come. */
  private remaining = 0;
  /** Payload bytes of the current data message so far (all its fragments). */
  private message = 0;

  constructor(
    private readonly maxPayload: number,
    private readonly fromClient = true,
  ) {}

  /** No frame has been begun and not finished: a whole frame may go next. */
  get atBoundary(): boolean {
    return this.remaining === 0 && this.have === 0;
  }

  /** Reads `chunk`; false once a frame is refused (then `failed` says why). */
  accept(chunk: Uint8Array): boolean {
    if (this.failed !== undefined) return false;
    let i = 0;
    while (i < chunk.length) {
      if (this.remaining > 0) {
        const n = Math.min(this.remaining, chunk.length - i);
        this.remaining -= n;
        i += n;
        continue;
      }
      this.header[this.have++] = chunk[i++]!;
      if (this.have === 2) {
        if (this.fromClient && (this.header[1]! & 0x80) === 0) return this.fail(1002);
        const short = this.header[1]! & 0x7f;
        this.need = 2 + (short === 126 ? 2 : short === 127 ? 8 : 0) + (this.header[1]! & 0x80 ? 4 : 0);
      }
      if (this.have === this.need && !this.frameStarts()) return false;
    }
    return true;
  }

  /** A whole header has been read: check it, then count its payload. */
  private frameStarts(): boolean {
    const h = this.header;
    const short = h[1]! & 0x7f;
    let length = short;
    if (short === 126) length = (h[2]! << 8) | h[3]!;
    else if (short === 127)
      length =
        (h[2]! * 2 ** 24 + ((h[3]! << 16) | (h[4]! << 8) | h[5]!)) * 2 ** 32 +
        ((h[6]! << 24) >>> 0) +
        ((h[7]! << 16) | (h[8]! << 8) | h[9]!);
    const opcode = h[0]! & 0x0f;
    if (opcode === 0) this.message += length;
    else if (opcode < 8) this.message = length;
    if (this.message > this.maxPayload) return this.fail(1009);
    this.remaining = length;
    this.have = 0;
    this.need = 2;
    return true;
  }

  private fail(code: number): false {
    this.failed = code;
    return false;
  }
}

const encoder = new TextEncoder();
/** Where frames are encoded before they are copied out at their exact size (grown on demand). */
let scratch = new Uint8Array(64 * 1024);

/**
 * A complete unmasked text frame around `text`: the payload is encoded after room for the longest header,
 * the header written just before it, and the frame copied out at its exact size (it may sit in many
 * clients' queues).
 */
export function textFrame(text: string): Uint8Array {
  if (scratch.length < 10 + text.length * 3) scratch = new Uint8Array(10 + text.length * 3);
  const buffer = scratch;
  const { written: length } = encoder.encodeInto(text, buffer.subarray(10));
  const head = length < 126 ? 2 : length < 65536 ? 4 : 10;
  const at = 10 - head;
  buffer[at] = 0x81; // FIN + text opcode
  if (length < 126) buffer[at + 1] = length;
  else if (length < 65536) {
    buffer[at + 1] = 126;
    buffer[at + 2] = length >> 8;
    buffer[at + 3] = length & 0xff;
  } else {
    buffer[at + 1] = 127;
    new DataView(buffer.buffer).setBigUint64(at + 2, BigInt(length));
  }
  return buffer.slice(at, 10 + length);
}

/** A server's close frame (unmasked) with `code` and no reason. */
export function closeFrame(code: number): Uint8Array {
  return Uint8Array.of(0x88, 2, code >> 8, code & 0xff);
}
