import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("../../", import.meta.url));
const fixture = "test/fixtures/sqlite-runtime-check.ts";

function run(command: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { cwd: root, timeout: 60_000, env: { ...process.env, NO_COLOR: "1" } }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${command} ${args.join(" ")} failed: ${error.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

/** Like `run`, with stderr too: `bun test` reports on stderr. Rejects when the runner exits non-zero. */
function runAll(command: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { cwd: root, timeout: 120_000, env: { ...process.env, NO_COLOR: "1" } }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${command} ${args.join(" ")} failed: ${error.message}\n${stdout}\n${stderr}`));
      else resolve(`${stdout}\n${stderr}`);
    });
  });
}

const runtimes = [
  { name: "Bun", driver: "bun:sqlite", bin: `${root}node_modules/.bin/bun`, args: [fixture] },
  { name: "Deno", driver: "node:sqlite", bin: `${root}node_modules/.bin/deno`, args: ["run", "-A", fixture] },
];

describe("SQLite chat storage on other runtimes", () => {
  for (const runtime of runtimes) {
    it.runIf(existsSync(runtime.bin))(`stores and pages history on ${runtime.name} with ${runtime.driver}`, async () => {
      const out = await run(runtime.bin, runtime.args);
      const result = JSON.parse(out.trim().split("\n").at(-1)!);
      expect(result.driver).toBe(runtime.driver);
      expect(result.journal).toStrictEqual([{ journal_mode: "wal" }]);
      expect(result.messages).toStrictEqual(["m0 🎉", "m1 🎉", "m2 🎉", "m3 🎉", "m4 🎉"]);
      expect(result.page).toStrictEqual(["m2 🎉", "m3 🎉"]);
      expect(result.persisted).toBe(5);
      expect(result.first).toMatchObject({
        roomId: "room-1",
        userId: "u1",
        metadata: { nested: { ok: true } },
        createdAt: 1_700_000_000_000,
      });
      expect(result.first).not.toHaveProperty("name");
    });
  }
});

// The whole ChatStorage contract (test/storage/sqlite.test.ts) under each runtime's own test runner:
// `bun test` maps vitest's API itself; `deno test` gets it from test/helpers/vitest-on-deno.ts.
const contractRuns = [
  { name: "Bun", driver: "bun:sqlite", bin: `${root}node_modules/.bin/bun`, args: ["test", "test/storage/sqlite.test.ts"] },
  {
    name: "Deno",
    driver: "node:sqlite",
    bin: `${root}node_modules/.bin/deno`,
    args: ["test", "-A", "--no-check", "--import-map=test/helpers/deno-import-map.json", "test/storage/sqlite.test.ts"],
  },
];

describe("ChatStorage contract on SQLite under other runtimes", () => {
  for (const runtime of contractRuns) {
    it.runIf(existsSync(runtime.bin))(`passes on ${runtime.name} with ${runtime.driver}`, async () => {
      const output = await runAll(runtime.bin, runtime.args);
      expect(output).toMatch(/pages back with getHistoryBefore/);
      expect(output).toMatch(/two instances race/);
      expect(output).not.toMatch(/\(fail\)|FAILED/);
    });
  }
});
