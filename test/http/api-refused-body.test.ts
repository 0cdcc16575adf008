/**
 * A request to the HTTP API refused with 401 has its body left unread: the server answers and closes the
 * connection instead of reading (and discarding) whatever an unauthenticated client sends, on every runtime.
 */
import net from "node:net";
import { afterAll, describe, expect, it } from "vitest";
import { type Runtime, startChild } from "../fixtures/child.ts";
import type { Fixture } from "../suites/wire-protocol.suite.ts";

const fixtures: Fixture[] = [];
afterAll(async () => {
  for (const f of fixtures) await f.stop();
});

const DECLARED = 50 * 1024 * 1024;

/** Sends a 50 MB body after the head, 256 KiB at a time; resolves with the bytes sent before the server closed. */
async function sendUntilClosed(port: number, head: string): Promise<{ sent: number; answer: string }> {
  const socket = net.connect({ port, host: "127.0.0.1" });
  let answer = "";
  socket.on("data", (chunk) => (answer += chunk.toString("latin1")));
  socket.on("error", () => {});
  let closed = false;
  const ended = new Promise<void>((resolve) => socket.once("close", () => resolve()));
  void ended.then(() => (closed = true));
  await new Promise<void>((resolve) => socket.once("connect", resolve));
  socket.write(head);
  const piece = Buffer.alloc(256 * 1024, 0x61);
  let sent = 0;
  while (!closed && sent < DECLARED) {
    const drained = socket.write(piece);
    sent += piece.length;
    if (!drained) await Promise.race([new Promise((resolve) => socket.once("drain", resolve)), ended, sleep(3000)]);
  }
  await Promise.race([ended, sleep(3000)]);
  socket.destroy();
  return { sent: closed ? sent : DECLARED, answer };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.each(["node", "bun", "deno"] as Runtime[])("the HTTP API on %s", (runtime) => {
  it("answers 401 to a body sent without the token and closes without reading it", async () => {
    const f = await startChild(runtime, "standalone", { apiSecret: "s".repeat(32) });
    fixtures.push(f);
    const port = Number(new URL(f.httpUrl).port);
    const head = `POST /api/rooms/r/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${DECLARED}\r\n\r\n`;
    const { sent, answer } = await sendUntilClosed(port, head);
    expect(answer).toMatch(/^HTTP\/1.1 401 /);
    // What loopback's socket buffers take before anyone reads is a few MB; Node alone read 20 MB.
    expect(sent).toBeLessThan(10 * 1024 * 1024);
  }, 60_000);
});
