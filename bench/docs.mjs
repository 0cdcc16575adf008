// Shared documents (issue 24): our server against y-websocket 1.5.4's server and @hocuspocus/server 4, same
// run, same load client (bench/docs-client.mjs, a child process), one server at a time.
//
//   npx tsdown && node bench/docs.mjs [--seconds 10] [--hz 10] [--small-hz 1] [--only ours,hocuspocus,hocuspocus-10ms,ywebsocket]
//     [--skip one-doc,many-docs,memory,sqlite] [--cpu-prof DIR]   (a .cpuprofile of each load scenario's server)
//
// Scenarios: `one-doc` (50 editors in one document, `hz` updates a second each) and `many-docs` (1,000
// documents with 2 editors each, `small-hz` a second each): delivered updates a second, p50/p99 latency,
// server CPU (utime+stime from /proc/<pid>/stat over the window) per delivered update, and RSS at the end.
// Then `memory`: RSS growth per loaded 1 MB document (8 documents, a GC every 0.5 s in every server), and
// `sqlite`: update bytes our server wrote to SQLite while 50 editors typed at `hz`, scaled to a minute.
import { fork, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import * as Y from "yjs";

const { values: args } = parseArgs({
  options: {
    seconds: { type: "string", default: "10" },
    hz: { type: "string", default: "10" },
    "small-hz": { type: "string", default: "1" },
    only: { type: "string", default: "ours,hocuspocus,hocuspocus-10ms,ywebsocket" },
    skip: { type: "string", default: "" },
    "cpu-prof": { type: "string" },
  },
});
const SECONDS = Number(args.seconds);
const HZ = Number(args.hz);
const SMALL_HZ = Number(args["small-hz"]);
const skip = new Set(args.skip.split(",").filter(Boolean));
const TICKS = 100; // USER_HZ on Linux

const SERVERS = {
  ours: { kind: "yws", path: "/yjs", args: ["bench/servers/docs-ours.mjs"] },
  hocuspocus: { kind: "hp", path: "", args: ["bench/servers/docs-hocuspocus.mjs"] },
  // Hocuspocus merging across turns for up to 10 ms, as ours does on a busy document (its `flushDelay`).
  "hocuspocus-10ms": { kind: "hp", path: "", args: ["bench/servers/docs-hocuspocus.mjs"], env: { FLUSH_DELAY: "10" } },
  ywebsocket: { kind: "yws", path: "", args: ["node_modules/y-websocket-v1/bin/server.js"], ready: /running at/ },
};
const chosen = args.only.split(",").filter((name) => SERVERS[name]);

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
  const timer = setTimeout(() => server.child.kill("SIGKILL"), 3000);
  await exited;
  clearTimeout(timer);
  children.delete(server.child);
}

function cpuTicks(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(f[11]) + Number(f[12]);
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

/** One load scenario against one server: fresh server, fresh client. */
async function load(name, docs, hz, env) {
  const nodeFlags = args["cpu-prof"] ? ["--cpu-prof", `--cpu-prof-dir=${args["cpu-prof"]}`] : [];
  const server = await startServer(name, { env, nodeFlags });
  const client = startClient();
  await client.ask({ type: "open", kind: server.kind, port: server.port, path: server.path, docs }, "opened");
  const warmupMs = 3000;
  const running = client.ask({ type: "run", hz, warmupMs, measureMs: SECONDS * 1000 }, "result");
  await new Promise((r) => setTimeout(r, warmupMs));
  const ticks0 = cpuTicks(server.pid);
  const result = await running;
  const cpuMs = ((cpuTicks(server.pid) - ticks0) / TICKS) * 1000;
  const rss = rssMB(server.pid);
  client.stop();
  await stopServer(server);
  return {
    server: name,
    sentPerS: result.sent / result.seconds,
    deliveredPerS: result.delivered / result.seconds,
    p50: result.p50,
    p99: result.p99,
    cpuPct: (cpuMs / (result.seconds * 1000)) * 100,
    usPerDelivered: (cpuMs * 1000) / Math.max(1, result.delivered),
    // Per update received: what a server must do whatever its clients manage to read back in the window.
    usPerSent: (cpuMs * 1000) / Math.max(1, result.sent),
    rssMB: rss,
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
for (const [scenario, docs, hz] of [
  ["one-doc", oneDoc, HZ],
  ["many-docs", manyDocs, SMALL_HZ],
]) {
  if (skip.has(scenario)) continue;
  for (const name of chosen) {
    const r = await load(name, docs, hz);
    results.load.push({ scenario, ...r });
    console.log(
      `${scenario.padEnd(9)} ${name.padEnd(10)} sent ${fmt(r.sentPerS)}/s delivered ${fmt(r.deliveredPerS)}/s p50 ${fmt(r.p50, 1)} ms p99 ${fmt(r.p99, 1)} ms ` +
        `cpu ${fmt(r.cpuPct)}% ${fmt(r.usPerDelivered, 2)} µs/delivered ${fmt(r.usPerSent, 1)} µs/sent rss ${fmt(r.rssMB)} MB`,
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
