/**
 * Plain HTTP through the Deno front (`serveWithFront`, a user's Hono app): responses last as long as
 * they need, connections stay alive between requests, and every request head still has `upgradeTimeoutMs`.
 */
import { describe, expect, it } from "vitest";
import { connect, type RawConnection, sleep, start, until } from "./raw-client.ts";

/** The whole responses received so far (heads and bodies), as text. */
const received = (c: RawConnection) => c.received().toString("latin1");
const responses = (c: RawConnection) => received(c).match(/HTTP\/1\.1 \d{3}/g)?.length ?? 0;
const get = (path: string) => `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`;

describe("serveWithFront: the user's HTTP routes", () => {
  it("streams a response for longer than upgradeTimeoutMs", async () => {
    const port = await start({ upgradeTimeoutMs: 300, denoFront: true }, "hono");
    const c = await connect(port);
    c.socket.write(get("/api/events?n=6&ms=150"));
    await until(() => received(c).includes("data: 5"), 5000);
    expect(c.isClosed()).toBe(false);
    c.socket.destroy();
  }, 30_000);

  it("keeps a connection alive for the next requests, bodies of every framing included", async () => {
    const port = await start({ upgradeTimeoutMs: 300, denoFront: true }, "hono");
    const c = await connect(port);
    c.socket.write(get("/api/hello"));
    await until(() => received(c).includes('"hello":"world"'));
    c.socket.write("POST /api/echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\n\r\nhello");
    await until(() => received(c).includes('{"bytes":5}'));
    // Chunked, with the next request right behind it in the same write.
    c.socket.write(
      `POST /api/echo HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n4;x=y\r\ndefg\r\n0\r\n\r\n${get("/")}`,
    );
    await until(() => received(c).includes('{"bytes":7}') && received(c).endsWith("openlivesync"));
    expect(responses(c)).toBe(4);
    // Each request head still has upgradeTimeoutMs, counted from the previous response.
    await sleep(150);
    c.socket.write(get("/api/hello"));
    await until(() => responses(c) === 5);
    expect(c.isClosed()).toBe(false);
    c.socket.write("GET /api/hello HTTP/1.1\r\nHost:");
    await Promise.race([c.ended, sleep(3000)]);
    expect(c.isClosed()).toBe(true);
  }, 30_000);

  it("closes a kept-alive connection that sends no second request within upgradeTimeoutMs", async () => {
    const port = await start({ upgradeTimeoutMs: 300, denoFront: true }, "hono");
    const c = await connect(port);
    c.socket.write(get("/api/hello"));
    await until(() => responses(c) === 1);
    await Promise.race([c.ended, sleep(3000)]);
    expect(c.isClosed()).toBe(true);
  }, 30_000);

  it("answers 400 to a request whose body it cannot delimit as Deno would, and closes", async () => {
    const port = await start({ denoFront: true }, "hono");
    const c = await connect(port);
    c.socket.write("POST /api/echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
    await c.ended;
    expect(received(c)).toMatch(/^HTTP\/1.1 400 /);
  }, 30_000);
});
