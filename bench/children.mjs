// The child processes a bench script drives: servers that print `READY <port>` (bench/README.md's
// contract) and one bench/load-client.mjs fork per run. Every child is killed when the script exits.
import { fork, spawn, spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

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

/** Runs load-client scenario `load` against `servers` (the first is the one measured; `path` defaults to /live); resolves to its result. */
export function runLoad(load, params, servers, timeoutMs = 120_000) {
  const child = fork(join(ROOT, "bench/load-client.mjs"), { stdio: ["ignore", "inherit", "inherit", "ipc"] });
  children.add(child);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => (child.kill("SIGKILL"), reject(new Error(`load client timed out after ${timeoutMs / 1000} s`))),
      timeoutMs,
    );
    child.on("message", (msg) => {
      if (msg.type === "checkpoint") child.send({ type: "ack", data: {} });
      else if (msg.type === "result") {
        clearTimeout(timer);
        msg.error ? reject(new Error(msg.error)) : resolve(msg.result);
      }
    });
    child.on("exit", () => children.delete(child));
    child.send({
      cmd: "run",
      scenario: load,
      targets: servers.map((s) => ({ host: "127.0.0.1", port: s.port, path: s.path ?? "/live" })),
      params,
      serverPid: servers[0].pid,
      serverPids: servers.map((s) => s.pid),
      clientKind: "raw",
    });
  });
}
