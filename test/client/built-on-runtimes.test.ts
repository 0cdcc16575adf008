/**
 * The built client runs under Node, Bun and Deno (each runtime's own WebSocket; `ws` on Node 20) against
 * a real server that is killed and restarted mid-run: test/fixtures/client-script.ts.
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { commands, type Runtime } from "../fixtures/child.ts";
import { startRestartable, type RestartableServer } from "../helpers/restartable.ts";

const root = fileURLToPath(new URL("../", import.meta.url));
const script = fileURLToPath(new URL("../fixtures/client-script.ts", import.meta.url));

describe("the client under each runtime", () => {
  let server: RestartableServer | undefined;
  afterEach(async () => {
    await server?.kill();
  });

  for (const runtime of ["node", "bun", "deno"] as Runtime[]) {
    it(`runs under ${runtime}: resting presence, events and chat, then rejoins by itself after the server restarts`, async () => {
      server = await startRestartable("node");
      const [command, ...args] = [...commands[runtime].slice(0, -1), script];
      const child = spawn(command!, args, {
        cwd: root,
        env: { ...process.env, OLS_URL: server.wsUrl, NO_COLOR: "1" },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let out = "";
      const phase = (name: string) =>
        new Promise<any>((resolve, reject) => {
          const check = () => {
            const m = new RegExp(`^${name} (.*)$`, "m").exec(out);
            if (m) resolve(JSON.parse(m[1]!));
          };
          child.stdout!.on("data", (chunk: Buffer) => {
            out += chunk.toString();
            check();
          });
          child.stderr!.on("data", (chunk: Buffer) => (out += chunk.toString()));
          child.once("exit", (code) => reject(new Error(`client exited (${code}) before ${name}:\n${out}`)));
          check();
        });
      const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
      try {
        const first = await phase("PHASE1");
        expect(first).toEqual({ runtime, resting: { x: 29 }, name: `A on ${runtime}`, events: [{ payload: { n: 1 }, from: true }] });
        await server.restart();
        const second = await phase("PHASE2");
        expect(second).toEqual({ presence: { x: 29 }, name: `A on ${runtime}`, messages: ["hello", "after the restart"] });
        expect(await exited).toBe(0);
      } finally {
        if (child.exitCode === null) child.kill("SIGKILL");
      }
    });
  }
});
