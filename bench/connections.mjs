#!/usr/bin/env node
// How many WebSocket connections one server process holds, and what each costs (issue 27).
//
//   node bench/connections.mjs [--runtime node,bun,deno] [--connections 19000] [--procs 4] [--per-room 100]
//       [--idle-s 30] [--active-s 10] [--servers ours,baseline] [--versus DIST]
//
// Per runtime, ours and the bare relay (bench/servers/baseline-*.mjs) in the same run, one after the
// other, each with `connections` clients spread over `procs` lean raw-socket client processes
// (bench/connections-client.mjs, each under the 20,000 open files a process may have), in rooms of
// `per-room`. Each client connects and joins at once. Reported per server:
//   - connects/s: connections ÷ the time until the last room_joined
//   - RSS per connection: (RSS after every join − RSS before any), both after a full GC
//   - idle CPU: server CPU over `idle-s` seconds with everyone joined and silent (heartbeats only; the
//     default heartbeat is 30 s, so keep `idle-s` ≥ 30 to include one round of pings), as % of a core per
//     10,000 connections
//   - broadcast p50/p99: one member of room 0 broadcasts every 20 ms for 5 s, its 99 room-mates receive
//   - 1 % active: every 100th member broadcasts once a second for `active-s`: server CPU and p99
// `--versus DIST` adds ours built from DIST (e.g. /work/ols-before/dist) for Node: the before/after.
// Deno's ours runs with its front (adapters/deno/front/), which holds two sockets per connection: it is
// capped at half the connections (see bench/README.md). Only 127.0.0.1; every child stopped by its PID.
import { fork, spawn } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { ROOT } from "./children.mjs";

const BIN = (name) => join(ROOT, "node_modules", ".bin", name);
const DENO = ["run", "-A", "--no-lock", "--v8-flags=--expose-gc"];
const SERVERS = {
  node: {
    ours: { cmd: process.execPath, args: ["--expose-gc", "bench/servers/ours-node.mjs"] },
    baseline: { cmd: process.execPath, args: ["--expose-gc", "bench/servers/baseline-node.mjs"] },
  },
  bun: {
    ours: { cmd: BIN("bun"), args: ["bench/servers/ours-bun.mjs"] },
    baseline: { cmd: BIN("bun"), args: ["bench/servers/baseline-bun.mjs"] },
  },
  deno: {
    ours: { cmd: BIN("deno"), args: [...DENO, "bench/servers/ours-deno.mjs"], half: true },
    baseline: { cmd: BIN("deno"), args: [...DENO, "bench/servers/baseline-deno.mjs"] },
  },
};

function parseArgs(argv) {
  const o = {
    runtime: "node,bun,deno",
    servers: "ours,baseline",
    connections: 19000,
    procs: 4,
    "per-room": 100,
    "idle-s": 30,
    "active-s": 10,
  };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split("=", 2);
    const name = flag.replace(/^--/, "");
    const value = inline ?? argv[++i];
    if (name === "runtime" || name === "servers") o[name] = value;
    else if (name === "versus") o.versus = resolve(value);
    else if (name in o && Number(value) > 0) o[name] = Number(value);
    else throw new Error(`Unknown or bad argument ${argv[i]}; see the head of bench/connections.mjs`);
  }
  return o;
}

const children = new Set();
process.on("exit", () => {
  for (const c of children) c.kill("SIGKILL");
});
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** `cmd args` with the open-files limit raised to the hard limit (exec: same PID). */
function spawnRaised(cmd, args, env) {
  const child = spawn("bash", ["-c", 'ulimit -n "$(ulimit -Hn)"; exec "$0" "$@"', cmd, ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ["pipe", "pipe", "pipe"],
  });
  children.add(child);
  child.on("exit", () => children.delete(child));
  return child;
}

function procStat(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) / 100;
}
const rssKB = (pid) => Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1]);

async function startServer(spec, env) {
  const child = spawnRaised(spec.cmd, spec.args, env);
  const stderr = [];
  child.stderr.setEncoding("utf8").on("data", (d) => stderr.length < 5 && stderr.push(d.trim().slice(0, 300)));
  child.stdin.on("error", () => {});
  const lines = [];
  const waiters = [];
  child.stdout.setEncoding("utf8").on("data", (d) => {
    for (const line of d.split("\n").filter(Boolean)) waiters.length ? waiters.shift()(line) : lines.push(line);
  });
  const nextLine = (ms) =>
    new Promise((res, rej) => {
      if (lines.length) return res(lines.shift());
      const t = setTimeout(() => rej(new Error(`server said nothing in ${ms} ms: ${stderr.join(" | ")}`)), ms);
      waiters.push((l) => (clearTimeout(t), res(l)));
    });
  const port = Number(/^READY (\d+)/.exec(await nextLine(20_000))?.[1]);
  /** RSS after a full GC (the stdin `gc` command of bench/servers/control.mjs). */
  const gcRss = async () => {
    child.stdin.write("gc\n");
    await nextLine(5000).catch(() => undefined);
    await sleep(300);
    return rssKB(child.pid);
  };
  return { child, pid: child.pid, port, stderr, gcRss };
}

async function stop(child) {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  const t = setTimeout(() => child.kill("SIGKILL"), 4000);
  await exited;
  clearTimeout(t);
}

/** Forks the client processes; `ask(msg, type)` sends a command to all and gathers their answers. */
function startClients(o, port, connections) {
  const perProc = Math.ceil(connections / o.procs / o["per-room"]) * o["per-room"];
  const procs = [];
  for (let from = 0; from < connections; from += perProc) {
    const child = fork(join(ROOT, "bench/connections-client.mjs"), { stdio: ["ignore", "inherit", "inherit", "ipc"] });
    children.add(child);
    child.on("exit", () => children.delete(child));
    const config = { host: "127.0.0.1", port, from, to: Math.min(connections, from + perProc), perRoom: o["per-room"], concurrency: 200 };
    child.send({ cmd: "config", config });
    procs.push(child);
  }
  const ask = (msg, type, only = procs) =>
    Promise.all(
      only.map(
        (c) =>
          new Promise(
            (res) => (
              c.on("message", function on(m) {
                if (m.type === type) c.off("message", on), res(m);
              }),
              c.send(msg)
            ),
          ),
      ),
    );
  return { procs, ask };
}

async function measure(o, runtime, side, spec, env) {
  const connections = spec.half ? Math.floor(o.connections / 2) : o.connections;
  const server = await startServer(spec, env);
  const clients = startClients(o, server.port, connections);
  try {
    await sleep(500);
    const rss0 = await server.gcRss();
    const t0 = performance.now();
    const connected = await clients.ask({ cmd: "connect" }, "connected");
    const connectS = (performance.now() - t0) / 1000;
    const failures = connected.reduce((s, m) => s + m.failures, 0);
    await sleep(2000);
    const rss1 = await server.gcRss();
    const held = connections - failures;
    const cpu0 = procStat(server.pid);
    await sleep(o["idle-s"] * 1000);
    const idleCpu = (procStat(server.pid) - cpu0) / o["idle-s"];
    const [probe] = await clients.ask({ cmd: "probe", ms: 5000, everyMs: 20 }, "probed", clients.procs.slice(0, 1));
    const cpu1 = procStat(server.pid);
    const activeRuns = await clients.ask({ cmd: "active", ms: o["active-s"] * 1000, share: 0.01 }, "activeDone");
    const activeCpu = (procStat(server.pid) - cpu1) / (o["active-s"] + 0.5);
    const activeP99 = Math.max(...activeRuns.map((r) => r.latency.p99 ?? 0));
    const closes = (await clients.ask({ cmd: "closes" }, "closes")).reduce((s, m) => s + m.closes, 0);
    return {
      runtime,
      side,
      connections,
      held,
      failures,
      firstFailure: connected.find((m) => m.firstFailure)?.firstFailure,
      connectsPerS: held / connectS,
      kbPerConn: (rss1 - rss0) / held,
      rssMB: rss1 / 1024,
      idleCpuPer10k: (idleCpu * 100 * 10_000) / held,
      probe: probe.latency,
      activeCpu,
      activeSent: activeRuns.reduce((s, r) => s + r.sent, 0),
      activeP99,
      closes,
      stderr: server.stderr,
    };
  } finally {
    for (const c of clients.procs) c.kill("SIGKILL");
    await stop(server.child);
  }
}

const f = (d) => (n) => (n == null || Number.isNaN(n) ? "–" : n.toFixed(d));

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const rows = [];
  for (const runtime of o.runtime.split(",")) {
    const sides = o.servers.split(",").map((side) => [side, SERVERS[runtime][side], {}]);
    if (o.versus && runtime === "node") sides.push(["ours (before)", SERVERS.node.ours, { OLS_DIST: o.versus }]);
    for (const [side, spec, env] of sides) {
      process.stderr.write(`connections: ${runtime} ${side}… `);
      try {
        rows.push(await measure(o, runtime, side, spec, env));
        process.stderr.write("done\n");
      } catch (err) {
        rows.push({ runtime, side, error: String(err?.message ?? err).split("\n")[0] });
        process.stderr.write(`FAILED (${rows.at(-1).error})\n`);
      }
    }
  }
  const lines = [
    `## Connections (${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC)`,
    "",
    `\`node bench/connections.mjs ${process.argv.slice(2).join(" ")}\`: rooms of ${o["per-room"]}, ${o.procs} client processes, idle ${o["idle-s"]} s, 1 % active ${o["active-s"]} s.`,
    "",
    "| runtime | server | held | connects/s | KB/conn | RSS MB | idle CPU, % core per 10k | broadcast p50/p99 ms | 1 % active: CPU cores, p99 ms |",
    "|---|---|---:|---:|---:|---:|---:|---:|---:|",
  ];
  for (const r of rows) {
    if (r.error) lines.push(`| ${r.runtime} | ${r.side} | FAILED: ${r.error} ||||||`);
    else
      lines.push(
        `| ${r.runtime} | ${r.side} | ${r.held}/${r.connections} | ${Math.round(r.connectsPerS)} | ${f(2)(r.kbPerConn)} | ${f(0)(r.rssMB)} | ${f(2)(r.idleCpuPer10k)} | ${f(1)(r.probe.p50)} / ${f(1)(r.probe.p99)} | ${f(2)(r.activeCpu)}, ${f(1)(r.activeP99)} |`,
      );
  }
  const notes = rows.filter((r) => r.failures || r.closes || r.stderr?.length);
  if (notes.length)
    lines.push(
      "",
      ...notes.map(
        (r) =>
          `- ${r.runtime} ${r.side}: ${r.failures} failed (${r.firstFailure ?? "–"}), ${r.closes} closed, stderr: ${r.stderr.join(" | ")}`,
      ),
    );
  const text = lines.join("\n");
  console.log(text);
  mkdirSync(join(ROOT, ".bench"), { recursive: true });
  writeFileSync(join(ROOT, ".bench/connections.md"), `${text}\n`);
  writeFileSync(join(ROOT, ".bench/connections.json"), `${JSON.stringify({ opts: o, rows }, null, 2)}\n`);
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(`connections: ${err?.message ?? err}`);
    process.exit(1);
  },
);
