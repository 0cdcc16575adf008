/**
 * A WebSocket client at the byte level for the front's tests: fixture servers as child processes, raw
 * connections from any 127.x address, hand-made frames, and the close code the server sent.
 */
import { randomBytes } from "node:crypto";
import net from "node:net";
import { afterAll, expect } from "vitest";
import { type FixtureMode, type Runtime, startChild } from "../fixtures/child.ts";
import type { FixtureOptions } from "../fixtures/options.ts";
import type { Fixture } from "../suites/wire-protocol.suite.ts";

const fixtures: Fixture[] = [];
afterAll(async () => {
  for (const f of fixtures.splice(0)) await f.stop();
});

/** Starts a fixture server (stopped after the file's tests) and resolves with its port. */
export async function start(options: FixtureOptions, mode: FixtureMode = "standalone", runtime: Runtime = "deno"): Promise<number> {
  const f = await startChild(runtime, mode, options);
  fixtures.push(f);
  return Number(new URL(f.httpUrl).port);
}

export type RawConnection = Awaited<ReturnType<typeof connect>>;

/** A raw connection from `localAddress` (any 127.x address works on Linux) and everything it received. */
export async function connect(port: number, localAddress = "127.0.0.1") {
  const socket = net.connect({ port, host: "127.0.0.1", localAddress });
  let received = Buffer.alloc(0);
  socket.on("data", (chunk) => {
    received = Buffer.concat([received, chunk]);
  });
  socket.on("error", () => {});
  let closed = false;
  const ended = new Promise<void>((resolve) => socket.once("close", () => resolve()));
  void ended.then(() => (closed = true));
  await new Promise<void>((resolve, reject) => socket.once("connect", resolve).once("error", reject));
  return { socket, ended, isClosed: () => closed, received: () => received };
}

export async function upgrade(port: number, localAddress?: string) {
  const c = await connect(port, localAddress);
  c.socket.write(
    `GET /live HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${randomBytes(16).toString("base64")}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  );
  await until(() => c.received().includes("\r\n\r\n"));
  expect(c.received().toString("latin1")).toMatch(/^HTTP\/1.1 101/);
  const headLength = c.received().indexOf("\r\n\r\n") + 4;
  /** The server's frames so far, as [opcode, payload]. */
  const frames = () => serverFrames(c.received().subarray(headLength));
  /** The server's close code, once its close frame arrived or the socket ended (1006: ended without one). */
  const closeCode = async (timeoutMs = 5000): Promise<number | "open"> => {
    for (const end = Date.now() + timeoutMs; Date.now() < end; await sleep(10)) {
      const close = frames().find(([opcode]) => opcode === 8);
      if (close) return close[1].length >= 2 ? close[1].readUInt16BE(0) : 1005;
      if (c.isClosed()) return 1006;
    }
    return "open";
  };
  /** The text messages the server sent so far, parsed. */
  const messages = () => frames().flatMap(([opcode, payload]) => (opcode === 1 ? [JSON.parse(payload.toString("utf8"))] : []));
  return { ...c, frames, closeCode, messages };
}

/** The whole frames of an unmasked (server) stream, as [opcode, payload]. */
export function serverFrames(bytes: Buffer): Array<[number, Buffer]> {
  const out: Array<[number, Buffer]> = [];
  for (let at = 0; at + 2 <= bytes.length; ) {
    let length = bytes[at + 1]! & 0x7f;
    let head = 2;
    if (length === 126) {
      if (at + 4 > bytes.length) break;
      (length = bytes.readUInt16BE(at + 2)), (head = 4);
    } else if (length === 127) {
      if (at + 10 > bytes.length) break;
      (length = Number(bytes.readBigUInt64BE(at + 2))), (head = 10);
    }
    if (at + head + length > bytes.length) break;
    out.push([bytes[at]! & 0x0f, bytes.subarray(at + head, at + head + length)]);
    at += head + length;
  }
  return out;
}

/**
 * A client frame. `mask: false` leaves the mask bit unset (a protocol error for a client); `rsv` sets the
 * RSV1–3 bits (0–7); `declared` writes that payload length in the header whatever the payload.
 */
export function frame(
  opcode: number,
  payload: Buffer,
  { fin = true, mask = true, rsv = 0, declared = payload.length }: { fin?: boolean; mask?: boolean; rsv?: number; declared?: number } = {},
): Buffer {
  const ext = declared < 126 ? 0 : declared < 65536 ? 2 : 8;
  const head = Buffer.alloc(2 + ext + (mask ? 4 : 0));
  head[0] = (fin ? 0x80 : 0) | (rsv << 4) | opcode;
  head[1] = (mask ? 0x80 : 0) | (ext === 0 ? declared : ext === 2 ? 126 : 127);
  if (ext === 2) head.writeUInt16BE(declared, 2);
  if (ext === 8) head.writeBigUInt64BE(BigInt(declared), 2);
  return Buffer.concat([head, payload]); // an all-zero mask keeps the payload as it is
}

export const text = (message: unknown) => frame(1, Buffer.from(JSON.stringify(message)));

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
export async function until(condition: () => boolean, timeoutMs = 10_000) {
  for (const end = Date.now() + timeoutMs; !condition(); await sleep(10)) if (Date.now() > end) throw new Error("timed out");
}
