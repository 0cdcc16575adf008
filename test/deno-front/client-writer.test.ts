/**
 * The Deno front's client writer and reader (adapters/deno/front/client-writer.ts, client-reader.ts) and frame encoder,
 * without Deno: the engine's frames and the frames relayed from Deno.serve share one ordered stream and
 * never cut into each other; a client's messages reach the engine whole, in order, however they are cut.
 */
import { describe, expect, it } from "vitest";
import { ClientReader } from "../../adapters/deno/front/client-reader.ts";
import { ClientWriter } from "../../adapters/deno/front/client-writer.ts";
import { encodeFrame, encodeTextFrame as textFrame, payloadLength } from "../../adapters/shared/ws-frame.ts";

/** A client connection that takes writes one at a time, each after `release()` when `manual`. */
function fakeClient(manual = false) {
  const written: Uint8Array[] = [];
  const waiting: Array<() => void> = [];
  return {
    written,
    bytes: () => Buffer.concat(written),
    release: () => waiting.shift()?.(),
    pending: () => waiting.length,
    write(bytes: Uint8Array): Promise<number> {
      written.push(Uint8Array.from(bytes));
      if (!manual) return Promise.resolve(bytes.length);
      return new Promise((resolve) => waiting.push(() => resolve(bytes.length)));
    },
  };
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 0));
const HEAD = new TextEncoder().encode("HTTP/1.1 101 Switching Protocols\r\n\r\n");
const ping = Uint8Array.of(0x89, 4, 1, 2, 3, 4);

/** The frames of an unmasked stream, as [opcode, payload text]. */
function frames(bytes: Buffer): Array<[number, string]> {
  const out: Array<[number, string]> = [];
  for (let at = 0; at < bytes.length; ) {
    let length = bytes[at + 1]! & 0x7f;
    let head = 2;
    if (length === 126) (length = bytes.readUInt16BE(at + 2)), (head = 4);
    else if (length === 127) (length = Number(bytes.readBigUInt64BE(at + 2))), (head = 10);
    out.push([bytes[at]! & 0x0f, bytes.subarray(at + head, at + head + length).toString("latin1")]);
    at += head + length;
  }
  return out;
}

describe("front writer", () => {
  it("holds engine frames until the 101 is queued, then sends them after it", async () => {
    const client = fakeClient();
    const writer = new ClientWriter(client, () => {});
    writer.frame(textFrame("early"));
    await tick();
    expect(client.written).toHaveLength(0);
    await writer.upgrade(HEAD, new Uint8Array(0));
    await tick();
    const out = client.bytes();
    expect(out.subarray(0, HEAD.length).toString("latin1")).toMatch(/^HTTP\/1.1 101/);
    expect(frames(out.subarray(HEAD.length))).toEqual([[1, "early"]]);
  });

  it("puts an engine frame after a relayed frame that arrives in pieces, never inside it", async () => {
    const client = fakeClient();
    const writer = new ClientWriter(client, () => {});
    await writer.upgrade(HEAD, new Uint8Array(0));
    const first = writer.relay(ping.subarray(0, 3)); // the ping's header and one payload byte
    writer.frame(textFrame("between"));
    await first;
    await writer.relay(ping.subarray(3));
    await tick();
    expect(frames(client.bytes().subarray(HEAD.length))).toEqual([
      [9, "\x01\x02\x03\x04"],
      [1, "between"],
    ]);
  });

  it("sends what queued up during a write as one write, in order, and counts it in buffered until written", async () => {
    const client = fakeClient(true);
    const writer = new ClientWriter(client, () => {});
    void writer.upgrade(HEAD, new Uint8Array(0));
    await tick();
    for (const text of ["a", "b", "c"]) writer.frame(textFrame(text));
    expect(writer.buffered).toBe(HEAD.length + 3 * 3); // the 101 is still being written
    client.release(); // the 101
    await tick();
    expect(client.pending()).toBe(1);
    client.release();
    await tick();
    expect(client.written).toHaveLength(2);
    expect(frames(Buffer.from(client.written[1]!))).toEqual([
      [1, "a"],
      [1, "b"],
      [1, "c"],
    ]);
    expect(writer.buffered).toBe(0);
  });

  it("reports a failed write once and drops what is queued", async () => {
    let failures = 0;
    const writer = new ClientWriter({ write: () => Promise.reject(new Error("reset")) }, () => failures++);
    await writer.upgrade(HEAD, new Uint8Array(0));
    writer.frame(textFrame("lost"));
    await tick();
    expect(failures).toBe(1);
    expect(writer.closed).toBe(true);
  });
});

describe("textFrame", () => {
  it.each([0, 125, 126, 65535, 65536])("frames a %i-byte text with the right header", (length) => {
    const text = "x".repeat(length);
    const frame = Buffer.from(textFrame(text));
    expect(frames(frame)).toEqual([[1, text]]);
    expect(frame.length).toBe(length + (length < 126 ? 2 : length < 65536 ? 4 : 10));
  });

  it("encodes UTF-8", () => {
    const frame = textFrame("héllo ✓");
    expect(Buffer.from(frame.subarray(2)).toString("utf8")).toBe("héllo ✓");
  });

  it.each([0, 125, 126, 65535, 65536, 2 ** 32 + 5])("reads back a %i-byte length from the header it wrote", (length) => {
    const header = encodeFrame(1, new Uint8Array(0)).slice();
    const frame = new Uint8Array(10);
    // Only the header matters: write one for `length` the way the encoder does, on an empty payload.
    const head = length < 126 ? 2 : length < 65536 ? 4 : 10;
    frame[0] = header[0]!;
    frame[1] = length < 126 ? length : length < 65536 ? 126 : 127;
    if (head === 4) new DataView(frame.buffer).setUint16(2, length);
    if (head === 10) new DataView(frame.buffer).setBigUint64(2, BigInt(length));
    expect(payloadLength(frame)).toBe(length);
  });
});

/** A masked client frame (mask 0x11 0x22 0x33 0x44). */
function clientFrame(opcode: number, text: string, fin = true): Buffer {
  const payload = Buffer.from(text, "utf8");
  const length = payload.length;
  const ext = length < 126 ? 0 : length < 65536 ? 2 : 8;
  const head = Buffer.alloc(2 + ext + 4);
  head[0] = (fin ? 0x80 : 0) | opcode;
  head[1] = 0x80 | (ext === 0 ? length : ext === 2 ? 126 : 127);
  if (ext === 2) head.writeUInt16BE(length, 2);
  if (ext === 8) head.writeBigUInt64BE(BigInt(length), 2);
  const mask = [0x11, 0x22, 0x33, 0x44];
  head.set(mask, 2 + ext);
  return Buffer.concat([head, payload.map((b, i) => b ^ mask[i & 3]!)]);
}

/** A frame as the reader hands it on to Deno: the whole message in one frame, with an all-zero mask. */
const denoFrame = (opcode: number, text: string) => Buffer.from(encodeFrame(opcode, Buffer.from(text, "utf8"), true));

function reader(keepaliveMs = 0) {
  const toDeno: Buffer[] = [];
  const messages: string[] = [];
  const r = new ClientReader(1 << 20, async (bytes) => {
    toDeno.push(Buffer.from(bytes));
  });
  r.expect(keepaliveMs);
  return { r, toDeno, messages, attach: () => r.attach((text) => messages.push(text)) };
}

/** Feeds `bytes` in pieces of `size`, through one reused buffer as the front's read loop does. */
async function feedCut(r: ClientReader, bytes: Buffer, size: number) {
  const buffer = new Uint8Array(size);
  for (let at = 0; at < bytes.length; at += size) {
    const piece = bytes.subarray(at, at + size);
    buffer.set(piece);
    await r.feed(buffer.subarray(0, piece.length));
    buffer.fill(0xee); // what a reused buffer would hold next
  }
}

describe("front reader", () => {
  const texts = ["a", "é".repeat(70), "x".repeat(300), "y".repeat(70_000), "{}"];
  const stream = Buffer.concat(texts.map((t) => clientFrame(1, t)));

  it.each([1, 3, 7, 4096, 1 << 20])("hands on whole messages in order when the stream is cut every %i bytes", async (size) => {
    const { r, messages, toDeno, attach } = reader();
    attach();
    await feedCut(r, stream, size);
    expect(messages).toEqual(texts);
    expect(toDeno).toEqual([]);
  });

  it("holds what arrives before the engine attaches, then hands it on first", async () => {
    const { r, messages, attach } = reader();
    const fed = r.feed(clientFrame(1, "first"));
    await tick();
    expect(messages).toEqual([]);
    attach();
    await fed;
    await r.feed(clientFrame(1, "second"));
    expect(messages).toEqual(["first", "second"]);
  });

  it("reads nothing more from the client while a frame waits for the engine, however long the open takes", async () => {
    const { r, messages, attach } = reader();
    let done = false;
    const fed = r.feed(Buffer.concat([clientFrame(1, "one"), clientFrame(1, "two")])).then(() => (done = true));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(done).toBe(false);
    expect(messages).toEqual([]);
    attach();
    await fed;
    expect(messages).toEqual(["one", "two"]);
  });

  it("relays everything to Deno, in order, once told not to wait (refused upgrade, lost context)", async () => {
    const { r, toDeno } = reader();
    const fed = r.feed(clientFrame(1, "one"));
    await tick();
    r.forward();
    await fed;
    await r.feed(clientFrame(1, "two"));
    r.attach(() => expect.unreachable("attached after forward"));
    expect(Buffer.concat(toDeno)).toEqual(Buffer.concat([denoFrame(1, "one"), denoFrame(1, "two")]));
  });

  it("lets a held read go when the connection ends", async () => {
    const { r } = reader();
    const fed = r.feed(clientFrame(1, "one"));
    r.close();
    await fed;
  });

  it("relays every frame of a connection the live endpoint did not upgrade", async () => {
    const toDeno: Buffer[] = [];
    const r = new ClientReader(1 << 20, async (bytes) => {
      toDeno.push(Buffer.from(bytes));
    });
    await r.feed(clientFrame(1, "someone else's route"));
    expect(Buffer.concat(toDeno)).toEqual(denoFrame(1, "someone else's route"));
  });

  it("joins a fragmented message and sends control frames between its fragments to Deno", async () => {
    const { r, messages, toDeno, attach } = reader();
    attach();
    const ping = clientFrame(9, "p");
    await feedCut(r, Buffer.concat([clientFrame(1, "he", false), ping, clientFrame(0, "ll", false), clientFrame(0, "o")]), 5);
    expect(messages).toEqual(["hello"]);
    expect(Buffer.concat(toDeno)).toEqual(denoFrame(9, "p"));
  });

  it("sends a close frame and everything after it to Deno", async () => {
    const { r, messages, toDeno, attach } = reader();
    attach();
    await r.feed(Buffer.concat([clientFrame(1, "before"), clientFrame(8, ""), clientFrame(1, "after close")]));
    expect(messages).toEqual(["before"]);
    expect(Buffer.concat(toDeno)).toEqual(Buffer.concat([denoFrame(8, ""), denoFrame(1, "after close")]));
  });

  it("refuses text that is not UTF-8 with 1007 and reads nothing after it", async () => {
    const { r, messages, toDeno, attach } = reader();
    attach();
    const bad = Buffer.from(clientFrame(1, "ab"));
    bad[bad.length - 1] = 0xff ^ 0x22; // unmasks to 0xff, never valid in UTF-8
    await r.feed(Buffer.concat([clientFrame(1, "ok"), bad, clientFrame(1, "later")]));
    expect(messages).toEqual(["ok"]);
    expect(r.failed).toBe(1007);
    expect(toDeno).toEqual([]);
  });

  it("tells Deno the client is there with an unsolicited pong while its messages go to the engine", async () => {
    const { r, messages, toDeno, attach } = reader(30);
    attach();
    await r.feed(clientFrame(1, "m1"));
    expect(toDeno).toEqual([]);
    await new Promise((resolve) => setTimeout(resolve, 40));
    await r.feed(clientFrame(1, "m2"));
    expect(messages).toEqual(["m1", "m2"]);
    expect(toDeno).toEqual([Buffer.from([0x8a, 0x80, 0, 0, 0, 0])]);
  });
});
