/**
 * What the Deno front reads from one client after the 101, frame by frame (it has been through
 * `FrameCheck`: masked, within `maxPayload`). Once the engine has opened the connection (`attach`), data
 * frames are unmasked here and handed to the engine directly; control frames (ping, pong, close) still go
 * to `Deno.serve`, which answers and closes as before. That spares every message the loopback relay and
 * Deno's own parsing.
 *
 * Only a connection the live endpoint upgrades is read this way (`expect`, called at its upgrade); any
 * other WebSocket route of the app gets every frame relayed to Deno. Order holds: from `expect` until
 * `attach` every frame is held (a client may send as soon as it has the 101, which can come before Deno's
 * `open`); if the engine has not attached within `waitMs`, the held frames and all that follow go to Deno. After a close frame, and after a frame the front does not take (a
 * continuation with no message begun, text that is not UTF-8), everything goes to Deno, which closes the
 * connection with the code it would have used anyway.
 *
 * Deno times a connection out when it reads nothing from it for a while (crossws's `idleTimeout`), so a
 * client whose messages all go to the engine would look silent to it: while messages come, the front
 * tells Deno the client is there with an unsolicited pong (RFC 6455 §5.5.3) at most every `keepaliveMs`.
 */

import { concatAll } from "./http-head.ts";

const decoder = new TextDecoder("utf-8", { fatal: true });
/** An empty pong frame, masked as a client's must be (with an all-zero mask). */
const PONG = Uint8Array.of(0x8a, 0x80, 0, 0, 0, 0);

export class FrontReader {
  private mode: "wait" | "direct" | "forward" = "forward";
  private held: Uint8Array[] = [];
  private deliver: ((text: string) => void) | undefined;
  /** Header bytes of the frame being read, while they are not all there. */
  private readonly head = new Uint8Array(14);
  private headHave = 0;
  /** Where the header being read starts in the current chunk (-1: it began in an earlier one). */
  private headFrom = -1;
  /** A frame whose header has been read, being filled (`filled` bytes so far). */
  private frame: Uint8Array | undefined;
  private filled = 0;
  /** Payloads of a fragmented message so far. */
  private fragments: Uint8Array[] | undefined;
  private upstream = Promise.resolve();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private fed = false;
  private keepaliveMs = 0;
  private toldDenoAt = 0;

  constructor(private readonly write: (bytes: Uint8Array) => Promise<void>) {}

  /**
   * The live endpoint is upgrading this connection: hold its frames for the engine (at most `waitMs`).
   * `keepaliveMs`: how often Deno must hear from a client that is sending (0: never). `missed` is called
   * if the engine does not attach in time (the crossws context did not carry the reader to its peer).
   */
  expect(waitMs: number, keepaliveMs: number, missed?: () => void): void {
    if (this.mode !== "forward" || this.fed) return;
    this.mode = "wait";
    this.keepaliveMs = keepaliveMs;
    this.toldDenoAt = Date.now();
    this.timer = setTimeout(() => {
      missed?.();
      this.forwardAll();
    }, waitMs);
  }

  /** The engine opened the connection: `deliver` takes each message from now on (and the held ones). */
  attach(deliver: (text: string) => void): void {
    if (this.mode !== "wait") return;
    clearTimeout(this.timer);
    this.mode = "direct";
    this.deliver = deliver;
    const held = this.held;
    this.held = [];
    for (const frame of held) void this.take(frame, true);
  }

  /** The connection ended: stop waiting. */
  close(): void {
    clearTimeout(this.timer);
    this.held = [];
  }

  /** Reads `chunk` (may be reused by the caller once this resolves). */
  async feed(chunk: Uint8Array): Promise<void> {
    this.fed = true;
    let at = 0;
    if (this.headHave > 0) this.headFrom = -1;
    while (at < chunk.length) {
      if (this.frame) {
        const n = Math.min(this.frame.length - this.filled, chunk.length - at);
        this.frame.set(chunk.subarray(at, at + n), this.filled);
        this.filled += n;
        at += n;
        if (this.filled === this.frame.length) {
          const frame = this.frame;
          this.frame = undefined;
          await this.take(frame, true);
        }
        continue;
      }
      if (this.headHave === 0) this.headFrom = at;
      this.head[this.headHave++] = chunk[at++]!;
      const headLength = this.headHave >= 2 ? headerLength(this.head) : 0;
      if (headLength === 0 || this.headHave < headLength) continue;
      const total = headLength + payloadLength(this.head);
      this.headHave = 0;
      const from = this.headFrom;
      if (from >= 0 && from + total <= chunk.length) {
        // The whole frame is in this chunk: take it where it lies.
        at = from + total;
        await this.take(chunk.subarray(from, at), false);
        continue;
      }
      this.frame = new Uint8Array(total);
      this.frame.set(this.head.subarray(0, headLength));
      this.filled = headLength;
      if (this.filled === total) {
        const frame = this.frame;
        this.frame = undefined;
        await this.take(frame, true);
      }
    }
    await this.upstream;
  }

  /** One whole frame; `owned` when nothing else will write into it. */
  private take(frame: Uint8Array, owned: boolean): Promise<void> | void {
    if (this.mode === "wait") {
      this.held.push(owned ? frame : copy(frame));
      return;
    }
    if (this.mode === "forward") return this.toDeno(frame);
    const opcode = frame[0]! & 0x0f;
    if (opcode >= 8) {
      if (opcode === 8) this.mode = "forward";
      return this.toDeno(frame);
    }
    if (opcode === 0 && !this.fragments) return this.giveUp(frame);
    let payload = unmask(frame);
    if (opcode !== 0) this.fragments = undefined;
    if ((frame[0]! & 0x80) === 0 || this.fragments) {
      (this.fragments ??= []).push(payload);
      if ((frame[0]! & 0x80) === 0) return;
      payload = concatAll(this.fragments);
      this.fragments = undefined;
    }
    let text: string;
    try {
      text = decoder.decode(payload);
    } catch {
      return this.giveUp(frame);
    }
    this.deliver!(text);
    if (this.keepaliveMs > 0) {
      const now = Date.now();
      if (now - this.toldDenoAt >= this.keepaliveMs) {
        this.toldDenoAt = now;
        return this.toDeno(PONG);
      }
    }
  }

  /** A frame the front does not take: from here on Deno reads everything (and closes as it sees fit). */
  private giveUp(frame: Uint8Array) {
    this.mode = "forward";
    return this.toDeno(frame);
  }

  private forwardAll() {
    if (this.mode !== "wait") return;
    this.mode = "forward";
    const held = this.held;
    this.held = [];
    for (const frame of held) void this.toDeno(frame);
  }

  /** Frames go to Deno one after another, in the order they were read. */
  private toDeno(frame: Uint8Array): Promise<void> {
    this.toldDenoAt = Date.now();
    this.upstream = this.upstream.then(() => this.write(frame));
    return this.upstream;
  }
}

/** The header's length once its first two bytes are known. */
function headerLength(head: Uint8Array): number {
  const short = head[1]! & 0x7f;
  return 2 + (short === 126 ? 2 : short === 127 ? 8 : 0) + (head[1]! & 0x80 ? 4 : 0);
}

function payloadLength(head: Uint8Array): number {
  const short = head[1]! & 0x7f;
  if (short === 126) return (head[2]! << 8) | head[3]!;
  if (short === 127) return Number(new DataView(head.buffer, head.byteOffset + 2, 8).getBigUint64(0));
  return short;
}

/** The payload of a masked client frame, unmasked into a new array. */
function unmask(frame: Uint8Array): Uint8Array {
  const headLength = headerLength(frame);
  const payload = copy(frame.subarray(headLength));
  if ((frame[1]! & 0x80) === 0) return payload;
  const mask = frame.subarray(headLength - 4, headLength);
  for (let i = 0; i < payload.length; i++) payload[i]! ^= mask[i & 3]!;
  return payload;
}

/** A copy (`slice` on a Node Buffer would be a view). */
function copy(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytes.length);
  out.set(bytes);
  return out;
}
