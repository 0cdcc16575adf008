#!/usr/bin/env node
// Soak: churn, floods and reconnects against one server (the CLI, under Node, Bun or Deno) for a while;
// passes when the server's RSS at the end is within 10 % of its RSS after the warm-up.
//
//   node bench/soak.mjs [--runtime node|bun|deno] [--minutes 10] [--warmup 30] [--clients 200] [--dist DIR]
//
// Memory is sampled after the warm-up, every minute and at the end: RSS from /proc/<pid>/status, then
// the JS heap after a forced full GC (bench/servers/cli-with-memory.mjs). One progress line a minute
// goes to stderr. Linux only. Run `npx tsdown` first (or pass --dist, a built dist/ elsewhere, so a
// rebuild during a long run cannot change the server under test). Prints one JSON line.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import net from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import WebSocket from "ws";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const args = Object.fromEntries(process.argv.slice(2).flatMap((arg, i, all) => (arg.startsWith("--") ? [[arg.slice(2), all[i + 1]]] : [])));
const runtime = args.runtime ?? "node";
const minutes = Number(args.minutes ?? 10);
const warmupS = Number(args.warmup ?? 30);
const clients = Number(args.clients ?? 200);

const BIN = (name) => join(ROOT, "node_modules", ".bin", name);
const CLI = join(ROOT, "bench", "servers", "cli-with-memory.mjs");
const cmd = {
  node: [process.execPath, "--expose-gc", CLI],
  bun: [BIN("bun"), CLI],
  deno: [BIN("deno"), "run", "-A", "--v8-flags=--expose-gc", CLI],
}[runtime];
const env = { ...process.env, ...(args.dist ? { OLS_DIST: args.dist } : {}) };
const server = spawn(cmd[0], [...cmd.slice(1), "--port", "0", "--host", "127.0.0.1"], { stdio: ["pipe", "pipe", "inherit"], env });
const rssMB = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${server.pid}/status`, "utf8"))[1]) / 1024;
const MB = (bytes) => +(bytes / 1048576).toFixed(1);
let memWaiter;
/** RSS as it is (MB), then the heap after a forced full GC (MB). */
async function memory() {
  const rss = rssMB();
  const reply = new Promise((resolve) => (memWaiter = resolve));
  server.stdin.write("mem\n");
  const { heapUsed } = await reply;
  return { rssMB: +rss.toFixed(1), heapMB: MB(heapUsed) };
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let out = "";
const port = await new Promise((resolve) =>
  server.stdout.on("data", (d) => {
    out += d;
    const mem = /MEM (\{.*\})\n/.exec(out);
    if (mem) {
      out = out.slice(mem.index + mem[0].length);
      memWaiter?.(JSON.parse(mem[1]));
    }
    const m = /:(\d+) \(chat/.exec(out);
    if (m) {
      out = out.slice(m.index + m[0].length);
      resolve(Number(m[1]));
    }
  }),
);
const url = `ws://127.0.0.1:${port}/live`;
const counts = { connects: 0, closes: {}, floods: 0, pingFloods: 0, oversized: 0 };

/** One well-behaved member: joins a room, moves, chats, leaves after a while, comes back. */
async function member(i, until) {
  while (Date.now() < until) {
    await new Promise((done) => {
      const ws = new WebSocket(url, { perMessageDeflate: false });
      counts.connects++;
      const room = `soak-${i % 20}`;
      let timer;
      ws.on("open", () => {
        ws.send(JSON.stringify({ type: "join_room", payload: { roomId: room, presence: { i } } }));
        let n = 0;
        timer = setInterval(() => {
          if (ws.readyState !== 1) return;
          if (++n % 10 === 0) ws.send(JSON.stringify({ type: "send_chat", payload: { message: `m${n}` } }));
          else ws.send(JSON.stringify({ type: "update_presence", payload: { presence: { i, x: n } } }));
          if (n > 20 + (i % 30)) ws.close();
        }, 100);
      });
      ws.on("close", (code) => {
        counts.closes[code] = (counts.closes[code] ?? 0) + 1;
        clearInterval(timer);
        done();
      });
      ws.on("error", () => {});
    });
  }
}

/** Attackers, one of each every few seconds: a message flood, a ping flood that never reads, an oversized frame. */
async function attacker(until) {
  while (Date.now() < until) {
    const flood = new WebSocket(url, { perMessageDeflate: false });
    flood.on("error", () => {});
    flood.on("open", () => {
      counts.floods++;
      for (let k = 0; k < 3000; k++) flood.send('{"type":"broadcast_event","payload":{"event":"x","payload":1}}');
      setTimeout(() => flood.terminate(), 2000);
    });
    const big = new WebSocket(url, { perMessageDeflate: false });
    big.on("error", () => {});
    big.on("open", () => {
      counts.oversized++;
      big.send("x".repeat(200_000));
    });
    await pingFlood(20_000);
    await sleep(3000);
  }
}

async function pingFlood(pings) {
  const s = net.connect(port, "127.0.0.1");
  s.on("error", () => {});
  await new Promise((r) => s.once("connect", r));
  s.write(
    `GET /live HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${randomBytes(16).toString("base64")}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  );
  await new Promise((r) => s.once("data", r));
  s.pause();
  counts.pingFloods++;
  const frame = Buffer.alloc(131);
  frame[0] = 0x89;
  frame[1] = 0x80 | 125;
  const batch = Buffer.concat(Array.from({ length: 1000 }, () => frame));
  for (let k = 0; k < pings / 1000 && !s.destroyed; k++) {
    if (!s.write(batch)) await Promise.race([new Promise((r) => s.once("drain", r)), sleep(1000)]);
  }
  setTimeout(() => s.destroy(), 1000);
}

async function phase(ms) {
  const until = Date.now() + ms;
  await Promise.all([...Array.from({ length: clients }, (_, i) => member(i, until)), attacker(until)]);
}

await phase(warmupS * 1000);
await sleep(5000);
const t0 = Date.now();
const perMinute = [{ minute: 0, ...(await memory()) }];
const log = (s) =>
  process.stderr.write(`[soak ${runtime}] min ${s.minute}: RSS ${s.rssMB} MB, heap ${s.heapMB} MB, ${counts.connects} connects\n`);
log(perMinute[0]);
const samples = [];
const sampler = setInterval(() => samples.push(rssMB()), 5000);
const minuteTimer = setInterval(async () => {
  const s = { minute: Math.round((Date.now() - t0) / 60_000), ...(await memory()) };
  perMinute.push(s);
  log(s);
}, 60_000);
await phase(minutes * 60_000);
clearInterval(sampler);
clearInterval(minuteTimer);
await sleep(5000);
const end = { minute: "end", ...(await memory()) };
perMinute.push(end);
log(end);
server.kill("SIGTERM");
const start = perMinute[0];
const pct = (a, b) => `${(((b - a) / a) * 100).toFixed(1)} %`;
const change = (end.rssMB - start.rssMB) / start.rssMB;
// Growth once warm: from the first minute's sample to the end (the first minute still fills caches).
const warm = perMinute[1] ?? start;
console.log(
  JSON.stringify({
    runtime,
    minutes,
    clients,
    rssStartMB: start.rssMB,
    rssEndMB: end.rssMB,
    rssPeakMB: +Math.max(...samples, end.rssMB).toFixed(1),
    change: pct(start.rssMB, end.rssMB),
    heapChange: pct(start.heapMB, end.heapMB),
    rssGrowthAfterMinute1: pct(warm.rssMB, end.rssMB),
    heapGrowthAfterMinute1: pct(warm.heapMB, end.heapMB),
    pass: Math.abs(change) <= 0.1,
    perMinute,
    ...counts,
  }),
);
process.exit(0);
