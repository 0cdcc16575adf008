/**
 * Follows the frame headers of a client's WebSocket stream (RFC 6455 §5.2) without copying payloads, for
 * the Deno front (deno-front.ts): every client frame must be masked (else 1002), and a message, all its
 * fragments together, must not exceed `maxPayload` (else 1009). Other protocol errors are left to Deno.
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

  constructor(private readonly maxPayload: number) {}

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
        if ((this.header[1]! & 0x80) === 0) return this.fail(1002);
        const short = this.header[1]! & 0x7f;
        this.need = 2 + (short === 126 ? 2 : short === 127 ? 8 : 0) + 4;
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

/** A server's close frame (unmasked) with `code` and no reason. */
export function closeFrame(code: number): Uint8Array {
  return Uint8Array.of(0x88, 2, code >> 8, code & 0xff);
}
