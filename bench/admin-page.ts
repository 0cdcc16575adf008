/**
 * The admin page with 10,000 rooms, in Chromium: time from navigation to the first page of rooms on
 * screen (signed in already), and from typing a search to its results. The rooms come from a stub
 * `ServerApi` behind the real routes (no sockets needed to have 10,000 rooms).
 *
 *   node --import ./test/fixtures/ts-register.mjs bench/admin-page.ts [rooms=10000]
 */
import { mkdtempSync, rmSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { serve } from "@hono/node-server";
import { Hono } from "hono";
import { addApiRoutes } from "../src/api/routes.ts";
import type { ServerApi } from "../src/engine/server-api.ts";
import { resolveOptions } from "../src/options.ts";
import { launchChromium } from "../test/helpers/chromium.ts";

const n = Number(process.argv[2] ?? 10_000);
const SECRET = "bench-secret-bench-secret";
const rooms = Array.from({ length: n }, (_, i) => ({ roomId: `room-${i.toString().padStart(5, "0")}`, members: (i * 7919) % 50 }));
const api = {
  rooms: async () => rooms,
  presence: async () => ({}),
  chatHistory: async () => ({ messages: [], hasMore: false }),
} as unknown as ServerApi;
const app = new Hono();
addApiRoutes(app, { api, options: resolveOptions({}) }, { secret: SECRET });
const server = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" });
await new Promise((resolve) => server.once("listening", resolve));
const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/admin`;

const dir = mkdtempSync(join(tmpdir(), "ols-admin-bench-"));
const context = await launchChromium(dir, { width: 1280, height: 900 });
const page = await context.newPage();
await page.goto(url);
await page.fill("#secret", SECRET);
await page.click("#signin button");
await page.waitForSelector("tr[data-room]");

const firstPaint: number[] = [];
const search: number[] = [];
for (let run = 0; run < 5; run++) {
  const t0 = Date.now();
  await page.reload(); // the secret stays in sessionStorage: the page lists rooms at once
  await page.waitForSelector("tr[data-room]");
  firstPaint.push(Date.now() - t0);
  const term = `room-0${run}12`;
  const t1 = Date.now();
  await page.fill("#search", term);
  await page.waitForFunction((t) => {
    const rows = [...document.querySelectorAll("tr[data-room]")];
    return rows.length > 0 && rows.every((r) => r.getAttribute("data-room")!.includes(t));
  }, term);
  search.push(Date.now() - t1); // includes the page's 120 ms typing debounce
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(
  JSON.stringify({
    rooms: n,
    firstPaintMs: { median: median(firstPaint), all: firstPaint },
    searchMs: { median: median(search), all: search },
  }),
);
await context.close();
server.close();
rmSync(dir, { recursive: true, force: true });
