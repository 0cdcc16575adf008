// Shared documents (issue 24): our server against y-websocket 1.5.4's server and @hocuspocus/server 4, same
// run, same load clients (bench/docs-client.mjs, child processes), one server at a time.
//
//   npx tsdown && node bench/docs.mjs [--seconds 10] [--hz 10] [--small-hz 1] [--only ours,hocuspocus,hocuspocus-10ms,ywebsocket]
//     [--skip one-doc,many-docs,saturate,memory,sqlite] [--cpu-prof DIR]   (a .cpuprofile of each load scenario's server)
//     [--procs N]   (load client processes, editors shared out between them; latency sampled within each)
//     [--saturate-hz 10,20,40,80,160] [--base DIST --only base,ours,…]   (ours built from another commit)
//     [--server-cpu 0.25]   (each server capped at that share of a core, bench/cpu-cap.mjs: the server saturates, not the clients)
//
// Scenarios: `one-doc` (50 editors in one document, `hz` updates a second each) and `many-docs` (1,000
// documents with 2 editors each, `small-hz` a second each): delivered updates a second, p50/p99 latency,
// server CPU per delivered update (every thread's run time from /proc/<pid>/task/*/schedstat over the
// window; the kernel's share from stat's stime), RSS at the end, the load clients' CPU and the load average.
// `saturate`: one-doc at each of `saturate-hz` in turn, the most delivered/s of them reported.
// Then `memory`: RSS growth per loaded 1 MB document (8 documents, a GC every 0.5 s in every server), and
// `sqlite`: update bytes our server wrote to SQLite while 50 editors typed at `hz`, scaled to a minute.
import { fork, spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import * as Y from "yjs";
import { capCpu } from "./cpu-cap.mjs";

const { values: args } = parseArgs({
  options: {
    seconds: { type: "string", default: "10" },
    hz: { type: "string", default: "10" },
    "small-hz": { type: "string", default: "1" },
    only: { type: "string", default: "ours,hocuspocus,hocuspocus-10ms,ywebsocket" },
    procs: { type: "string", default: "1" },
    base: { type: "string" },
    "saturate-hz": { type: "string", default: "10,20,40,80,160" },
    skip: { type: "string", default: "" },
    "cpu-prof": { type: "string" },
    "server-cpu": { type: "string" },
  },
});
const SECONDS = Number(args.seconds);
const HZ = Number(args.hz);
const SMALL_HZ = Number(args["small-hz"]);
const skip = new Set(args.skip.split(",").filter(Boolean));
const PROCS = Math.max(1, Number(args.procs));
const SATURATE_HZ = args["saturate-hz"].split(",").map(Number);

const SERVERS = {
  ours: { kind: "yws", path: "/yjs", args: ["bench/servers/docs-ours.mjs"] },
  hocuspocus: { kind: "hp", path: "", args: ["bench/servers/docs-hocuspocus.mjs"] },
  // Hocuspocus merging across turns for up to 10 ms, as ours does on a busy document (its `flushDelay`).
  "hocuspocus-10ms": { kind: "hp", path: "", args: ["bench/servers/docs-hocuspocus.mjs"], env: { FLUSH_DELAY: "10" } },
  ywebsocket: { kind: "yws", path: "", args: ["node_modules/y-websocket-v1/bin/server.js"], ready: /running at/ },
  // Ours built from another commit (`--base <dist>`, e.g. a worktree's dist), to compare two builds in one run.
  base: { kind: "yws", path: "/yjs", args: ["bench/servers/docs-ours.mjs"], env: { OLS_DIST: args.base ?? "" } },
};
const chosen = args.only.split(",").filter((name) => SERVERS[name] && (name !== "base" || args.base));

const children = new Set();
process.on("exit", () => {
  for (const child of children) child.kill("SIGKILL");
});

const freePort = () => 20000 + Math.floor(Math.random() * 30000);

/** Starts a server; resolves with its pid and port once it says it listens. */
async function startServer(name, options = {}) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOn(name, options);
    } catch (error) {
      if (attempt === 3) throw error;
    }
  }
}

function startOn(name, { env = {}, nodeFlags = [] }) {
  const spec = SERVERS[name];
  // Ours and Hocuspocus take port 0 and say which they got; y-websocket's server needs one given.
  const port = spec.ready ? freePort() : 0;
  const child = spawn(process.execPath, [...nodeFlags, ...spec.args], {
    env: { ...process.env, HOST: "127.0.0.1", PORT: String(port), ...spec.env, ...env },
    stdio: ["ignore", "pipe", "inherit"],
  });
  children.add(child);
  return new Promise((resolve, reject) => {
    let out = "";
    child.stdout.on("data", (chunk) => {
      out += chunk;
      const ready = /READY (\d+)/.exec(out);
      if (ready || spec.ready?.test(out)) {
        child.stdout.removeAllListeners("data");
        child.stdout.resume();
        resolve({ child, pid: child.pid, port: ready ? Number(ready[1]) : port, ...spec });
      }
    });
    child.once("exit", (code) => reject(new Error(`${name} exited with ${code}: ${out}`)));
  });
}

async function stopServer(server) {
  server.child.removeAllListeners("exit");
  const exited = new Promise((r) => server.child.once("exit", r));
  server.child.kill("SIGTERM");
  // A profiled server writes its profile on exit, which takes longer after a saturating run.
  const timer = setTimeout(() => server.child.kill("SIGKILL"), args["cpu-prof"] ? 30_000 : 3000);
  await exited;
  clearTimeout(timer);
  server.uncap?.();
  children.delete(server.child);
}

/** [utime, stime] in clock ticks. */
function cpuSplit(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return [Number(f[11]), Number(f[12])];
}
/** CPU time of every thread of `pid` in ms, from the scheduler's nanosecond counters (finer than ticks). */
function cpuMsOf(pid) {
  let ns = 0;
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, "utf8").split(" ")[0]);
    } catch {} // a thread that just ended
  }
  return ns / 1e6;
}
const rssMB = (pid) => Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1]) / 1024;

function startClient() {
  const child = fork(new URL("./docs-client.mjs", import.meta.url), { stdio: ["ignore", "inherit", "inherit", "ipc"] });
  children.add(child);
  const ask = (msg, type) =>
    new Promise((resolve) => {
      const on = (m) => {
        if (m.type !== type) return;
        child.off("message", on);
        resolve(m);
      };
      child.on("message", on);
      child.send(msg);
    });
  return { child, ask, stop: () => (child.kill(), children.delete(child)) };
}

/**
 * `docs` shared out over `procs` load clients: whole documents round-robin when there are at least as
 * many documents as clients, else each document's editors split between them.
 */
function shares(docs, procs) {
  const out = Array.from({ length: procs }, () => []);
  if (docs.length >= procs) {
    for (const [i, doc] of docs.entries()) out[i % procs].push(doc);
  } else {
    for (const { name, editors } of docs)
      for (let p = 0; p < procs; p++) {
        const count = Math.floor((editors + p) / procs);
        if (count > 0) out[p].push({ name, editors: count });
      }
  }
  return out.filter((share) => share.length > 0);
}

/** The clients' results as one: sums, and p50/p99 from their merged latency histograms (2 % buckets). */
function mergeResults(results) {
  const hist = new Map();
  let timed = 0;
  for (const r of results) {
    for (const [bucket, n] of r.hist) hist.set(bucket, (hist.get(bucket) ?? 0) + n);
    timed += r.timed;
  }
  const buckets = [...hist].sort((a, b) => a[0] - b[0]);
  const quantile = (q) => {
    let seen = 0;
    for (const [bucket, n] of buckets) {
      seen += n;
      if (seen > q * timed) return 1.02 ** (bucket + 0.5) / 1000; // ms, the bucket's middle
    }
    return 0;
  };
  const sum = (key) => results.reduce((n, r) => n + r[key], 0);
  const seconds = Math.max(...results.map((r) => r.seconds));
  return { sent: sum("sent"), delivered: sum("delivered"), seconds, p50: quantile(0.5), p99: quantile(0.99), timed };
}

/** One load scenario against one server: fresh server, fresh clients (`PROCS` of them). */
async function load(name, docs, hz, env) {
  const nodeFlags = args["cpu-prof"] ? ["--cpu-prof", `--cpu-prof-dir=${args["cpu-prof"]}`] : [];
  const server = await startServer(name, { env, nodeFlags });
  if (args["server-cpu"]) server.uncap = capCpu(server.pid, Number(args["server-cpu"]));
  const parts = shares(docs, PROCS);
  const clients = parts.map(() => startClient());
  const { kind, port, path } = server;
  await Promise.all(clients.map((client, i) => client.ask({ type: "open", kind, port, path, docs: parts[i] }, "opened")));
  const warmupMs = 3000;
  const measureMs = SECONDS * 1000;
  const running = Promise.all(
    clients.map((client, i) => client.ask({ type: "run", hz, warmupMs, measureMs, phase: i / clients.length }, "result")),
  ).then(mergeResults);
  await new Promise((r) => setTimeout(r, warmupMs));
  const split0 = cpuSplit(server.pid);
  const cpu0 = cpuMsOf(server.pid);
  const clientCpu0 = clients.reduce((n, c) => n + cpuMsOf(c.child.pid), 0);
  const result = await running;
  const cpuMs = cpuMsOf(server.pid) - cpu0;
  const clientCpuMs = clients.reduce((n, c) => n + cpuMsOf(c.child.pid), 0) - clientCpu0;
  const split = cpuSplit(server.pid);
  const sysShare = (split[1] - split0[1]) / Math.max(1, split[0] + split[1] - split0[0] - split0[1]);
  const rss = rssMB(server.pid);
  for (const client of clients) client.stop();
  await stopServer(server);
  return {
    server: name,
    sentPerS: result.sent / result.seconds,
    deliveredPerS: result.delivered / result.seconds,
    p50: result.p50,
    p99: result.p99,
    cpuPct: (cpuMs / (result.seconds * 1000)) * 100,
    /** Share of the server's CPU spent in the kernel (stime): mostly socket writes. */
    sysShare,
    usPerDelivered: (cpuMs * 1000) / Math.max(1, result.delivered),
    // Per update received: what a server must do whatever its clients manage to read back in the window.
    usPerSent: (cpuMs * 1000) / Math.max(1, result.sent),
    rssMB: rss,
    /** The load clients' CPU together (100 % = one core): near 100 × procs, they are the bottleneck. */
    clientCpuPct: (clientCpuMs / (result.seconds * 1000)) * 100,
    loadavg: loadavg()
      .map((n) => n.toFixed(1))
      .join("/"),
  };
}

/** A ~1 MB document: 12,000 inserts of 50 characters at random places by one client (many items). */
function bigUpdate() {
  const doc = new Y.Doc();
  const text = doc.getText("t");
  let seed = 1;
  const rand = () => (seed = (seed * 48271) % 2147483647) / 2147483647;
  for (let i = 0; i < 12_000; i++)
    text.insert(Math.floor(rand() * text.length), "lorem ipsum dolor sit amet, consectetur adipiscing ".slice(0, 50));
  return Y.encodeStateAsUpdate(doc);
}

async function memory(name, update) {
  const server = await startServer(name, { nodeFlags: ["--expose-gc", "--import", "./bench/servers/gc-tick.mjs"] });
  const client = startClient();
  const names = Array.from({ length: 8 }, (_, i) => `big-${i}`);
  // One document loaded and dropped first, so code paths and caches are warm in the baseline.
  await client.ask(
    {
      type: "big",
      kind: server.kind,
      port: server.port,
      path: server.path,
      names: ["warm"],
      update: Buffer.from(update).toString("base64"),
    },
    "bigDone",
  );
  await new Promise((r) => setTimeout(r, 2000));
  const before = rssMB(server.pid);
  await client.ask(
    { type: "big", kind: server.kind, port: server.port, path: server.path, names, update: Buffer.from(update).toString("base64") },
    "bigDone",
  );
  await new Promise((r) => setTimeout(r, 3000));
  const after = rssMB(server.pid);
  client.stop();
  await stopServer(server);
  return { server: name, perDocMB: (after - before) / names.length };
}

async function sqliteBytes() {
  const dir = mkdtempSync(join(tmpdir(), "ols-docs-bench-"));
  const file = join(dir, "docs.db");
  const server = await startServer("ours", { env: { DOCS_STORAGE: `sqlite:${file}` } });
  const client = startClient();
  await client.ask({ type: "open", kind: "yws", port: server.port, path: "/yjs", docs: [{ name: "typed", editors: 50 }] }, "opened");
  const metric = async () => {
    const text = await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text();
    return Number(/^openlivesync_document_stored_bytes_total (\d+)/m.exec(text)?.[1] ?? Number.NaN);
  };
  const stored0 = await metric();
  const result = await client.ask({ type: "run", hz: HZ, warmupMs: 0, measureMs: SECONDS * 1000 }, "result");
  await new Promise((r) => setTimeout(r, 1500)); // the last write window
  const stored = (await metric()) - stored0;
  const fileBytes = ["", "-wal"].reduce((n, ext) => n + (statSync(file + ext, { throwIfNoEntry: false })?.size ?? 0), 0);
  client.stop();
  await stopServer(server);
  rmSync(dir, { recursive: true, force: true });
  return { seconds: result.seconds, updates: result.sent, storedBytes: stored, perMinute: (stored / result.seconds) * 60, fileBytes };
}

const fmt = (n, d = 0) => (Number.isFinite(n) ? n.toFixed(d) : "n/a");
const results = { date: new Date().toISOString(), seconds: SECONDS, hz: HZ, smallHz: SMALL_HZ, load: [], memory: [] };
const oneDoc = [{ name: "one", editors: 50 }];
const manyDocs = Array.from({ length: 1000 }, (_, i) => ({ name: `doc-${i}`, editors: 2 }));
const line = (scenario, name, r) =>
  console.log(
    `${scenario.padEnd(9)} ${name.padEnd(10)} sent ${fmt(r.sentPerS)}/s delivered ${fmt(r.deliveredPerS)}/s p50 ${fmt(r.p50, 1)} ms p99 ${fmt(r.p99, 1)} ms ` +
      `cpu ${fmt(r.cpuPct)}% (sys ${fmt(r.sysShare * 100)}%) ${fmt(r.usPerDelivered, 2)} µs/delivered ${fmt(r.usPerSent, 1)} µs/sent ` +
      `rss ${fmt(r.rssMB)} MB clients ${fmt(r.clientCpuPct)}% load ${r.loadavg}`,
  );
for (const [scenario, docs, hz] of [
  ["one-doc", oneDoc, HZ],
  ["many-docs", manyDocs, SMALL_HZ],
]) {
  if (skip.has(scenario)) continue;
  for (const name of chosen) {
    const r = await load(name, docs, hz);
    results.load.push({ scenario, ...r });
    line(scenario, name, r);
  }
}
/**
 * A step the server kept up with: it delivered at least 95 % of what was offered (every update sent, to
 * every other editor) with a median latency under 50 ms. Past its limit a server falls behind: its
 * latency grows through the window, and what it delivers is partly earlier steps' backlog.
 */
const keptUp = (r, editors) => r.deliveredPerS >= 0.95 * r.sentPerS * (editors - 1) && r.p50 < 50;
// Saturation: 50 editors in one document at each rate in turn; the step with the most delivered/s, and the
// one with the most among those the server kept up with, are its figures where it saturates (every rate
// runs: on a shared machine one step can dip by chance).
if (!skip.has("saturate")) {
  results.saturate = [];
  for (const name of chosen) {
    let best;
    let kept;
    for (const hz of SATURATE_HZ) {
      const r = await load(name, oneDoc, hz);
      results.load.push({ scenario: `saturate-${hz}`, ...r });
      line(`sat ${hz}Hz`, name, r);
      if (!best || r.deliveredPerS > best.deliveredPerS) best = { hz, ...r };
      if (keptUp(r, oneDoc[0].editors) && (!kept || r.deliveredPerS > kept.deliveredPerS)) kept = { hz, ...r };
    }
    results.saturate.push({ best, kept });
    for (const [what, r] of [
      ["best", best],
      ["kept up", kept],
    ])
      console.log(
        `saturate  ${name.padEnd(10)} ${what} ` +
          (r
            ? `${fmt(r.deliveredPerS)} delivered/s at ${r.hz} Hz: cpu ${fmt(r.cpuPct)}% ${fmt(r.usPerDelivered, 2)} µs/delivered, p50 ${fmt(r.p50, 1)} ms p99 ${fmt(r.p99, 1)} ms`
            : "at no step"),
      );
  }
}
if (!skip.has("memory")) {
  const update = bigUpdate();
  console.log(`memory: documents of ${(update.byteLength / 1e6).toFixed(2)} MB encoded`);
  for (const name of chosen) {
    const r = await memory(name, update);
    results.memory.push(r);
    console.log(`memory    ${name.padEnd(10)} ${fmt(r.perDocMB, 1)} MB RSS per loaded document`);
  }
}
if (!skip.has("sqlite")) {
  results.sqlite = await sqliteBytes();
  const s = results.sqlite;
  console.log(
    `sqlite    ours       ${s.updates} updates in ${fmt(s.seconds, 1)} s: ${s.storedBytes} update bytes stored (${fmt(s.perMinute)} per minute of typing); file ${s.fileBytes} bytes`,
  );
}
console.log(JSON.stringify(results));
process.exit(0);
