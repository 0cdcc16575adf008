/** `/metrics` label values come from fixed sets: what clients or the backend choose cannot add series. */
import type { IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { createServer, type NodeLiveServer } from "../../adapters/node/index.ts";
import type { ServerOptions } from "../../adapters/shared/handle.ts";
import { CloseCodes, ErrorCodes } from "../../src/protocol/codes.ts";
import { TestClient } from "../helpers/client.ts";

const cleanups: (() => Promise<unknown> | void)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

async function start(options: ServerOptions = {}): Promise<{ server: NodeLiveServer; base: string; ws: string }> {
  const server = createServer({ port: 0, hostname: "127.0.0.1", ...options });
  await new Promise<void>((resolve) => (server.listening ? resolve() : server.once("listening", () => resolve())));
  cleanups.push(() => new Promise((r) => server.close(() => r(undefined))));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { server, base, ws: `${base.replace("http", "ws")}/live` };
}

/** The label values of `metric` on the page. */
async function labels(base: string, metric: string, label: string): Promise<Map<string, number>> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const out = new Map<string, number>();
  const pattern = new RegExp(`^openlivesync_${metric}\\{${label}="([^"]*)"\\} (\\S+)$`);
  for (const line of text.split("\n")) {
    const m = pattern.exec(line);
    if (m) out.set(m[1]!, Number(m[2]));
  }
  return out;
}

describe("/metrics labels", () => {
  it("folds close codes outside the documented set into other: 30 disconnects with 30 codes add one series", async () => {
    const { server, base, ws } = await start({ onAuth: (req: IncomingMessage) => ({ userId: String(req.headers["x-user"]) }) });
    const clients = Array.from({ length: 30 }, (_, i) => new TestClient(ws, { headers: { "x-user": `u${i}` } }));
    for (const c of clients) await c.opened;
    for (const [i, c] of clients.entries()) {
      await server.ws.disconnect({ userId: `u${i}` }, { code: 3000 + i * 50 });
      expect((await c.closed).code).toBe(3000 + i * 50);
    }
    const kicked = new TestClient(ws, { headers: { "x-user": "kicked" } });
    await kicked.opened;
    await server.ws.disconnect({ userId: "kicked" });
    await kicked.closed;
    const closes = await labels(base, "server_closes_total", "code");
    expect(Object.fromEntries(closes)).toEqual({ other: 30, [String(CloseCodes.KICKED)]: 1 });
    const documented = new Set([...Object.values(CloseCodes).map(String), "other"]);
    for (const code of closes.keys()) expect(documented.has(code)).toBe(true);
  });

  it("counts error frames by the documented codes only", async () => {
    const { base, ws } = await start();
    const c = new TestClient(ws);
    cleanups.push(() => c.terminate());
    await c.opened;
    c.sendRaw("not json");
    c.send("update_presence", { presence: {} });
    await c.next("error");
    await c.next("error");
    const errors = await labels(base, "errors_total", "code");
    expect(Object.fromEntries(errors)).toEqual({ INVALID_JSON: 1, NOT_IN_ROOM: 1 });
    const documented = new Set([...Object.values(ErrorCodes), "other"]);
    for (const code of errors.keys()) expect(documented.has(code as never)).toBe(true);
  });
});
