/**
 * The Deno front's client writer (adapters/front-writer.ts) and frame encoder, without Deno: the engine's
 * frames and the frames relayed from Deno.serve share one ordered stream and never cut into each other.
 */
import { describe, expect, it } from "vitest";
import { FrameCheck, textFrame } from "../adapters/frame-check.ts";
import { FrontWriter } from "../adapters/front-writer.ts";

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
    const writer = new FrontWriter(client, () => {});
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
    const writer = new FrontWriter(client, () => {});
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
    const writer = new FrontWriter(client, () => {});
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
    const writer = new FrontWriter({ write: () => Promise.reject(new Error("reset")) }, () => failures++);
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

  it("encodes UTF-8 and stays a valid frame for the server-side FrameCheck", () => {
    const frame = textFrame("héllo ✓");
    expect(Buffer.from(frame.subarray(2)).toString("utf8")).toBe("héllo ✓");
    const check = new FrameCheck(Number.POSITIVE_INFINITY, false);
    expect(check.accept(frame)).toBe(true);
    expect(check.atBoundary).toBe(true);
  });
});
