/**
 * The Deno front's one parser of a client's bytes after the 101 (RFC 6455 §5): every byte is read once,
 * here, and every rule is checked at the earliest byte that can break it. A frame that breaks one ends the
 * connection with the code Node's ws closes with (`failed`): an unmasked frame, RSV bits (no extension is
 * negotiated), a reserved opcode, a control frame over 125 bytes or fragmented, a continuation with no
 * message begun, a new message inside a fragmented one, a close frame with a one-byte body or an invalid
 * code → 1002; a message whose fragments together pass `maxPayload` → 1009, at the header that passes it;
 * text (or a close reason) that is not UTF-8 → 1007. No buffer is allocated before its header passed.
 * The frames before the one refused are taken as usual.
 *
 * Once the engine has opened the connection (`attach`), messages are handed to the engine directly;
 * control frames (ping, pong, close) still go to `Deno.serve`, which answers and closes as before. That
 * spares every message the loopback relay and Deno's own parsing. Only a connection the live endpoint
 * upgrades is read this way (`expect`, called at its upgrade); any other WebSocket route of the app gets
 * every frame relayed to Deno, each message as one frame (RFC 6455 §5.4 lets an intermediary change the
 * fragmentation). Order holds: from `expect` until `attach` every frame is held (a client may send as soon
 * as it has the 101, which can come before Deno's `open`), and nothing more is read from the client while
 * one is held, so the wait holds at most one read's frames however long the open takes (a busy event loop,
 * a slow `onAuth`). The wait ends at `attach`, at `forward` (the upgrade was refused, or the peer opened
 * without this reader in its context: the held frames and all that follow go to Deno), or when the
 * connection ends. After a close frame everything goes to Deno.
 *
 * Deno times a connection out when it reads nothing from it for a while (crossws's `idleTimeout`), so a
 * client whose messages all go to the engine would look silent to it: while messages come, the front
 * tells Deno the client is there with an unsolicited pong (RFC 6455 §5.5.3) at most every `keepaliveMs`.
 */
import { concatAll } from "./http-head.ts";
import { BINARY, CLOSE, encodeFrame, headerLength, PONG, payloadLength, TEXT } from "../../shared/ws-frame.ts";

const strict = new TextDecoder("utf-8", { fatal: true });
const lenient = new TextDecoder("utf-8");
/** An empty pong frame, masked as a client's must be (with an all-zero mask). */
const EMPTY_PONG = encodeFrame(PONG, new Uint8Array(0), true);

/** A whole frame or message, unmasked, held until the engine attaches (or relayed to Deno). */
interface Taken {
  opcode: number;
  payload: Uint8Array;
}

export class ClientReader {
  /** The close code once a frame was refused; nothing is read after it. */
  failed: number | undefined;
  private mode: "wait" | "direct" | "forward" = "forward";
  private held: Taken[] = [];
  private deliver: ((text: string) => void) | undefined;
  /** Header bytes of the frame being read, while they are not all there. */
  private readonly head = new Uint8Array(14);
  private headHave = 0;
  /** The payload of the frame being read (unmasked as it comes), `filled` bytes so far. */
  private payload: Uint8Array | undefined;
  private filled = 0;
  /** Opcode of the message being read (0: none); payloads of its fragments so far, and their total. */
  private messageOpcode = 0;
  private fragments: Uint8Array[] = [];
  private messageBytes = 0;
  private upstream = Promise.resolve();
  /** Resolves the read held back while waiting for the engine (see `take`). */
  private resume: (() => void) | undefined;
  private fed = false;
  private keepaliveMs = 0;
  private toldDenoAt = 0;

  constructor(
    /** Set again per request on a kept-alive connection: the documents' path has its own bound. */
    public maxPayload: number,
    private readonly write: (bytes: Uint8Array) => Promise<void>,
  ) {}

  /**
   * The live endpoint is upgrading this connection: hold its frames for the engine until `attach` (or
   * `forward`, or `close`). `keepaliveMs`: how often Deno must hear from a client that is sending (0: never).
   */
  expect(keepaliveMs: number): void {
    if (this.mode !== "forward" || this.fed) return;
    this.mode = "wait";
    this.keepaliveMs = keepaliveMs;
    this.toldDenoAt = Date.now();
  }

  /** The engine opened the connection: `deliver` takes each message from now on (and the held ones). */
  attach(deliver: (text: string) => void): void {
    if (this.mode !== "wait") return;
    this.mode = "direct";
    this.deliver = deliver;
    const held = this.held;
    this.held = [];
    for (const taken of held) void this.take(taken.opcode, taken.payload);
    this.wake();
  }

  /**
   * Stop waiting for the engine: the upgrade was refused (no open will come), or the peer opened without
   * this reader. What was held, and everything after, goes to Deno.
   */
  forward(): void {
    if (this.mode !== "wait") return;
    this.mode = "forward";
    const held = this.held;
    this.held = [];
    for (const { opcode, payload } of held) void this.toDeno(encodeFrame(opcode, payload, true));
    this.wake();
  }

  /** The connection ended: stop waiting. */
  close(): void {
    this.held = [];
    this.wake();
  }

  private wake(): void {
    const resume = this.resume;
    this.resume = undefined;
    resume?.();
  }

  /** Reads `chunk` (may be reused by the caller once this resolves); stops at a refused frame. */
  async feed(chunk: Uint8Array): Promise<void> {
    this.fed = true;
    for (let at = 0; at < chunk.length && this.failed === undefined; ) {
      const payload = this.payload;
      if (payload) {
        const n = Math.min(payload.length - this.filled, chunk.length - at);
        unmaskInto(payload, this.filled, chunk, at, n, this.head, headerLength(this.head[1]!) - 4);
        this.filled += n;
        at += n;
        if (this.filled === payload.length) await this.frameEnds();
        continue;
      }
      this.head[this.headHave++] = chunk[at++]!;
      if (this.headHave === 2 && !this.checkStart()) break;
      if (this.headHave < 2 || this.headHave < headerLength(this.head[1]!)) continue;
      if (!this.checkLength()) break;
      if (this.payload === undefined) await this.frameEnds();
    }
    await this.upstream;
  }

  /** The first two header bytes: everything but the length's own limits. */
  private checkStart(): boolean {
    const first = this.head[0]!;
    const second = this.head[1]!;
    const opcode = first & 0x0f;
    if ((second & 0x80) === 0 || (first & 0x70) !== 0) return this.fail(1002);
    if (opcode >= 8) {
      if (opcode > 10 || (first & 0x80) === 0 || (second & 0x7f) > 125) return this.fail(1002);
      return true;
    }
    if (opcode > 2) return this.fail(1002);
    // A continuation needs a message begun; a new message may not start inside one.
    if ((opcode === 0) !== (this.messageOpcode !== 0)) return this.fail(1002);
    return true;
  }

  /** The whole header: the message's size so far, then room for the payload. */
  private checkLength(): boolean {
    const length = payloadLength(this.head);
    if ((this.head[0]! & 0x0f) < 8) {
      this.messageBytes = (this.messageOpcode === 0 ? 0 : this.messageBytes) + length;
      if (this.messageBytes > this.maxPayload) return this.fail(1009);
    }
    this.payload = length > 0 ? new Uint8Array(length) : undefined;
    this.filled = 0;
    return true;
  }

  /** The frame whose header is in `head` has all its payload. */
  private frameEnds(): Promise<void> | void {
    const first = this.head[0]!;
    const payload = this.payload ?? new Uint8Array(0);
    this.payload = undefined;
    this.headHave = 0;
    const opcode = first & 0x0f;
    if (opcode >= 8) return this.take(opcode, payload);
    if (opcode !== 0) this.messageOpcode = opcode;
    if ((first & 0x80) === 0) {
      this.fragments.push(payload);
      return;
    }
    let message = payload;
    if (this.fragments.length > 0) {
      this.fragments.push(payload);
      message = concatAll(this.fragments);
      this.fragments = [];
    }
    const messageOpcode = this.messageOpcode;
    this.messageOpcode = 0;
    return this.take(messageOpcode, message);
  }

  /** One whole message or control frame, in the order read. */
  private take(opcode: number, payload: Uint8Array): Promise<void> | void {
    if (opcode === CLOSE && !validClose(payload)) return void this.fail(payload.length === 1 || !validCode(payload) ? 1002 : 1007);
    let text: string | undefined;
    if (opcode === TEXT) {
      try {
        text = strict.decode(payload);
      } catch {
        return void this.fail(1007);
      }
    }
    if (this.mode === "wait") {
      this.held.push({ opcode, payload });
      // Read on once the wait is over: a client cannot make the front hold more than this read meanwhile.
      return new Promise<void>((resolve) => (this.resume = resolve));
    }
    if (this.mode === "forward" || opcode >= 8) {
      if (opcode === CLOSE) this.mode = "forward";
      return this.toDeno(encodeFrame(opcode, payload, true));
    }
    this.deliver!(text ?? (opcode === BINARY ? lenient.decode(payload) : strict.decode(payload)));
    if (this.keepaliveMs > 0) {
      const now = Date.now();
      if (now - this.toldDenoAt >= this.keepaliveMs) return this.toDeno(EMPTY_PONG);
    }
  }

  private fail(code: number): false {
    this.failed ??= code;
    this.mode = "forward";
    this.held = [];
    return false;
  }

  /** Frames go to Deno one after another, in the order they were read. */
  private toDeno(frame: Uint8Array): Promise<void> {
    this.toldDenoAt = Date.now();
    this.upstream = this.upstream.then(() => this.write(frame));
    return this.upstream;
  }
}

/** Copies `n` bytes of `source` from `from` into `target` at `at`, unmasking with the key at `head[key]`. */
function unmaskInto(target: Uint8Array, at: number, source: Uint8Array, from: number, n: number, head: Uint8Array, key: number) {
  const m0 = head[key]!;
  const m1 = head[key + 1]!;
  const m2 = head[key + 2]!;
  const m3 = head[key + 3]!;
  let i = 0;
  // Mostly a frame's payload is all in one read: from its start, four bytes a step.
  if ((at & 3) === 0) {
    for (; i + 3 < n; i += 4) {
      target[at + i] = source[from + i]! ^ m0;
      target[at + i + 1] = source[from + i + 1]! ^ m1;
      target[at + i + 2] = source[from + i + 2]! ^ m2;
      target[at + i + 3] = source[from + i + 3]! ^ m3;
    }
  }
  const mask = head.subarray(key, key + 4);
  for (; i < n; i++) target[at + i] = source[from + i]! ^ mask[(at + i) & 3]!;
}

/** A close frame's body: empty, or a valid code and a UTF-8 reason (RFC 6455 §5.5.1, §7.4). */
function validClose(payload: Uint8Array): boolean {
  if (payload.length === 0) return true;
  if (payload.length === 1 || !validCode(payload)) return false;
  try {
    strict.decode(payload.subarray(2));
    return true;
  } catch {
    return false;
  }
}

/** A code a peer may send (ws's `isValidStatusCode`): 1000–1014 but 1004–1006, and 3000–4999. */
function validCode(payload: Uint8Array): boolean {
  if (payload.length < 2) return false;
  const code = (payload[0]! << 8) | payload[1]!;
  return (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) || (code >= 3000 && code <= 4999);
}
