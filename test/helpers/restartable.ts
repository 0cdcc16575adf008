/**
 * A fixture server in a child process that a test can kill (SIGKILL: no close frames, nothing flushed)
 * and start again on the same port, as a crashed and restarted deployment would be.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { commands, type Runtime } from "../fixtures/child.ts";
import type { FixtureOptions } from "../fixtures/options.ts";

const root = fileURLToPath(new URL("../../", import.meta.url));

export interface RestartableServer {
  readonly port: number;
  readonly wsUrl: string;
  readonly httpUrl: string;
  /** SIGKILL, and wait for the process to be gone. */
  kill(): Promise<void>;
  /** Start again on the same port (after `kill()` or `stop()`). */
  restart(): Promise<void>;
  /** SIGTERM: a graceful close (1001 to every socket). */
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of running) child.kill("SIGKILL");
});

function launch(runtime: Runtime, fixture: FixtureOptions): Promise<{ child: ChildProcess; port: number; exited: Promise<void> }> {
  const [command, ...args] = commands[runtime];
  const child = spawn(command!, args, {
    cwd: root,
    env: { ...process.env, OLS_FIXTURE: JSON.stringify(fixture), OLS_FIXTURE_MODE: "standalone", NO_COLOR: "1" },
    stdio: ["pipe", "pipe", "pipe"],
  });
  running.add(child);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  void exited.then(() => running.delete(child));
  let output = "";
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${runtime} server did not start:\n${output.slice(-2000)}`));
    }, 20_000);
    child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
      output += chunk;
      const match = /^READY (\d+)$/m.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve({ child, port: Number(match[1]), exited });
      }
    });
    child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${runtime} server exited early (${code}):\n${output.slice(-2000)}`));
    });
  });
}

export async function startRestartable(runtime: Runtime, fixture: FixtureOptions = {}): Promise<RestartableServer> {
  let current = await launch(runtime, fixture);
  const port = current.port;
  const path = fixture.path ?? "/live";
  const end = async (signal: NodeJS.Signals) => {
    if (current.child.exitCode === null && current.child.signalCode === null) current.child.kill(signal);
    await current.exited;
  };
  return {
    port,
    wsUrl: `ws://127.0.0.1:${port}${path}`,
    httpUrl: `http://127.0.0.1:${port}`,
    kill: () => end("SIGKILL"),
    stop: () => end("SIGTERM"),
    async restart() {
      await end("SIGKILL");
      current = await launch(runtime, { ...fixture, port });
    },
  };
}
