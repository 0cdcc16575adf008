import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { probe } from "./services.ts";

/**
 * A private 3-master Redis Cluster on loopback ports, memory only, in its own temp dir: started with
 * `redis-server --cluster-enabled yes` and `redis-cli --cluster create`, stopped by PID. A node can be
 * killed (SIGKILL) and started again: it keeps its slots (its nodes.conf survives) and comes back empty.
 * Set REDIS_CLUSTER_URL (`redis://127.0.0.1:7000,…`) to use a running cluster instead (no kill/restart then).
 */
export interface PrivateRedisCluster {
  /** Startup node URLs, comma-separated, as `--redis` takes them. */
  readonly url: string;
  readonly ports: readonly number[];
  /** SIGKILL node `i`. */
  kill(i: number): Promise<void>;
  /** Start node `i` again (empty) and wait until the cluster serves all slots. */
  start(i: number): Promise<void>;
  /** Every node serves its slots (`cluster_state:ok`). */
  waitOk(): Promise<void>;
  stop(): Promise<void>;
  /** The port of the master that serves `key`'s slot. */
  portOf(key: string): number;
  /** Started here: nodes can be killed and restarted. */
  readonly canRestart: boolean;
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

/** Three ports whose cluster-bus ports (+10000) are free too. */
async function freePorts(): Promise<number[]> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20000 + Math.floor(Math.random() * 30000);
    const ports = [base, base + 1, base + 2];
    const all = await Promise.all([...ports, ...ports.map((p) => p + 10000)].map(portFree));
    if (all.every(Boolean)) return ports;
  }
  throw new Error("no free ports for a Redis Cluster");
}

const cli = (port: number, ...args: string[]) =>
  spawnSync("redis-cli", ["-h", "127.0.0.1", "-p", String(port), ...args], { encoding: "utf8", timeout: 20_000 });

/** Undefined when `redis-server`/`redis-cli` are not installed. */
export async function startPrivateRedisCluster(): Promise<PrivateRedisCluster | undefined> {
  if (spawnSync("redis-cli", ["--version"]).status !== 0) return undefined;
  const given = process.env.REDIS_CLUSTER_URL;
  if (given) return runningCluster(given);
  const ports = await freePorts();
  const dir = mkdtempSync(join(tmpdir(), "ols-cluster-"));
  const children: (ChildProcess | undefined)[] = [];

  const start = async (i: number) => {
    const port = ports[i]!;
    const args = ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir];
    args.push("--cluster-enabled", "yes", "--cluster-config-file", `nodes-${port}.conf`, "--cluster-node-timeout", "2000");
    // One shard down must not stop the others: rooms on the other shards "never notice".
    args.push("--cluster-require-full-coverage", "no");
    const proc = spawn("redis-server", args, { stdio: "ignore" });
    await new Promise<void>((resolve, reject) => {
      proc.once("error", reject);
      proc.once("spawn", () => resolve());
    });
    children[i] = proc;
    for (let n = 0; n < 100; n++) {
      if (!(await probe(`redis://127.0.0.1:${port}`, 200))) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`cluster node on port ${port} did not accept connections`);
  };
  const kill = async (i: number) => {
    const proc = children[i];
    children[i] = undefined;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((r) => proc.once("exit", r));
    proc.kill("SIGKILL");
    await exited;
  };
  const waitOk = async () => {
    for (let n = 0; n < 200; n++) {
      if (ports.every((port) => /cluster_state:ok/.test(cli(port, "cluster", "info").stdout ?? ""))) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error("the Redis Cluster did not reach cluster_state:ok");
  };
  const stop = async () => {
    await Promise.all(ports.map((_, i) => kill(i)));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < ports.length; i++) await start(i);
    const create = cli(ports[0]!, "--cluster", "create", ...ports.map((p) => `127.0.0.1:${p}`), "--cluster-replicas", "0", "--cluster-yes");
    if (create.status !== 0) throw new Error(`redis-cli --cluster create failed: ${create.stderr}${create.stdout}`);
    await waitOk();
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    url: ports.map((p) => `redis://127.0.0.1:${p}`).join(","),
    ports,
    canRestart: true,
    kill,
    start: async (i) => {
      await start(i);
      await waitOk();
    },
    waitOk,
    stop,
    portOf: (key) => portOf(ports[0]!, key),
  };
}

/** A cluster someone else runs: used as is, never killed or stopped. */
function runningCluster(url: string): PrivateRedisCluster {
  const ports = url.split(",").map((u) => Number(new URL(u.trim()).port));
  const refuse = async () => {
    throw new Error("REDIS_CLUSTER_URL names a cluster this test did not start: it is not killed or restarted");
  };
  return {
    url,
    ports,
    canRestart: false,
    kill: refuse,
    start: refuse,
    waitOk: async () => {},
    stop: async () => {},
    portOf: (key) => portOf(ports[0]!, key),
  };
}

/** The port of the master that serves `key`'s slot, asked of the node at `port`. */
function portOf(node: number, key: string): number {
  const slot = Number(cli(node, "cluster", "keyslot", key).stdout.trim());
  const lines = cli(node, "cluster", "slots").stdout.trim().split("\n");
  // redis-cli prints each range flattened, one value a line: start, end, ip, port, node id.
  for (let at = 0; at + 3 < lines.length; ) {
    const [from, to, port] = [Number(lines[at]), Number(lines[at + 1]), Number(lines[at + 3])];
    if (slot >= from && slot <= to) return port;
    at += 5;
    while (at < lines.length && !/^\d+$/.test(lines[at]!)) at++;
  }
  throw new Error(`no node serves slot ${slot}`);
}
