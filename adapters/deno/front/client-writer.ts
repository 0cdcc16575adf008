/**
 * Everything the Deno front writes to one client, in order: what it relays from `Deno.serve` (the 101,
 * Deno's pings, pongs and close frames) and the engine's own frames, which the front's fan-out
 * (fanout.ts) hands it directly instead of sending them through Deno's WebSocket and the loopback
 * relay. Whatever queued up while a write was in flight goes out as the next single write.
 *
 * Engine frames go in only between Deno's frames: the relayed stream is followed frame by frame
 * (`DenoFrames`, headers only), and an engine frame that comes while a relayed frame is only
 * partly queued waits for its end. None goes before the 101.
 */
import { headerLength, payloadLength } from "../../shared/ws-frame.ts";
import { ClientReader } from "./client-reader.ts";
import { concatAll } from "./http-head.ts";

interface Writable {
  write(bytes: Uint8Array): Promise<number>;
}

/** Set on the upgrade request's crossws context by the front, read by the fan-out from `peer.context`. */
export const FRONT_WRITER = Symbol.for("openlivesync.front-writer");
/** The front's reader of the same client (client-reader.ts), beside the writer in the context. */
export const FRONT_READER = Symbol.for("openlivesync.front-reader");

export class ClientWriter {
  /** Since when a write to the client has been waiting (0: none); the front's sweep ends stalled clients. */
  stalledSince = 0;
  /** Bytes queued and not yet written (the slow-consumer bound). */
  buffered = 0;
  closed = false;
  private queue: Uint8Array[] = [];
  /** Engine frames waiting for the relayed stream to reach a frame boundary (or for the 101). */
  private held: Uint8Array[] = [];
  private upgraded = false;
  private readonly relayed = new DenoFrames();
  private writing = false;
  private settled: Array<() => void> = [];

  constructor(
    private readonly client: Writable,
    private readonly failed: () => void,
  ) {}

  /** Nothing of a relayed frame is queued without the rest of it: a frame of the front's may go next. */
  get atBoundary(): boolean {
    return this.relayed.atBoundary;
  }

  /** Relayed bytes (any cut); resolves once they are written, so the relay feels the client's backpressure. */
  relay(bytes: Uint8Array): Promise<void> {
    if (this.closed) return Promise.resolve();
    const written = new Promise<void>((resolve) => this.settled.push(resolve));
    if (bytes.length > 0) this.push(bytes);
    if (this.upgraded) {
      this.relayed.follow(bytes);
      if (this.held.length > 0 && this.relayed.atBoundary) this.release();
    }
    this.pump();
    return written;
  }

  /** Queues the 101's `head` and `rest` (what Deno sent right behind it); engine frames may follow. */
  upgrade(head: Uint8Array, rest: Uint8Array): Promise<void> {
    if (!this.closed) this.push(head);
    this.upgraded = true;
    return this.relay(rest);
  }

  /** One whole engine frame; fire and forget (the fan-out checks `buffered`). */
  frame(bytes: Uint8Array): void {
    if (this.closed) return;
    if (!this.upgraded || !this.relayed.atBoundary) {
      this.held.push(bytes);
      this.buffered += bytes.length;
      return;
    }
    this.push(bytes);
    this.pump();
  }

  close(): void {
    this.closed = true;
    this.queue = [];
    this.held = [];
    for (const resolve of this.settled.splice(0)) resolve();
  }

  private push(bytes: Uint8Array) {
    this.queue.push(bytes);
    this.buffered += bytes.length;
  }

  private release() {
    for (const bytes of this.held) this.queue.push(bytes);
    this.held = [];
    this.pump();
  }

  private pump() {
    if (this.writing) return;
    if (this.queue.length === 0) {
      for (const resolve of this.settled.splice(0)) resolve();
      return;
    }
    this.writing = true;
    void this.drain();
  }

  private async drain() {
    let inFlight: Array<() => void> = [];
    try {
      while (this.queue.length > 0 && !this.closed) {
        // One queue array for the writer's life, emptied as its frames go to the write. With a new `[]`
        // per batch (it fills while the write is out), rooms-1000x100 promoted 1.9 MB per scavenge, queued
        // frames and arrays nearly all of it, and the old generation grew until the next mark-compact;
        // with this, or with V8's allocation-site pretenuring off, 0.2 MB (bench/README.md, "Deno's peak RSS").
        const bytes = concatAll(this.queue);
        this.queue.length = 0;
        if (this.settled.length > 0) {
          inFlight = this.settled;
          this.settled = [];
        }
        this.stalledSince = Date.now();
        for (let at = 0; at < bytes.length; ) at += await this.client.write(bytes.subarray(at));
        this.stalledSince = 0;
        this.buffered -= bytes.length;
        for (const resolve of inFlight.splice(0)) resolve();
      }
    } catch {
      this.close();
      this.failed();
    } finally {
      this.writing = false;
      // Written, failed or closed: nobody waits on a batch that is no longer going anywhere.
      for (const resolve of inFlight) resolve();
      for (const resolve of this.settled.splice(0)) resolve();
    }
  }
}

/** The front's writer for a crossws peer, when the peer came through the front. */
export function frontWriterOf(peer: { context?: unknown }): ClientWriter | undefined {
  const context = peer.context as Record<symbol, unknown> | undefined;
  const writer = context?.[FRONT_WRITER];
  return writer instanceof ClientWriter ? writer : undefined;
}

/** The front's reader in a crossws context (a peer's, or an upgrade request's). */
export function frontReaderOf(context: unknown): ClientReader | undefined {
  const reader = (context as Record<symbol, unknown> | undefined)?.[FRONT_READER];
  return reader instanceof ClientReader ? reader : undefined;
}

/** Where the frames of Deno's stream to the client end: headers are read, payloads only counted. */
class DenoFrames {
  private readonly head = new Uint8Array(14);
  private have = 0;
  /** Payload bytes of the current frame still to come. */
  private remaining = 0;

  /** No frame has been begun and not finished: a whole frame may go next. */
  get atBoundary(): boolean {
    return this.remaining === 0 && this.have === 0;
  }

  follow(chunk: Uint8Array): void {
    for (let i = 0; i < chunk.length; ) {
      if (this.remaining > 0) {
        const n = Math.min(this.remaining, chunk.length - i);
        this.remaining -= n;
        i += n;
        continue;
      }
      this.head[this.have++] = chunk[i++]!;
      if (this.have >= 2 && this.have === headerLength(this.head[1]!)) {
        this.remaining = payloadLength(this.head);
        this.have = 0;
      }
    }
  }
}
