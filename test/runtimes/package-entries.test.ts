import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { expect, it } from "vitest";

// Runs the built package (dist/, self-referenced through package.json "exports") under each runtime.
const root = join(import.meta.dirname, "..", "..");
const fixture = join(root, "test", "fixtures", "package-entries.ts");
const bin = (name: string) => join(root, "node_modules", ".bin", name);
const commands = {
  node: [process.execPath, "--import", join(root, "test", "fixtures", "ts-register.mjs"), fixture],
  bun: [bin("bun"), fixture],
  deno: [bin("deno"), "run", "-A", "--no-lock", fixture],
} as const;

const expected = {
  node: { main: "node.js", hono: "hono-node.js", mounts: "no websocket handlers" },
  bun: { main: "bun.js", hono: "hono-bun.js", mounts: "Bun websocket handlers" },
  deno: { main: "deno.js", hono: "hono-deno.js", mounts: "no websocket handlers" },
} as const;

const API = ["chatHistory", "disconnect", "presence", "publish", "rooms", "sendChat"];

for (const runtime of ["node", "bun", "deno"] as const) {
  it(`resolves ./hono and the main entry to ${runtime}'s mount through export conditions`, () => {
    const [command, ...args] = commands[runtime];
    const out = execFileSync(command, args, { cwd: root, encoding: "utf8", timeout: 30_000 });
    const result = JSON.parse(out.trim().split("\n").at(-1)!);
    const { main, hono, mounts } = expected[runtime];
    expect(result).toEqual({
      resolved: { main, hono, engine: "engine.js" },
      mounts: { hono: mounts, main: mounts },
      engineExports: ["createLiveEngine", "createLoopFanout"],
      handleApis: { hono: API, main: API, hooks: API },
      serverExports: ["SERVER_CONNECTION_ID", "CallbackError", "HookError"],
    });
  });
}
