import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, unlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, expect, it } from "vitest";

const root = fileURLToPath(new URL("../../", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "ols-nodrivers-"));
const link = join(dir, "node_modules", "drizzle-orm");

afterAll(() => {
  // Unlink the symlink itself first: nothing may ever recurse through it into the repo's node_modules.
  try {
    unlinkSync(link);
  } catch {}
  rmSync(dir, { recursive: true, force: true });
});

const exec = (command: string, args: string[], cwd: string) =>
  new Promise<string>((resolve, reject) =>
    execFile(command, args, { cwd, timeout: 60_000 }, (error, stdout, stderr) =>
      error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(stdout),
    ),
  );

it("imports without the optional drivers, and each adapter names the package to install", async () => {
  // Build first, into a sibling of node_modules: tsdown empties its output directory, and must never
  // meet the symlink below.
  await exec(
    join(root, "node_modules/.bin/tsdown"),
    ["test/fixtures/missing-drivers.ts", "-d", join(dir, "out"), "--no-dts", "--logLevel", "silent"],
    root,
  );
  mkdirSync(join(dir, "node_modules"));
  symlinkSync(join(root, "node_modules", "drizzle-orm"), link);
  // --preserve-symlinks: drizzle-orm resolves its own imports from dir/node_modules too, where no driver is.
  const out = await exec(process.execPath, ["--preserve-symlinks", join(dir, "out", "missing-drivers.js")], dir);
  const result = JSON.parse(out.trim().split("\n").at(-1)!);
  expect(result.postgres).toMatchObject({
    name: "MissingDriverError",
    code: "MISSING_DRIVER",
    message: expect.stringContaining("npm install postgres"),
  });
  expect(result.mysql).toMatchObject({
    name: "MissingDriverError",
    code: "MISSING_DRIVER",
    message: expect.stringContaining("npm install mysql2"),
  });
  expect(result.sqlite).toMatchObject({
    name: "MissingDriverError",
    code: "MISSING_DRIVER",
    message: expect.stringContaining("npm install better-sqlite3@12"),
  });
});
