#!/usr/bin/env node
// What one idle joined connection holds on Bun, by JavaScriptCore heap class (issue 27):
//   node bench/bun-census.mjs N          (OLS_DIST=<dist> another build; RELAY=1 the bare Bun.serve relay)
// N clients (one bench/connections-client.mjs process, rooms of 100) connect and join; prints RSS, heap
// size and capacity per connection after a full GC, and the heap snapshot's bytes per connection by class.
// WARM=W first connects W clients (rooms of their own) and measures from there: what the N cost without
// the one-off costs of the first connections (code compiled, buffers and pools grown), which a count from
// the idle server puts on each connection.
import { fork, spawn } from "node:child_process";
import { join } from "node:path";
import { ROOT } from "./children.mjs";
const N = Number(process.argv[2] ?? 2000);
const cmd = process.argv[3] ?? "bun";
const srv = spawn(
  cmd === "bun" ? join(ROOT, "node_modules/.bin/bun") : cmd,
  [process.argv[4] ?? join(ROOT, "bench/servers/census-bun.mjs")],
  { stdio: ["pipe", "pipe", "inherit"], env: process.env },
);
const lines = [];
let waiter;
srv.stdout.setEncoding("utf8").on("data", (d) => {
  for (const l of d.split("\n").filter(Boolean)) waiter ? (waiter(l), (waiter = undefined)) : lines.push(l);
});
const next = () => new Promise((r) => (lines.length ? r(lines.shift()) : (waiter = r)));
const port = Number((await next()).split(" ")[1]);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const heap = async () => {
  srv.stdin.write("h\n");
  return JSON.parse(await next());
};
const WARM = Number(process.env.WARM ?? 0);
const clients = [];
const connect = (from, to) => {
  const c = fork(join(ROOT, "bench/connections-client.mjs"), { stdio: ["ignore", "inherit", "inherit", "ipc"] });
  clients.push(c);
  c.send({ cmd: "config", config: { host: "127.0.0.1", port, from, to, perRoom: 100, concurrency: 100 } });
  return new Promise((res) => {
    c.on("message", (m) => m.type === "connected" && res(m));
    c.send({ cmd: "connect" });
  });
};
if (WARM > 0) {
  const w = await connect(0, WARM);
  if (w.failures) console.log(`warm-up: ${w.failures} of ${WARM} failed`);
  await sleep(1500);
}
await sleep(500);
const a = await heap();
srv.stdin.write("snap\n");
const sa = JSON.parse(await next());
const r = await connect(WARM, WARM + N);
await sleep(1500);
const b = await heap();
console.log(
  `held ${N - r.failures}; rss/conn ${((b.rss - a.rss) / (N - r.failures)).toFixed(2)} KB; heap/conn ${((b.heapSize - a.heapSize) / (N - r.failures)).toFixed(0)} B; extra/conn ${((b.extra - a.extra) / (N - r.failures)).toFixed(0)}; cap/conn ${((b.cap - a.cap) / (N - r.failures)).toFixed(0)}; rss0 ${a.rss} rss1 ${b.rss}`,
);
srv.stdin.write("snap\n");
const sb = JSON.parse(await next());
const srows = Object.keys(sb)
  .map((k) => [k, (sb[k][0] - (sa[k]?.[0] ?? 0)) / N, (sb[k][1] - (sa[k]?.[1] ?? 0)) / N])
  .filter(([, , b]) => Math.abs(b) >= 2)
  .sort((x, y) => y[2] - x[2]);
for (const [k, c, b] of srows) console.log(`snap ${c.toFixed(2).padStart(6)} ${b.toFixed(0).padStart(6)} B ${k}`);
const rows = Object.keys(b.counts)
  .map((k) => [k, ((b.counts[k] ?? 0) - (a.counts[k] ?? 0)) / (N - r.failures)])
  .filter(([, v]) => Math.abs(v) >= 0.05)
  .sort((x, y) => y[1] - x[1]);
for (const [k, v] of rows) console.log(`${v.toFixed(2).padStart(8)} ${k}`);
for (const c of clients) c.kill("SIGKILL");
srv.kill("SIGKILL");
process.exit(0);
