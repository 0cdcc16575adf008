/** Reading and writing the Deno front's raw connections (`Deno.Conn`, by the parts used). */

export interface NetAddr {
  transport: "tcp";
  hostname: string;
  port: number;
}
export interface Conn {
  readonly remoteAddr: NetAddr;
  readonly localAddr: NetAddr;
  read(buffer: Uint8Array): Promise<number | null>;
  write(bytes: Uint8Array): Promise<number>;
  close(): void;
  setNoDelay?(noDelay?: boolean): void;
}

export async function discard(conn: Conn, limit: number) {
  const buffer = new Uint8Array(FROM_CLIENT);
  for (let n = 0; n < limit; ) {
    const read = await conn.read(buffer);
    if (read === null) return;
    n += read;
  }
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Read buffer sizes. Each open connection holds both while it waits for bytes: two of 64 KiB made an idle
 * Deno connection 36 KB larger than without the front; frames larger than these take a few more reads.
 */
export const FROM_CLIENT = 4096;
/**
 * After the 101 only Deno's own frames come this way (pings, pongs, close: at most 129 bytes each); the
 * engine's frames go from the front's writer. A small buffer keeps idle connections small.
 */
export const FROM_DENO_WS = 512;

/** Copies `from` → `write` until `from` ends or `stop()` says so after a write. */
export async function pipe(
  from: Conn,
  write: (bytes: Uint8Array) => Promise<void>,
  size: number,
  first?: Uint8Array,
  stop?: () => boolean,
): Promise<void> {
  if (first?.length) {
    await write(first);
    if (stop?.()) return;
  }
  const buffer = new Uint8Array(size);
  for (;;) {
    const n = await from.read(buffer);
    if (n === null) return;
    await write(buffer.subarray(0, n));
    if (stop?.()) return;
  }
}

export async function writeAll(conn: Conn, bytes: Uint8Array) {
  for (let at = 0; at < bytes.length; ) at += await conn.write(bytes.subarray(at));
}
