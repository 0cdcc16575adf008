/**
 * The Deno front holds a client's frames from the upgrade until the engine's `open` (client-reader.ts).
 * An open that comes late (a slow `onAuth`, a busy event loop) is not a fault: nothing is reported, and
 * the client's messages still reach the engine in order. A refused upgrade on a kept-alive connection
 * leaves no wait behind either.
 */
import { afterAll, describe, expect, it } from "vitest";
import { startChild } from "../fixtures/child.ts";
import type { FixtureOptions } from "../fixtures/options.ts";
import type { Fixture } from "../suites/wire-protocol.suite.ts";
import { connect, sleep, text, until, upgrade } from "./raw-client.ts";

const fixtures: Fixture[] = [];
afterAll(async () => {
  for (const f of fixtures.splice(0)) await f.stop();
});
async function start(options: FixtureOptions): Promise<{ port: number; reports: () => string[] }> {
  const f = await startChild("deno", "standalone", options);
  fixtures.push(f);
  const reports = () => (f.output?.() ?? "").split("\n").filter((line) => line.startsWith("[fixture onError]"));
  return { port: Number(new URL(f.httpUrl).port), reports };
}

describe("Deno createServer: the front waits for a late open", () => {
  it("reports nothing when the engine's open comes more than a second after the upgrade began", async () => {
    const { port, reports } = await start({ authDelayMs: 1500, rateLimit: false });
    const c = await upgrade(port);
    // Sent at once after the 101: held by the front until the engine attached, then handed on in order.
    for (let i = 0; i < 3; i++) c.socket.write(text({ type: "join_room", payload: { roomId: `late-${i}` } }));
    await until(() => c.messages().filter((m) => m.type === "room_joined").length === 3);
    expect(c.messages().flatMap((m) => (m.type === "room_joined" ? [m.payload.roomId] : []))).toEqual(["late-0", "late-1", "late-2"]);
    await sleep(500);
    expect(reports()).toEqual([]);
    c.socket.destroy();
  }, 30_000);

  it("reports nothing after a refused upgrade on a kept-alive connection, and upgrades it later", async () => {
    const { port, reports } = await start({ onAuth: "x-user" });
    const c = await connect(port);
    const request = (user?: string) =>
      `GET /live HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n${user ? `x-user: ${user}\r\n` : ""}` +
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    c.socket.write(request());
    await until(() => c.received().toString("latin1").includes("\r\n\r\nUnauthorized"));
    expect(c.received().toString("latin1")).toMatch(/^HTTP\/1.1 401/);
    await sleep(1500);
    expect(reports().filter((line) => line.includes("socket:"))).toEqual([]);
    c.socket.write(request("alice"));
    await until(() => c.received().toString("latin1").includes("HTTP/1.1 101"));
    c.socket.write(text({ type: "join_room", payload: { roomId: "after-401" } }));
    await until(() => c.received().toString("latin1").includes("room_joined"));
    expect(reports().filter((line) => line.includes("socket:"))).toEqual([]);
    c.socket.destroy();
  }, 30_000);
});
