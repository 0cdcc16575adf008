// The child processes a bench script drives: servers that print `READY <port>` (bench/README.md's
// contract) and one or more bench/load-client.mjs forks per run. Every child is killed when the script exits.
import { fork, spawn, spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Latency } from "./histogram.mjs";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");

const children = new Set();
process.on("exit", () => {
  for (const c of children) c.kill("SIGKILL");
});

/**
 * Starts `node --expose-gc bench/servers/<file>` with `env` added; resolves once it printed READY.
 * `raiseFileLimit` raises the open-files limit first (thousands of sockets). BENCH_NODE_ARGS adds node flags
 * to every server (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`, which NODE_OPTIONS refuses).
 */
export function startServer(file, env = {}, { raiseFileLimit = false, label = file } = {}) {
  const extra = process.env.BENCH_NODE_ARGS?.split(" ").filter(Boolean) ?? [];
  const node = [process.execPath, "--expose-gc", ...extra, join(ROOT, "bench/servers", file)];
  const [cmd, ...args] = raiseFileLimit ? ["bash", "-c", 'ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$0" "$@"', ...node] : node;
  const child = spawn(cmd, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ["pipe", "pipe", "pipe"] });
  children.add(child);
  child.on("exit", () => children.delete(child));
  const stderr = [];
  child.stderr.setEncoding("utf8").on("data", (d) => stderr.length < 10 && stderr.push(d.trim().slice(0, 300)));
  child.stdin.on("error", () => {});
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${label} not READY in 60 s: ${stderr.join(" | ")}`)), 60_000);
    let buf = "";
    child.stdout.setEncoding("utf8").on("data", (d) => {
      buf += d;
      const m = /^READY (\d+)$/m.exec(buf);
      if (m) clearTimeout(timer), resolve({ child, pid: child.pid, port: Number(m[1]), stderr });
    });
    child.once("exit", (code) => reject(new Error(`${label} exited (${code}) before READY: ${stderr.join(" | ")}`)));
  });
}

/**
 * Pins `pid` (every thread) to the CPUs in `cpus` ("0", "1", "0-1"): scale-out's `--pin` gives the servers
 * one core and the load client the other, so a second instance competes with the first, not with the load.
 */
export function pin(pid, cpus) {
  const r = spawnSync("taskset", ["-apc", cpus, String(pid)], { stdio: "ignore" });
  if (r.status !== 0) throw new Error(`taskset -apc ${cpus} ${pid} failed (${r.error?.message ?? `exit ${r.status}`})`);
}

export async function stopServer(server) {
  if (server.child.exitCode !== null) return;
  const exited = new Promise((r) => server.child.once("exit", r));
  server.child.kill("SIGTERM");
  const t = setTimeout(() => server.child.kill("SIGKILL"), 4000);
  await exited;
  clearTimeout(t);
}

/**
 * Runs load-client scenario `load` against `servers` (the first is the one measured; `path` defaults to
 * /live); resolves to its result. `procs` > 1 spreads the clients over that many load processes (each a
 * share of the clients or rooms, see bench/load-client.mjs), started together and merged: counts and CPU
 * summed, latency histograms merged. A run that does not finish in `timeoutMs` is rejected with where
 * each process was (phase, clients connected and joined, messages sent and delivered so far).
 * `onWindow("start" | "end")` is called as the (first) load process opens and closes its measured window.
 */
export function runLoad(load, params, servers, timeoutMs = 120_000, { procs = 1, onWindow } = {}) {
  const kids = Array.from({ length: procs }, () =>
    fork(join(ROOT, "bench/load-client.mjs"), { stdio: ["ignore", "inherit", "inherit", "ipc"] }),
  );
  const results = new Array(procs);
  const statuses = new Array(procs);
  const progress = kids.map(() => ({ sent: 0, delivered: 0 }));
  const ready = new Set();
  let done = false;
  const killAll = () => {
    for (const k of kids) k.kill("SIGKILL");
  };
  return new Promise((resolve, reject) => {
    const finish = (settle) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      settle();
    };
    const timer = setTimeout(async () => {
      for (const k of kids) if (k.connected) k.send({ cmd: "status" });
      await new Promise((r) => setTimeout(r, 1000));
      killAll();
      const where = kids.map((_, i) => `${procs > 1 ? `process ${i + 1}: ` : ""}${results[i] ? "done" : describeStatus(statuses[i])}`);
      finish(() => reject(new Error(`load client timed out after ${timeoutMs / 1000} s (${where.join("; ")})`)));
    }, timeoutMs);
    const onMessage = (i, msg) => {
      const child = kids[i];
      if (msg.type === "checkpoint") {
        if (msg.name !== "ready") return child.send({ type: "ack", data: {} });
        ready.add(i);
        const startAt = Date.now() + 50;
        if (ready.size === procs) for (const k of kids) k.send({ type: "ack", data: { startAt } });
      } else if (msg.type === "progress") {
        // Each process gets the sum of the others' counts (fan-out's sender paces on every receiver).
        progress[i] = msg;
        for (let j = 0; j < procs; j++) {
          if (j === i || !kids[j].connected) continue;
          const others = progress.filter((_, k) => k !== j);
          kids[j].send({
            type: "progress",
            sent: others.reduce((a, p) => a + p.sent, 0),
            delivered: others.reduce((a, p) => a + p.delivered, 0),
          });
        }
      } else if (msg.type === "status") statuses[i] = msg.status;
      else if (msg.type === "window" && i === 0) onWindow?.(msg.edge);
      else if (msg.type === "result") {
        if (msg.error) {
          killAll();
          return finish(() => reject(new Error(procs > 1 ? `load process ${i + 1} of ${procs}: ${msg.error}` : msg.error)));
        }
        results[i] = msg.result;
        if (results.filter(Boolean).length === procs) finish(() => resolve(procs === 1 ? results[0] : mergeResults(results, load, params)));
      }
    };
    kids.forEach((child, i) => {
      children.add(child);
      child.on("message", (msg) => onMessage(i, msg));
      child.on("exit", (code) => {
        children.delete(child);
        if (!results[i]) finish(() => (killAll(), reject(new Error(`load process ${i + 1} exited (${code}) without a result`))));
      });
    });
    const siblings = kids.map((k) => k.pid);
    for (const [i, child] of kids.entries())
      child.send({
        cmd: "run",
        scenario: load,
        targets: servers.map((s) => ({ host: "127.0.0.1", port: s.port, path: s.path ?? "/live" })),
        params,
        serverPid: servers[0].pid,
        serverPids: servers.map((s) => s.pid),
        clientKind: "raw",
        share: procs > 1 ? { index: i, of: procs } : undefined,
        siblings,
      });
  });
}

const describeStatus = (s) =>
  s
    ? `in ${s.phase}, ${s.connected} connected, ${s.joined} joined${s.sent !== undefined ? `, ${s.sent} sent, ${s.delivered} of ${s.expected} delivered` : ""}`
    : "no answer";

/** Several load processes' results as one: counts and client CPU summed, histograms merged, the rest from the first. */
function mergeResults(results, load, params) {
  const sum = (get) => results.reduce((a, r) => a + (get(r) ?? 0), 0);
  const latency = new Latency(results[0].histograms.targets.length);
  for (const r of results) latency.merge(r.histograms);
  const sent = sum((r) => r.totals.sent);
  const delivered = sum((r) => r.totals.delivered);
  // Fan-out: only the sender's process knows what was sent; every receiver should have had each message.
  const expected = load === "fanout" ? sent * params.receivers : sum((r) => r.totals.expected);
  const counted = (key) => {
    const out = {};
    for (const r of results) for (const [k, v] of Object.entries(r[key] ?? {})) out[k] = (out[k] ?? 0) + v;
    return out;
  };
  const { histograms, ...first } = results[0];
  return {
    ...first,
    procs: results.length,
    deliveriesPerSec: sum((r) => r.deliveriesPerSec),
    sentPerSec: sum((r) => r.sentPerSec),
    clientCpu: sum((r) => r.clientCpu),
    clientCpus: results.map((r) => r.clientCpu),
    totals: { sent, delivered, expected },
    undelivered: expected - delivered,
    latency: latency.summary(),
    latencyByTarget: latency.byTarget(),
    closes: counted("closes"),
    errors: counted("errors"),
    unexpectedFrames: sum((r) => r.unexpectedFrames),
    closedClients: sum((r) => r.closedClients),
  };
}
