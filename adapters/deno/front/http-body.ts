/**
 * Where an HTTP/1.1 message's body ends (RFC 9112 §6), so the Deno front can keep a connection alive
 * between requests and still time each request head: a body is relayed as it comes, its bytes counted
 * (`Content-Length`) or its chunk sizes followed (`Transfer-Encoding: chunked`), never buffered whole.
 */

/** How a body is delimited: none, a byte count, chunked, or (responses only) the end of the connection. */
export type Framing = { length: number } | "chunked" | "close";

/** A header's value (the first, when repeated), or undefined. */
export function headerValue(head: string, name: string): string | undefined {
  const match = new RegExp(`\\r\\n${name}:[ \\t]*([^\\r]*?)[ \\t]*\\r\\n`, "i").exec(head);
  return match?.[1];
}

/**
 * A request's body framing; undefined when the front cannot tell it the way `Deno.serve` would (a
 * transfer coding other than chunked, Content-Length with Transfer-Encoding, a malformed or repeated
 * Content-Length): the front answers those 400 and closes, so the two never disagree (request smuggling).
 */
export function requestFraming(head: string): Framing | undefined {
  const coding = headerValue(head, "transfer-encoding");
  const lengths = head.match(/\r\ncontent-length:/gi)?.length ?? 0;
  if (coding !== undefined) return coding.toLowerCase() === "chunked" && lengths === 0 ? "chunked" : undefined;
  if (lengths === 0) return { length: 0 };
  const length = headerValue(head, "content-length")!;
  return lengths === 1 && /^\d{1,15}$/.test(length) ? { length: Number(length) } : undefined;
}

/** A response's body framing, given the request's method. */
export function responseFraming(head: string, method: string): Framing {
  const status = Number(head.slice(9, 12));
  if (method === "HEAD" || status === 204 || status === 304 || (status >= 100 && status < 200)) return { length: 0 };
  if (headerValue(head, "transfer-encoding")?.toLowerCase().endsWith("chunked")) return "chunked";
  const length = headerValue(head, "content-length");
  return length !== undefined && /^\d{1,15}$/.test(length) ? { length: Number(length) } : "close";
}

/** The connection ends after this message (`Connection: close`, or HTTP/1.0 without keep-alive). */
export function closesAfter(head: string, startLine: string): boolean {
  const connection = headerValue(head, "connection")?.toLowerCase() ?? "";
  if (/\bclose\b/.test(connection)) return true;
  return startLine.includes("HTTP/1.0") && !/\bkeep-alive\b/.test(connection);
}

/** Follows a chunked body (RFC 9112 §7.1) byte by byte over its size lines, skipping chunk data in bulk. */
export class ChunkedBody {
  done = false;
  /** Reading a size line (with extensions), chunk data, the CRLF after it, or trailer lines. */
  private state: "size" | "data" | "after" | "trailer" = "size";
  private size = 0;
  private sawDigit = false;
  private inExtension = false;
  /** Data bytes of the chunk still to come, or CRLF bytes after it. */
  private remaining = 0;
  /** Length of the trailer line being read (0: an empty line ends the body). */
  private lineLength = 0;

  /**
   * How many bytes of `chunk` belong to the body (the rest is the next message); -1 when the body is
   * malformed.
   */
  take(chunk: Uint8Array): number {
    let i = 0;
    while (i < chunk.length && !this.done) {
      if (this.state === "data" || this.state === "after") {
        const n = Math.min(this.remaining, chunk.length - i);
        this.remaining -= n;
        i += n;
        if (this.remaining > 0) continue;
        if (this.state === "data") (this.state = "after"), (this.remaining = 2);
        else this.state = "size";
        continue;
      }
      const byte = chunk[i++]!;
      if (this.state === "trailer") {
        if (byte === 10) {
          if (this.lineLength === 0) this.done = true;
          this.lineLength = 0;
        } else if (byte !== 13) this.lineLength++;
        continue;
      }
      if (byte === 10) {
        if (!this.sawDigit) return -1;
        this.state = this.size === 0 ? "trailer" : "data";
        this.remaining = this.size;
        this.size = 0;
        this.sawDigit = false;
        this.inExtension = false;
        continue;
      }
      if (this.inExtension || byte === 13) continue;
      if (byte === 59 || byte === 32 || byte === 9) {
        this.inExtension = true;
        continue;
      }
      const digit = hexDigit(byte);
      if (digit < 0 || this.size > 2 ** 40) return -1;
      this.size = this.size * 16 + digit;
      this.sawDigit = true;
    }
    return i;
  }
}

function hexDigit(byte: number): number {
  if (byte >= 48 && byte <= 57) return byte - 48;
  if (byte >= 97 && byte <= 102) return byte - 87;
  if (byte >= 65 && byte <= 70) return byte - 55;
  return -1;
}

interface Readable {
  read(buffer: Uint8Array): Promise<number | null>;
  unread(bytes: Uint8Array): void;
}

/**
 * Relays one body from `from` to `write` as it comes; what follows it is put back into `from`. Resolves
 * false when `from` ended early or the body is malformed.
 */
export async function relayBody(from: Readable, framing: Framing, write: (bytes: Uint8Array) => Promise<void>): Promise<boolean> {
  if (framing !== "close" && framing !== "chunked" && framing.length === 0) return true;
  const chunked = framing === "chunked" ? new ChunkedBody() : undefined;
  let left = typeof framing === "object" ? framing.length : Number.POSITIVE_INFINITY;
  const buffer = new Uint8Array(16 * 1024);
  for (;;) {
    const n = await from.read(buffer);
    if (n === null) return framing === "close";
    const chunk = buffer.subarray(0, n);
    const taken = chunked ? chunked.take(chunk) : Math.min(n, left);
    if (taken < 0) return false;
    left -= taken;
    // The buffer is reused: what belongs to the next message is copied out first.
    if (taken < n) from.unread(chunk.slice(taken));
    await write(chunk.subarray(0, taken));
    if (chunked?.done || left === 0) return true;
  }
}
