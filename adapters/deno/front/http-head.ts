/** Reading an HTTP/1.1 request or response head off a raw connection, for the Deno front (listen.ts). */

interface Readable {
  read(buffer: Uint8Array): Promise<number | null>;
}

/** Longest request head accepted (Node's `maxHeaderSize` is 16 KiB; nginx's buffers 8–32 KiB). */
const MAX_HEAD = 32 * 1024;

/** Reads up to and including the blank line after the headers; `head` is undefined when it is too long. */
export async function readHead(conn: Readable): Promise<{ head?: Uint8Array; rest: Uint8Array } | null> {
  let buffer = new Uint8Array(4096);
  let length = 0;
  for (;;) {
    if (length === buffer.length) {
      if (length >= MAX_HEAD) return { rest: buffer };
      const bigger = new Uint8Array(length * 2);
      bigger.set(buffer);
      buffer = bigger;
    }
    const n = await conn.read(buffer.subarray(length));
    if (n === null) return null;
    const from = Math.max(0, length - 3);
    length += n;
    const at = indexOfBlankLine(buffer, from, length);
    if (at >= 0) return { head: buffer.slice(0, at + 4), rest: buffer.slice(at + 4, length) };
  }
}

function indexOfBlankLine(buffer: Uint8Array, from: number, to: number): number {
  for (let i = from; i + 3 < to; i++) {
    if (buffer[i] === 13 && buffer[i + 1] === 10 && buffer[i + 2] === 13 && buffer[i + 3] === 10) return i;
  }
  return -1;
}

export const latin1 = (bytes: Uint8Array) => new TextDecoder("latin1").decode(bytes);

/** The chunks in one new array (the one chunk itself when there is only one). */
export function concatAll(chunks: readonly Uint8Array[]): Uint8Array {
  if (chunks.length === 1) return chunks[0]!;
  let length = 0;
  for (const c of chunks) length += c.length;
  const out = new Uint8Array(length);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/**
 * A connection's reads with bytes put back in front: what was read past a head or a body belongs to
 * whatever comes next on the connection.
 */
export class Source implements Readable {
  private pending: Uint8Array | undefined;

  constructor(private readonly conn: Readable) {}

  /** Puts `bytes` (not reused by the caller) back, to be read first. */
  unread(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    this.pending = this.pending ? concatAll([bytes, this.pending]) : bytes;
  }

  /** What was put back and not read yet, taken out. */
  takePending(): Uint8Array {
    const pending = this.pending ?? new Uint8Array(0);
    this.pending = undefined;
    return pending;
  }

  async read(buffer: Uint8Array): Promise<number | null> {
    const pending = this.pending;
    if (!pending) return this.conn.read(buffer);
    const n = Math.min(buffer.length, pending.length);
    buffer.set(pending.subarray(0, n));
    this.pending = n < pending.length ? pending.subarray(n) : undefined;
    return n;
  }
}
