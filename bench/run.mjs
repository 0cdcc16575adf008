#!/usr/bin/env node
// `npm run bench`: starts each server under test in its own process, drives it with bench/load-client.mjs
// (another process), and prints ours vs. the bare baseline. See bench/README.md.
//
//   node bench/run.mjs [--scenario name[,name]] [--duration s] [--runtime node[,bun,...]] [--client raw|ws]
import { spawn } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { availableParallelism } from "node:os";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const BIN = (name) => join(ROOT, "node_modules", ".bin", name);

// ---- what runs ----------------------------------------------------------------------------------

/**
 * Servers per runtime. Each entry is a command that starts one server on 127.0.0.1 with a free port and
 * follows the contract in bench/README.md (prints `READY <port>`, exits on SIGTERM, optional stdin `gc`).
 * To add a runtime: add `bench/servers/ours-<rt>.*` and `baseline-<rt>.*` and one entry here.
 */
const RUNTIMES = {
  node: {
    ours: { label: "ours", cmd: process.execPath, args: ["--expose-gc", "bench/servers/ours-node.mjs"] },
    baseline: { label: "ws relay", cmd: process.execPath, args: ["--expose-gc", "bench/servers/baseline-node.mjs"] },
  },
  bun: {
    ours: { label: "ours", cmd: BIN("bun"), args: ["bench/servers/ours-bun.mjs"] },
    baseline: { label: "Bun.serve publish", cmd: BIN("bun"), args: ["bench/servers/baseline-bun.mjs"] },
  },
  deno: {
    ours: { label: "ours", cmd: BIN("deno"), args: ["run", "-A", "--no-lock", "--v8-flags=--expose-gc", "bench/servers/ours-deno.mjs"] },
    baseline: {
      label: "Deno.serve relay",
      cmd: BIN("deno"),
      args: ["run", "-A", "--no-lock", "--v8-flags=--expose-gc", "bench/servers/baseline-deno.mjs"],
    },
  },
};

/** `load` is the scenario function in load-client.mjs; `timed` scenarios take --duration. */
const SCENARIOS = [
  { name: "fanout-200", load: "fanout", timed: true, params: { receivers: 199, window: 16 } },
  { name: "fanout-1000", load: "fanout", timed: true, params: { receivers: 999, window: 16 } },
  { name: "rooms-1000x100", load: "rooms", timed: true, params: { clients: 1000, rooms: 100, window: 10 } },
  // One message in flight at a time: the latency of a lone broadcast (the corked path must not hold it).
  {
    name: "lone-200",
    load: "fanout",
    timed: true,
    fixedDuration: true,
    params: { receivers: 199, window: 1, durationMs: 2000, warmupMs: 500 },
  },
  // Memory readings scatter both ways, so this one runs `repeat` times too and each side reports its
  // median run: at 5,000 connections a bare Bun server read 1.8 or 2.3 KB/conn from run to run (the
  // allocators grow in steps of megabytes). `--param clients=10000` halves the weight of those steps.
  { name: "idle-memory", load: "idleMemory", repeated: true, pick: "median", params: { clients: 5000, perRoom: 100 } },
  { name: "presence-60hz", load: "presence", params: { clients: 50, hz: 60, moveMs: 3000, quietMs: 1000 } },
];

// ---- CLI ----------------------------------------------------------------------------------------

/** A mistake on the command line: reported as one line, without a stack. */
class UsageError extends Error {}

function parseArgs(argv) {
  const out = { versus: null, scenario: null, duration: 4, runtime: "all", client: "raw", warmup: 1, repeat: 3, quiet: 5, params: {} };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split("=", 2);
    const value = () => inline ?? argv[++i];
    if (flag === "--scenario") out.scenario = value();
    else if (flag === "--duration") out.duration = Number(value());
    else if (flag === "--warmup") out.warmup = Number(value());
    else if (flag === "--repeat") out.repeat = Number(value());
    else if (flag === "--quiet") out.quiet = Number(value());
    else if (flag === "--runtime") out.runtime = value();
    else if (flag === "--client") out.client = value();
    else if (flag === "--versus") out.versus = value();
    else if (flag === "--param") {
      const [k, v] = value().split("=");
      if (!k || v === undefined || Number.isNaN(Number(v))) throw new UsageError("--param takes key=number, e.g. --param window=32");
      out.params[k] = Number(v);
    } else if (flag === "--help" || flag === "-h") {
      console.log(
        "node bench/run.mjs [--versus dist-dir] [--scenario a,b] [--duration s] [--warmup s] [--repeat n] [--quiet s] [--runtime node|all|a,b] [--client raw|ws] [--param key=number]\n" +
          `scenarios: ${SCENARIOS.map((s) => s.name).join(", ")}\nruntimes: ${Object.keys(RUNTIMES).join(", ")}`,
      );
      process.exit(0);
    } else throw new UsageError(`Unknown argument ${argv[i]}; try --help`);
  }
  if (!(out.duration > 0 && out.duration <= 60)) throw new UsageError("--duration must be between 0 and 60 seconds");
  if (!(out.warmup >= 0 && out.warmup <= 10)) throw new UsageError("--warmup must be between 0 and 10 seconds");
  if (!(out.quiet >= 0 && out.quiet <= 60)) throw new UsageError("--quiet must be between 0 and 60 seconds");
  if (!(Number.isInteger(out.repeat) && out.repeat >= 1 && out.repeat <= 10))
    throw new UsageError("--repeat must be an integer from 1 to 10");
  if (!["raw", "ws"].includes(out.client)) throw new UsageError("--client must be raw or ws");
  return out;
}

// ---- child processes ------------------------------------------------------------------------------

const children = new Set();
/** Starts `cmd args` with the open-files limit raised as far as allowed (the pid stays the same: exec). */
function spawnRaised(cmd, args, options) {
  const child = spawn("bash", ["-c", 'ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$0" "$@"', cmd, ...args], { cwd: ROOT, ...options });
  children.add(child);
  child.on("exit", () => children.delete(child));
  return child;
}
function killAll() {
  for (const child of children) {
    try {
      process.kill(child.pid, "SIGKILL");
    } catch {}
  }
}
process.on("exit", killAll);
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => (killAll(), process.exit(130)));

function procStatus(pid) {
  try {
    const text = readFileSync(`/proc/${pid}/status`, "utf8");
    const kb = (key) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(text)?.[1] ?? NaN);
    return { rssKB: kb("VmRSS"), hwmKB: kb("VmHWM") };
  } catch {
    return { rssKB: NaN, hwmKB: NaN };
  }
}

async function startServer(spec) {
  // Someone may be rebuilding dist/ right now (tsdown cleans it first): retry a few times.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startServerOnce(spec);
    } catch (err) {
      if (attempt >= 4) throw err;
      process.stderr.write(`(start failed, retrying: ${String(err.message).slice(0, 120)}) `);
      await new Promise((r) => setTimeout(r, 3000));
    }
  }
}

async function startServerOnce(spec) {
  const child = spawnRaised(spec.cmd, spec.args, { stdio: ["pipe", "pipe", "pipe"], env: { ...process.env, ...spec.env } });
  const server = { child, pid: child.pid, stderr: [], stderrLines: 0, exit: null, gcWaiters: [] };
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (chunk) => {
    for (const line of chunk.split("\n")) {
      if (!line.trim()) continue;
      server.stderrLines++;
      if (server.stderr.length < 12) server.stderr.push(line.slice(0, 400));
    }
  });
  child.stdin.on("error", () => {});
  child.on("exit", (code, signal) => (server.exit = { code, signal }));
  server.port = await new Promise((resolve, reject) => {
    let buf = "";
    const timer = setTimeout(
      () => reject(new Error(`${spec.label} did not print READY within 20 s; stderr: ${server.stderr.join(" | ")}`)),
      20_000,
    );
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (chunk) => {
      buf += chunk;
      let nl;
      while ((nl = buf.indexOf("\n")) !== -1) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        const ready = /^READY (\d+)$/.exec(line);
        if (ready) clearTimeout(timer), resolve(Number(ready[1]));
        else if (line.startsWith("GC_DONE")) {
          let usage = {};
          try {
            usage = JSON.parse(line.slice(7) || "{}");
          } catch {}
          server.gcWaiters.shift()?.(usage);
        }
      }
    });
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${spec.label} exited before READY (code ${code}, signal ${signal}); stderr: ${server.stderr.join(" | ")}`));
    });
  });
  return server;
}

/** Asks the server to collect garbage (if it supports the stdin `gc` command), then reads its RSS. */
async function measureServer(server) {
  let usage = null;
  if (!server.exit) {
    usage = await new Promise((resolve) => {
      const timer = setTimeout(() => resolve(null), 2000);
      server.gcWaiters.push((u) => (clearTimeout(timer), resolve(u)));
      server.child.stdin.write("gc\n");
    });
    await new Promise((r) => setTimeout(r, 300));
  }
  // `heapUsed` (bytes, after a full GC) only when the server answers `gc` with its memoryUsage().
  return { ...procStatus(server.pid), gc: usage !== null, heapUsed: usage?.heapUsed ?? null };
}

async function stopServer(server) {
  const status = procStatus(server.pid);
  if (!server.exit) {
    const exited = new Promise((r) => server.child.once("exit", r));
    try {
      process.kill(server.pid, "SIGTERM");
    } catch {}
    const timer = setTimeout(() => {
      try {
        process.kill(server.pid, "SIGKILL");
      } catch {}
    }, 3000);
    await exited;
    clearTimeout(timer);
  }
  return status;
}

function runLoad(scenario, params, server, opts) {
  const child = spawnRaised(process.execPath, [join(ROOT, "bench/load-client.mjs")], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
  return new Promise((resolve, reject) => {
    const limitMs = 120_000;
    const timer = setTimeout(() => {
      try {
        process.kill(child.pid, "SIGKILL");
      } catch {}
      reject(new Error(`load client for ${scenario.name} did not finish within ${limitMs / 1000} s`));
    }, limitMs);
    child.on("message", async (msg) => {
      if (msg.type === "checkpoint") child.send({ type: "ack", data: await measureServer(server) });
      else if (msg.type === "result") {
        clearTimeout(timer);
        if (msg.error) reject(new Error(msg.error));
        else resolve(msg.result);
      }
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`load client exited with code ${code} before reporting`));
    });
    child.send({
      cmd: "run",
      scenario: scenario.load,
      targets: [{ host: "127.0.0.1", port: server.port, path: "/live" }],
      params,
      serverPid: server.pid,
      clientKind: opts.client,
    });
  });
}

/** Busy cores of the whole machine over `ms`, from /proc/stat (null where unavailable). */
async function machineLoad(ms) {
  const read = () => {
    try {
      const f = readFileSync("/proc/stat", "utf8").split("\n", 1)[0].trim().split(/\s+/).slice(1).map(Number);
      return { total: f.reduce((a, b) => a + b, 0), idle: f[3] + f[4] };
    } catch {
      return null;
    }
  };
  const a = read();
  await new Promise((r) => setTimeout(r, ms));
  const b = read();
  if (!a || !b || b.total === a.total) return null;
  const cores = (await import("node:os")).cpus().length;
  return (1 - (b.idle - a.idle) / (b.total - a.total)) * cores;
}

/** Other work on the machine skews throughput: wait (bounded) until it is quiet. Returns seconds waited. */
async function waitForQuiet(maxMs) {
  const start = Date.now();
  while (Date.now() - start < maxMs) {
    const load = await machineLoad(400);
    if (load === null || load < 0.25) break;
  }
  return (Date.now() - start) / 1000;
}

let quietBudgetMs = 45_000;

async function runOne(runtime, which, scenario, opts) {
  const spec = RUNTIMES[runtime][which];
  const params = { ...scenario.params, ...opts.params };
  if (scenario.timed && !scenario.fixedDuration) (params.durationMs = opts.duration * 1000), (params.warmupMs = opts.warmup * 1000);
  // Timed scenarios wait up to --quiet s for the machine to go idle, within a 45 s budget per bench run.
  const gateMs = scenario.timed ? Math.min(opts.quiet * 1000, quietBudgetMs) : 0;
  const waited = gateMs > 0 ? await waitForQuiet(gateMs) : 0;
  quietBudgetMs -= waited * 1000;
  const server = await startServer(spec);
  let result;
  let error;
  try {
    result = await runLoad(scenario, params, server, opts);
  } catch (err) {
    error = String(err?.message ?? err).split("\n")[0];
  }
  const crashed = server.exit ? `server exited during the run (code ${server.exit.code}, signal ${server.exit.signal})` : null;
  const status = await stopServer(server);
  return {
    runtime,
    which,
    label: spec.label,
    scenario: scenario.name,
    params,
    result,
    waitedForQuietS: waited,
    error,
    crashed,
    serverRssKB: status.rssKB,
    serverPeakRssKB: status.hwmKB,
    serverStderr: server.stderr,
    serverStderrLines: server.stderrLines,
  };
}

// ---- report -----------------------------------------------------------------------------------------

const fmtInt = (n) => (n == null || Number.isNaN(n) ? "–" : Math.round(n).toLocaleString("en-US"));
const fmtMs = (n) => (n == null || Number.isNaN(n) ? "–" : n < 10 ? n.toFixed(2) : n.toFixed(1));
const fmtMB = (kb) => (kb == null || Number.isNaN(kb) ? "–" : (kb / 1024).toFixed(1));
const fmtPct = (n) => (n == null || Number.isNaN(n) ? "–" : `${Math.round(n * 100)} %`);
const ratio = (a, b) => (a == null || b == null || !b || Number.isNaN(a) || Number.isNaN(b) ? "–" : `${(a / b).toFixed(2)}×`);

/** A run whose numbers need its notes read: the server died, closed sockets, or lost deliveries. */
const troubled = (run) =>
  Boolean(
    run.crashed ||
      Object.keys(run.result?.closes ?? {}).length ||
      run.result?.undelivered > 0 ||
      Object.keys(run.result?.errors ?? {}).length,
  );

function rowsFor(name, ours, base) {
  const o = ours.result;
  const b = base.result;
  const rows = [];
  /** One table row; `fmt` renders a value, `get` reads it from a result (and its run). */
  const row = (metric, get, fmt, withRatio = true) => {
    const a = o ? get(o, ours) : null;
    const c = b ? get(b, base) : null;
    const cell = (run, v, r) => (run.error ? "FAILED" : `${fmt(v, r)}${rows.length === 0 && troubled(run) ? " ⚠" : ""}`);
    rows.push([name, metric, cell(ours, a, o), cell(base, c, b), withRatio ? ratio(a, c) : ""]);
  };
  const cores = (n) => (n == null || Number.isNaN(n) ? "–" : n.toFixed(2));
  if ((o ?? b)?.kbPerConn !== undefined) {
    row(
      `KB per idle connection (${fmtInt((o ?? b).connections)} joined)`,
      (r) => r.kbPerConn,
      (n) => (n == null ? "–" : n.toFixed(1)),
    );
    row(
      `KB per connection, slope ${fmtInt((o ?? b).connections / 5)}→${fmtInt((o ?? b).connections)}`,
      (r) => r.kbPerConnSlope,
      (n) => (n == null ? "–" : n.toFixed(1)),
    );
    row(
      "JS heap per connection after GC, KB",
      (r) => r.heapKBPerConn,
      (n) => (n == null ? "–" : n.toFixed(1)),
    );
    row("server RSS before connecting, MB", (r) => r.rssBeforeKB, fmtMB);
    row("server RSS with all joined, MB", (r) => r.rssAfterKB, fmtMB);
  } else if ((o ?? b)?.resting !== undefined) {
    row("presence updates received/s", (r) => r.updatesPerSec, fmtInt);
    row(
      "resting positions delivered",
      (r) => r.resting.ok / r.resting.total,
      (n, r) => (r ? `${r.resting.ok}/${r.resting.total} (${fmtPct(n)})` : "–"),
      false,
    );
    row("server CPU, cores", (r) => r.serverCpu, cores);
    row("server peak RSS, MB", (_r, run) => run.serverPeakRssKB, fmtMB);
  } else {
    row("deliveries/s", (r) => r.deliveriesPerSec, fmtInt);
    row("p50 latency, ms", (r) => r.latency.p50, fmtMs);
    row("p99 latency, ms", (r) => r.latency.p99, fmtMs);
    row("server peak RSS, MB", (_r, run) => run.serverPeakRssKB, fmtMB);
    row(
      "CPU cores: server / load client / other",
      (r) => r,
      (r) => (r ? `${cores(r.serverCpu)} / ${cores(r.clientCpu)} / ${cores(r.otherCpu)}` : "–"),
      false,
    );
  }
  return rows;
}

function notesFor(run) {
  const notes = [];
  const r = run.result;
  const who = `${run.scenario} / ${run.label}`;
  if (run.error) notes.push(`${who}: FAILED: ${run.error}`);
  if (run.crashed) notes.push(`${who}: ${run.crashed}`);
  if (r) {
    if (Object.keys(r.closes ?? {}).length) notes.push(`${who}: server closed client sockets: ${JSON.stringify(r.closes)}`);
    if (Object.keys(r.errors ?? {}).length) notes.push(`${who}: error frames: ${JSON.stringify(r.errors)}`);
    if (r.unexpectedFrames) notes.push(`${who}: ${r.unexpectedFrames} frames of unexpected type`);
    if (r.undelivered > 0) notes.push(`${who}: ${fmtInt(r.undelivered)} deliveries still missing 3 s after sending stopped`);
    if (r.misses?.length) notes.push(`${who}: resting position misses (first ${r.misses.length}): ${JSON.stringify(r.misses)}`);
  }
  if (run.attempts?.length > 1 && r?.kbPerConn !== undefined) {
    notes.push(
      `${who}: median of ${run.attempts.length} runs; KB per idle connection per run: ${run.attempts.map((a) => (a.result ? a.result.kbPerConn.toFixed(2) : "failed")).join(", ")}`,
    );
  } else if (run.attempts?.length > 1) {
    notes.push(
      `${who}: best of ${run.attempts.length} runs; deliveries/s (other CPU) per run: ${run.attempts.map((a) => (a.result ? `${fmtInt(a.result.deliveriesPerSec)} (${a.result.otherCpu?.toFixed(2)})` : "failed")).join(", ")}`,
    );
  }
  if (r?.otherCpu >= 0.2) {
    notes.push(
      `${who}: disturbed: other processes used ${r.otherCpu.toFixed(2)} cores (top: ${r.otherUsers?.join(", ") || "none ≥ 0.05"}); irq/softirq ${r.irqCpu?.toFixed(2)}`,
    );
  }
  if (run.serverStderrLines)
    notes.push(`${who}: server wrote ${run.serverStderrLines} stderr lines, first: ${run.serverStderr.slice(0, 3).join(" | ")}`);
  return notes;
}

function renderRuntime(runtime, runs, _opts) {
  const lines = [];
  lines.push(`### ${runtime}: ours vs. ${RUNTIMES[runtime].baseline.label} (ratio = ours ÷ baseline)`);
  lines.push("");
  lines.push("| scenario | metric | ours | baseline | ratio |");
  lines.push("|---|---|---:|---:|---:|");
  const notes = [];
  for (const scenario of SCENARIOS) {
    const ours = runs.find((r) => r.runtime === runtime && r.scenario === scenario.name && r.which === "ours");
    const base = runs.find((r) => r.runtime === runtime && r.scenario === scenario.name && r.which === "baseline");
    if (!ours || !base) continue;
    for (const row of rowsFor(scenario.name, ours, base)) lines.push(`| ${row.join(" | ")} |`);
    notes.push(...notesFor(ours), ...notesFor(base));
  }
  lines.push("");
  if (notes.length) lines.push("Notes:", "", ...notes.map((n) => `- ${n}`), "");
  return lines.join("\n");
}

// ---- main --------------------------------------------------------------------------------------------

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const runtimes = opts.runtime === "all" ? Object.keys(RUNTIMES) : opts.runtime.split(",");
  for (const rt of runtimes)
    if (!RUNTIMES[rt]) throw new UsageError(`No bench servers for runtime "${rt}"; known: ${Object.keys(RUNTIMES).join(", ")}`);
  // --versus DIR: the "baseline" column becomes our own server built in DIR (an older commit's dist/),
  // so the ratio column reads "this code ÷ that build", measured in the same run.
  if (opts.versus) {
    const dir = resolve(opts.versus);
    for (const rt of runtimes) RUNTIMES[rt].baseline = { ...RUNTIMES[rt].ours, label: `ours @ ${opts.versus}`, env: { OLS_DIST: dir } };
  }
  // `chat` (bench/chat.mjs) compares storages and `scale-out` (bench/scale-out.mjs) compares instance counts
  // rather than ours with a baseline, so they run on their own after the table (Node only).
  // `big-room` (bench/big-room.mjs) compares this build with an older one (OLS_OLD_DIST).
  const EXTRA = ["chat", "scale-out", "big-room"];
  const requested = opts.scenario ? opts.scenario.split(",") : [...SCENARIOS.map((s) => s.name), ...EXTRA];
  const wanted = requested.filter((w) => !EXTRA.includes(w));
  for (const w of wanted)
    if (!SCENARIOS.some((s) => s.name === w))
      throw new UsageError(`Unknown scenario "${w}"; known: ${[...SCENARIOS.map((s) => s.name), ...EXTRA].join(", ")}`);

  const started = Date.now();
  const runs = [];
  for (const runtime of runtimes) {
    for (const scenario of SCENARIOS.filter((s) => wanted.includes(s.name))) {
      // Timed scenarios run `repeat` times, ours and baseline alternating, and keep each one's best:
      // other processes on this shared machine only ever make a run slower.
      const reps = scenario.timed || scenario.repeated ? opts.repeat : 1;
      const attempts = { ours: [], baseline: [] };
      for (let rep = 0; rep < reps; rep++) {
        for (const which of rep % 2 === 0 ? ["ours", "baseline"] : ["baseline", "ours"]) {
          process.stderr.write(`bench: ${runtime} ${scenario.name} ${which}${reps > 1 ? ` #${rep + 1}` : ""}… `);
          const run = await runOne(runtime, which, scenario, opts);
          attempts[which].push(run);
          const r = run.result;
          process.stderr.write(
            run.error
              ? `FAILED (${run.error})\n`
              : r.deliveriesPerSec !== undefined
                ? `${fmtInt(r.deliveriesPerSec)} deliveries/s, p50 ${fmtMs(r.latency.p50)} ms, p99 ${fmtMs(r.latency.p99)} ms, CPU server ${r.serverCpu?.toFixed(2)} client ${r.clientCpu.toFixed(2)} other ${r.otherCpu?.toFixed(2)} (irq ${r.irqCpu?.toFixed(2)}; ${r.otherUsers.join(", ")})\n`
                : r.kbPerConn !== undefined
                  ? `${r.kbPerConn.toFixed(2)} KB/conn\n`
                  : `${fmtInt(r.updatesPerSec)} updates/s, resting ${r.resting.ok}/${r.resting.total}\n`,
          );
        }
      }
      for (const which of ["ours", "baseline"]) {
        const list = attempts[which];
        const ok = list.filter((r) => r.result);
        const best = !ok.length
          ? list[0]
          : scenario.pick === "median"
            ? [...ok].sort((x, y) => x.result.kbPerConn - y.result.kbPerConn)[Math.floor((ok.length - 1) / 2)]
            : ok.reduce((x, y) => ((y.result.deliveriesPerSec ?? 0) > (x.result.deliveriesPerSec ?? 0) ? y : x));
        runs.push({ ...best, attempts: list.map(({ attempts: _a, ...r }) => r) });
      }
    }
  }

  const header = [
    `## Benchmark (${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC)`,
    "",
    `Node ${process.version}, ${(await import("node:os")).cpus().length} cores; server and load client share them, one process each. ` +
      `Timed scenarios: ${opts.warmup} s warm-up + ${opts.duration} s measured, best of ${opts.repeat} alternating runs (idle memory: the median of ${opts.repeat}); load client: ${opts.client}` +
      `${Object.keys(opts.params).length ? `; overrides ${JSON.stringify(opts.params)}` : ""}. Total ${((Date.now() - started) / 1000).toFixed(0)} s. ` +
      'CPU "other" = all other processes on the machine. ⚠ = see the notes.',
    "",
    `Parameters: ${SCENARIOS.filter((s) => wanted.includes(s.name))
      .map((s) => `${s.name} ${JSON.stringify({ ...s.params, ...opts.params })}`)
      .join("; ")}.`,
    "",
  ];
  const body = wanted.length ? runtimes.map((rt) => renderRuntime(rt, runs, opts)) : [];
  if (requested.includes("chat")) {
    const { runChatBench } = await import("./chat.mjs");
    body.push(await runChatBench(["--duration", String(opts.duration)]));
  }
  if (requested.includes("scale-out")) {
    process.stderr.write("bench: scale-out (2 instances + Redis)…\n");
    const { execFileSync } = await import("node:child_process");
    const args = ["bench/scale-out.mjs", "--duration", String(opts.duration), "--repeat", String(opts.repeat)];
    // With --versus, the older build's single and two-instance figures run in the same run (and its local-4x25).
    if (opts.versus) args.push("--baseline-dist", resolve(opts.versus));
    // Servers on one core, the load client on the other (see scale-out.mjs): one and two instances get the same CPU.
    if (availableParallelism() >= 2) args.push("--pin");
    body.push(execFileSync(process.execPath, args, { cwd: ROOT, encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] }).trim());
  }
  if (requested.includes("big-room")) {
    process.stderr.write(`bench: big-room (this build${process.env.OLS_OLD_DIST ? ` vs ${process.env.OLS_OLD_DIST}` : ""})…\n`);
    const { execFileSync } = await import("node:child_process");
    body.push(
      execFileSync(process.execPath, ["bench/big-room.mjs", "--repeat", String(Math.min(opts.repeat, 2))], {
        cwd: ROOT,
        encoding: "utf8",
        stdio: ["ignore", "pipe", "inherit"],
      }).trim(),
    );
  }
  const text = [...header, ...body].join("\n");
  console.log(text);
  mkdirSync(join(ROOT, ".bench"), { recursive: true });
  writeFileSync(join(ROOT, ".bench/results.md"), `${text}\n`);
  writeFileSync(join(ROOT, ".bench/results.json"), `${JSON.stringify({ opts, runs }, null, 2)}\n`);
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(`bench: ${err instanceof UsageError ? err.message : (err?.stack ?? err)}`);
    killAll();
    process.exit(1);
  },
);
