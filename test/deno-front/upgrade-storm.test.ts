/**
 * Many upgrades at once through the Deno front (issue 27): upgrades queued inside `Deno.serve` ran back
 * to back and starved the front's reads, so its head timeout cut clients whose heads it had not read. The
 * front now hands `Deno.serve` at most `upgradeSlots` upgrades its handler has not started, and keeps the
 * rest in its own queue (adapters/deno/front/upgrade-gate.ts).
 */
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { UpgradeGate } from "../../adapters/deno/front/upgrade-gate.ts";
import { startChild } from "../fixtures/child.ts";
import { connect, until } from "./raw-client.ts";

const upgradeRequest = (port: number) =>
  `GET /live HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
  `Sec-WebSocket-Key: ${randomBytes(16).toString("base64")}\r\nSec-WebSocket-Version: 13\r\n\r\n`;

/** Sends an upgrade request and resolves with the response's status line, or "closed" when none came. */
async function statusOf(port: number): Promise<string> {
  const c = await connect(port);
  c.socket.write(upgradeRequest(port));
  await until(() => c.received().includes("\r\n\r\n") || c.isClosed(), 120_000);
  const head = c.received().toString("latin1");
  c.socket.destroy();
  return head.includes("\r\n\r\n") ? head.slice(0, head.indexOf("\r\n")) : "closed";
}

describe("UpgradeGate: the front's upgrade slots", () => {
  it("hands on `slots` at once, queues the rest in order, refuses past the queue", async () => {
    const gate = new UpgradeGate(2, 2);
    const [a, b, c, d] = [gate.take()!, gate.take()!, gate.take()!, gate.take()!];
    expect(gate.take()).toBeUndefined();
    expect([gate.handed, gate.queued]).toEqual([2, 2]);
    expect([await a.ready, await b.ready]).toEqual([true, true]);
    const order: string[] = [];
    void c.ready.then((ok) => order.push(`c ${ok}`));
    void d.ready.then((ok) => order.push(`d ${ok}`));
    a.release();
    a.release(); // a second release gives nothing back
    await Promise.resolve();
    expect(order).toEqual(["c true"]);
    expect([gate.handed, gate.queued]).toEqual([2, 1]);
    d.release(); // left the queue (its connection ended)
    await Promise.resolve();
    expect(order).toEqual(["c true", "d false"]);
    b.release();
    c.release();
    d.release();
    expect([gate.handed, gate.queued]).toEqual([0, 0]);
  });

  it("with 0 slots hands every upgrade on", async () => {
    const gate = new UpgradeGate(0, 0);
    const tickets = Array.from({ length: 100 }, () => gate.take()!);
    expect(await Promise.all(tickets.map((t) => t.ready))).toEqual(tickets.map(() => true));
    for (const t of tickets) t.release();
    expect(gate.handed).toBe(0);
  });
});

describe("Deno createServer: a storm of upgrades", () => {
  it("opens 300 upgrades sent at once while each onAuth holds the event loop 10 ms (head timeout 1 s)", async () => {
    // 300 × 10 ms of onAuth is 3 s, three head timeouts: before the slots, 40 to 172 of them were closed.
    // 8 slots: the upgrades `Deno.serve` runs in one go (8 × 10 ms) stay well inside the 1 s head timeout.
    const options = { authBusyMs: 10, upgradeTimeoutMs: 1000, upgradeSlots: 8, rateLimit: false, heartbeatIntervalMs: 0 } as const;
    const f = await startChild("deno", "standalone", options);
    try {
      const port = Number(new URL(f.httpUrl).port);
      const statuses = await Promise.all(Array.from({ length: 300 }, () => statusOf(port)));
      const counts: Record<string, number> = {};
      for (const s of statuses) counts[s] = (counts[s] ?? 0) + 1;
      expect(counts).toEqual({ "HTTP/1.1 101 Switching Protocols": 300 });
    } finally {
      await f.stop();
    }
  }, 120_000);

  it("a slow asynchronous onAuth holds no slot: with one slot and no queue, a second upgrade opens meanwhile", async () => {
    // The first upgrade's onAuth waits 3 s; had its slot been held until its response, the second would get 503.
    const f = await startChild("deno", "standalone", {
      authDelayMs: 3000,
      authLog: true,
      upgradeSlots: 1,
      upgradeQueue: 0,
      rateLimit: false,
    });
    try {
      const port = Number(new URL(f.httpUrl).port);
      const started = () => (f.output?.() ?? "").split("[fixture onAuth]").length - 1;
      const first = statusOf(port);
      await until(() => started() === 1, 30_000);
      const second = statusOf(port);
      expect(await Promise.all([first, second])).toEqual(["HTTP/1.1 101 Switching Protocols", "HTTP/1.1 101 Switching Protocols"]);
    } finally {
      await f.stop();
    }
  }, 60_000);
});
