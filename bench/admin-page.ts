/**
 * The admin page with 10,000 rooms, in Chromium: time from navigation to the first page of rooms on
 * screen (signed in already), to the metric charts drawn from a full hour of samples (720) and the
 * documents panel filled (10,000 documents), and from typing a search to its results. Rooms and
 * documents come from stubs behind the real routes (no sockets needed to have 10,000 of each).
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
import type { LiveApi } from "../src/engine/server-api.ts";
import { MetricHistory } from "../src/engine/metric-history.ts";
import type { DocumentApi } from "../src/documents/document-api.ts";
import { resolveOptions } from "../src/options.ts";
import { launchChromium } from "../test/helpers/chromium.ts";

const n = Number(process.argv[2] ?? 10_000);
const SECRET = "bench-secret-bench-secret";
const rooms = Array.from({ length: n }, (_, i) => ({ roomId: `room-${i.toString().padStart(5, "0")}`, members: (i * 7919) % 50 }));
const api = {
  rooms: async () => rooms,
  presence: async () => ({}),
  chatHistory: async () => ({ messages: [], hasMore: false }),
} as unknown as LiveApi;
// A full hour of samples with some traffic in them.
let t = 0;
const history = new MetricHistory(() => ({
  connections: 1000 + (t % 97),
  rooms: n,
  received: t * 5000,
  sent: t * 50_000,
  errors: t,
  storageCalls: t * 10,
  storageSeconds: t * 0.02,
}));
history.start();
history.stop();
const start = Date.now() - 3600_000;
for (t = 1; t <= history.capacity; t++) history.sample(start + t * history.intervalMs);
const names = Array.from({ length: n }, (_, i) => ({
  name: `doc-${i}`,
  bytes: i * 31,
  loaded: i % 10 === 0,
  clients: i % 10 === 0 ? i % 7 : 0,
}));
const documents = { api: { list: async () => names } as unknown as DocumentApi, maxMessageBytes: 1 << 20 };
const app = new Hono();
addApiRoutes(app, { api, options: resolveOptions({}), history, documents }, { secret: SECRET });
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
const panels: number[] = [];
const search: number[] = [];
for (let run = 0; run < 5; run++) {
  const t0 = Date.now();
  await page.reload(); // the secret stays in sessionStorage: the page lists rooms at once
  await page.waitForSelector("tr[data-room]");
  firstPaint.push(Date.now() - t0);
  await page.waitForSelector(`#charts[data-samples="${history.capacity}"]`);
  await page.waitForSelector("tr[data-doc]");
  panels.push(Date.now() - t0);
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
    chartsAndDocumentsMs: { median: median(panels), all: panels },
    searchMs: { median: median(search), all: search },
  }),
);
await context.close();
server.close();
rmSync(dir, { recursive: true, force: true });
