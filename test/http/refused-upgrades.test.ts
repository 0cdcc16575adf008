/**
 * Refused WebSocket upgrades are counted by reason in `/metrics` (origin, auth, full, rate) and summed
 * up in the log: the first at once, then at most one line a minute, none when nothing was refused.
 */
import type { IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createServer } from "../../adapters/node/index.ts";
import type { ServerOptions } from "../../adapters/shared/handle.ts";
import { TestClient } from "../helpers/client.ts";

const cleanups: (() => Promise<unknown> | void)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
  vi.restoreAllMocks();
});

async function start(options: ServerOptions) {
  const server = createServer({ port: 0, hostname: "127.0.0.1", ...options });
  await new Promise<void>((resolve) => server.once("listening", () => resolve()));
  cleanups.push(() => new Promise((r) => server.close(() => r(undefined))));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { base, ws: `${base.replace("http", "ws")}/live` };
}

async function refused(ws: string, headers: Record<string, string>): Promise<number> {
  const c = new TestClient(ws, { headers });
  cleanups.push(() => c.terminate());
  return c.opened.then(
    () => 101,
    (error: { status?: number }) => error.status ?? 0,
  );
}

async function refusals(base: string): Promise<Record<string, number>> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^openlivesync_upgrades_refused_total\{reason="([^"]+)"\} (\d+)$/gm)) out[m[1]!] = Number(m[2]);
  return out;
}

describe("refused upgrades", () => {
  it("are counted by reason, and logged in one line at first and then at most once a minute", async () => {
    const lines: string[] = [];
    vi.spyOn(console, "error").mockImplementation((...args: unknown[]) => void lines.push(args.map(String).join(" ")));
    const { base, ws } = await start({
      allowedOrigins: ["http://good.example"],
      maxConnections: 2,
      maxConnectionsPerIp: 0,
      onAuth: (req: IncomingMessage) => (req.headers["x-user"] === "nobody" ? null : { userId: "someone" }),
    });
    expect(await refusals(base)).toEqual({ origin: 0, auth: 0, full: 0, rate: 0 });
    expect(lines).toEqual([]);
    for (let i = 0; i < 5; i++) expect(await refused(ws, { origin: "http://evil.example" })).toBe(403);
    for (let i = 0; i < 3; i++) expect(await refused(ws, { "x-user": "nobody" })).toBe(401);
    expect(await refused(ws, {})).toBe(101);
    expect(await refused(ws, {})).toBe(101);
    expect(await refused(ws, {})).toBe(503);
    expect(await refusals(base)).toEqual({ origin: 5, auth: 3, full: 1, rate: 0 });
    // The first refusal is said at once; the other eight wait for the minute's summary.
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^\[openlivesync\] .*WebSocket upgrade refused: origin 1 \(HTTP 403/);
    expect(lines[0]).not.toMatch(/evil|nobody/);
  });

  it("counts the per-address limit as rate", async () => {
    const { base, ws } = await start({ maxConnectionsPerIp: 1, onError: () => {} });
    expect(await refused(ws, {})).toBe(101);
    expect(await refused(ws, {})).toBe(429);
    expect((await refusals(base)).rate).toBe(1);
  });
});
