import { spawn, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import { probe } from "./services.ts";

/**
 * A private, memory-only `redis-server` on a free loopback port, for tests that restart Redis (and so
 * lose every key) without touching the shared one. Only the process started here is ever signalled.
 */
export interface PrivateRedis {
  readonly url: string;
  /** SIGKILL the server: every key is gone, clients see the connection drop. */
  kill(): Promise<void>;
  /** Start it again on the same port, empty. */
  start(): Promise<void>;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Undefined when no `redis-server` binary is on PATH. */
export async function startPrivateRedis(): Promise<PrivateRedis | undefined> {
  const port = await freePort();
  let child: ChildProcess | undefined;
  const url = `redis://127.0.0.1:${port}`;

  const start = async () => {
    const proc = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], {
      stdio: "ignore",
    });
    const failed = await new Promise<boolean>((resolve) => {
      proc.once("error", () => resolve(true));
      proc.once("spawn", () => resolve(false));
    });
    if (failed) throw new Error("redis-server is not installed");
    child = proc;
    for (let i = 0; i < 100; i++) {
      if (!(await probe(url, 200))) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`private redis-server on port ${port} did not accept connections`);
  };
  const kill = async () => {
    const proc = child;
    child = undefined;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((r) => proc.once("exit", r));
    proc.kill("SIGKILL");
    await exited;
  };
  try {
    await start();
  } catch {
    return undefined;
  }
  return { url, kill, start, stop: kill };
}
