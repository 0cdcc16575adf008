// A private Redis Cluster for the benches, started as test/helpers/redis-cluster.ts does: `masters`
// `redis-server --cluster-enabled yes` on loopback at random free ports (and their bus ports +10000),
// memory only, in a temp dir, joined by `redis-cli --cluster create`; stopped by PID.
//   import { startRedisCluster } from "./redis-cluster.mjs";  const c = await startRedisCluster(3); … c.stop()
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const portFree = (port) =>
  new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });

async function freePorts(n) {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20000 + Math.floor(Math.random() * 30000);
    const ports = Array.from({ length: n }, (_, i) => base + i);
    const all = await Promise.all([...ports, ...ports.map((p) => p + 10000)].map(portFree));
    if (all.every(Boolean)) return ports;
  }
  throw new Error("no free ports for a Redis Cluster");
}

const cli = (port, ...args) =>
  spawnSync("redis-cli", ["-h", "127.0.0.1", "-p", String(port), ...args], { encoding: "utf8", timeout: 20_000 });

/** Starts the cluster; resolves to `{ url, ports, pids, stop() }` (`url`: the masters, comma-separated). */
export async function startRedisCluster(masters = 3) {
  const ports = await freePorts(masters);
  const dir = mkdtempSync(join(tmpdir(), "ols-bench-cluster-"));
  const procs = [];
  const stop = async () => {
    await Promise.all(
      procs.map((p) => {
        if (p.exitCode !== null || p.signalCode !== null) return undefined;
        const exited = new Promise((r) => p.once("exit", r));
        p.kill("SIGKILL");
        return exited;
      }),
    );
    rmSync(dir, { recursive: true, force: true });
  };
  process.on("exit", () => {
    for (const p of procs) p.kill("SIGKILL");
  });
  try {
    for (const port of ports) {
      const args = ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir];
      args.push("--cluster-enabled", "yes", "--cluster-config-file", `nodes-${port}.conf`, "--cluster-node-timeout", "2000");
      procs.push(spawn("redis-server", args, { stdio: "ignore" }));
    }
    for (const port of ports) {
      let n = 0;
      while (cli(port, "ping").stdout?.trim() !== "PONG") {
        if (++n > 100) throw new Error(`cluster node on port ${port} did not answer`);
        await sleep(50);
      }
    }
    const create = cli(ports[0], "--cluster", "create", ...ports.map((p) => `127.0.0.1:${p}`), "--cluster-replicas", "0", "--cluster-yes");
    if (create.status !== 0) throw new Error(`redis-cli --cluster create failed: ${create.stderr}${create.stdout}`);
    for (let n = 0; !ports.every((p) => /cluster_state:ok/.test(cli(p, "cluster", "info").stdout ?? "")); n++) {
      if (n > 200) throw new Error("the Redis Cluster did not reach cluster_state:ok");
      await sleep(100);
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return { url: ports.map((p) => `redis://127.0.0.1:${p}`).join(","), ports, pids: procs.map((p) => p.pid), stop };
}
