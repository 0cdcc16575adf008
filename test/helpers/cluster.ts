import { spawn, type ChildProcess } from "node:child_process";
import { resolve } from "node:path";
import { createInterface } from "node:readline";
import { TestClient } from "./client.ts";

const root = resolve(import.meta.dirname, "../..");
const FIXTURE = resolve(root, "test/fixtures/cluster-instance.mjs");

/** The built package (`npm test` runs tsdown before vitest): instances run the real Node entry. */
export const DIST = resolve(root, "dist");

export interface InstanceConfig {
  redisUrl: string;
  prefix: string;
  heartbeatMs?: number;
  ttlMs?: number;
  presenceThrottleMs?: number;
  /** Redis Cluster: announced node address → where this instance reaches it (e.g. through a proxy). */
  natMap?: Record<string, { host: string; port: number }>;
  /** `false`: the instance runs without room streams. */
  streams?: false;
  /** Shared documents: a storage URL (default: in memory, per process) and SQL table, write window, unload grace. */
  documents?: { storageUrl?: string; tableName?: string; writeWindowMs?: number; unloadAfterMs?: number };
}

export interface Instance {
  readonly pid: number;
  readonly port: number;
  readonly wsUrl: string;
  readonly instanceId: string;
  /** onError reports the instance printed, oldest first. */
  readonly errors: { error: string; code?: string; stage: string }[];
  readonly exited: Promise<number | null>;
  /** SIGKILL: no cleanup at all. */
  kill9(): void;
  /** SIGTERM: clean shutdown; resolves when the process exited. */
  stop(): Promise<void>;
}

/** Starts one instance as a Node child process and waits until it listens and is announced. */
export function startInstance(dist: string, config: InstanceConfig, timeoutMs = 20_000): Promise<Instance> {
  const child: ChildProcess = spawn(process.execPath, [FIXTURE, JSON.stringify(config)], {
    env: { ...process.env, OLS_DIST: dist, OLS_DIST_EXT: ".js" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const errors: Instance["errors"] = [];
  let stderr = "";
  child.stderr!.on("data", (chunk) => (stderr = (stderr + chunk).slice(-4000)));
  const exited = new Promise<number | null>((done) => child.once("exit", (code) => done(code)));
  return new Promise((resolveStart, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`instance did not start within ${timeoutMs} ms; stderr: ${stderr}`));
    }, timeoutMs);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`instance exited with ${code} before it was ready; stderr: ${stderr}`));
    });
    createInterface({ input: child.stdout! }).on("line", (text) => {
      let msg: any;
      try {
        msg = JSON.parse(text);
      } catch {
        return;
      }
      if (msg.error !== undefined) errors.push(msg);
      if (msg.ready) {
        clearTimeout(timer);
        resolveStart({
          pid: child.pid!,
          port: msg.port,
          wsUrl: `ws://127.0.0.1:${msg.port}/live`,
          instanceId: msg.instanceId,
          errors,
          exited,
          kill9: () => void child.kill("SIGKILL"),
          stop: async () => {
            if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
            await exited;
          },
        });
      }
    });
  });
}

/**
 * The instances and raw clients a group of tests starts, kept for its clean-up: `start` runs an instance
 * with the group's settings (read at each start, so a prefix may change per test) and `config`'s,
 * `client` opens a TestClient on one.
 */
export function instanceGroup(settings: () => InstanceConfig, dist = DIST) {
  const instances: Instance[] = [];
  const clients: TestClient[] = [];
  return {
    instances,
    clients,
    async start(config: Partial<InstanceConfig> = {}): Promise<Instance> {
      const instance = await startInstance(dist, { ...settings(), ...config });
      instances.push(instance);
      return instance;
    },
    async client(on: Instance): Promise<TestClient> {
      const c = new TestClient(on.wsUrl);
      clients.push(c);
      await c.opened;
      return c;
    },
  };
}
