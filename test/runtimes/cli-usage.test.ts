/** The CLI as a first-time user meets it: mistakes on the command line, --help, --version, the banner, npm start. */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync, existsSync, copyFileSync } from "node:fs";
import { createServer as createNetServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { nearestFlag, parseCommandLine, settingsFromCli } from "../../adapters/cli/cli-config.ts";
import { TestClient } from "../helpers/client.ts";

const ROOT = join(import.meta.dirname, "..", "..");
const CLI = join(ROOT, "dist", "cli.js");
const VERSION = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).version as string;
const children = new Set<ChildProcess>();
const dirs: string[] = [];

afterAll(() => {
  for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** Run the built CLI to its end (for commands that do not start a server). */
function runToEnd(args: string[], env: Record<string, string> = {}) {
  const result = spawnSync(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, encoding: "utf8", timeout: 20_000 });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** A port on 127.0.0.1 that nothing listens on (just closed). */
async function closedPort(): Promise<number> {
  const probe = createNetServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

async function until(check: () => boolean, what: string, output: () => string): Promise<void> {
  for (let i = 0; i < 400 && !check(); i++) await new Promise((r) => setTimeout(r, 50));
  if (!check()) throw new Error(`timed out waiting for ${what}; output:\n${output()}`);
}

describe("the command line", () => {
  it("exits 2 with one line naming an unknown flag and the nearest known one", () => {
    const typo = runToEnd(["--prot", "3001"]);
    expect(typo.code).toBe(2);
    expect(typo.stdout).toBe("");
    expect(typo.stderr).toBe("openlivesync: unknown option --prot; did you mean --port?\n");

    const bogus = runToEnd(["--bogus"]);
    expect(bogus.code).toBe(2);
    expect(bogus.stderr).toBe("openlivesync: unknown option --bogus (see --help)\n");
  });

  it("suggests the flag a typo was meant to be, and nothing for a word far from every flag", () => {
    expect(nearestFlag("prot")).toBe("port");
    expect(nearestFlag("storgae")).toBe("storage");
    expect(nearestFlag("webhook-ur")).toBe("webhook-url");
    expect(nearestFlag("allowed-origins")).toBe("allowed-origin");
    expect(nearestFlag("versoin")).toBe("version");
    expect(nearestFlag("bogus")).toBeUndefined();
    expect(() => parseCommandLine(["--port"])).toThrow("--port needs a value");
    expect(() => parseCommandLine(["3000"])).toThrow('unexpected argument "3000"');
    expect(parseCommandLine(["--port=3001", "--allowed-origin", "a", "--allowed-origin", "b"])).toEqual({
      kind: "serve",
      args: { port: "3001", "allowed-origin": ["a", "b"] },
    });
  });

  it("prints the package's version with --version and exits 0", () => {
    for (const flag of ["--version", "-v"]) {
      const result = runToEnd([flag]);
      expect(result.code).toBe(0);
      expect(result.stdout).toBe(`${VERSION}\n`);
    }
  });

  it("prints --help within 100 columns and without colour, piped or with NO_COLOR", () => {
    for (const env of [{}, { NO_COLOR: "1" }, { FORCE_COLOR: "1" }] as Record<string, string>[]) {
      const result = runToEnd(["--help"], env);
      expect(result.code).toBe(0);
      const lines = result.stdout.trimEnd().split("\n");
      expect(Math.max(...lines.map((line) => line.length))).toBeLessThanOrEqual(100);
      expect(result.stdout).not.toContain("\u001b[");
      expect(result.stdout).toContain("--webhook-url <value>");
      expect(result.stdout).toContain("[WEBHOOK_URL]");
    }
  });

  it.each([
    [["--port", "70000"], '--port must be a port number from 0 to 65535, got "70000"'],
    [["--monitoring", "maybe"], '--monitoring must be on, off, or a port number from 0 to 65535, got "maybe"'],
    [["--host", "999.1.1.1"], '--host must be an IP address (127.0.0.1, 0.0.0.0, ::) or a host name, got "999.1.1.1"'],
  ])("refuses %j with one line naming the flag", (args, message) => {
    const result = runToEnd(args);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(`openlivesync: ${message}\n`);
  });

  it("accepts the host forms a user writes", async () => {
    for (const host of ["127.0.0.1", "0.0.0.0", "::", "::1", "localhost", "my-host.internal"]) {
      const settings = await settingsFromCli({ host }, {});
      expect(settings.hostname).toBe(host);
      await settings.options.chat?.storage?.close?.();
    }
  });

  it("names --port when the port is in use", async () => {
    const busy = createNetServer();
    await new Promise<void>((resolve) => busy.listen(0, "127.0.0.1", resolve));
    const { port } = busy.address() as AddressInfo;
    const result = runToEnd(["--port", String(port)]);
    busy.close();
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(`openlivesync: --port ${port}: the port is already in use on 127.0.0.1; choose another\n`);
  });
});

describe("a running CLI", () => {
  it("shows the webhook target in its banner, and reports a receiver that is down in one line, not a stack trace", async () => {
    const port = await closedPort();
    const child = spawn(
      process.execPath,
      [CLI, "--port", "0", "--webhook-url", `http://127.0.0.1:${port}/hooks?token=hidden`, "--webhook-secret", "s"],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    children.add(child);
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (chunk: Buffer) => (stdout += chunk));
    child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk));
    const output = () => `${stdout}\n--- stderr ---\n${stderr}`;
    await until(() => /WebSocket endpoint: ws:\/\/[^:]+:(\d+)/.test(stdout), "the banner", output);
    expect(stdout).toContain(
      `Webhooks: POST to http://127.0.0.1:${port}/hooks (member.joined, member.left, room.emptied, chat.stored, chat.deleted, document.updated)`,
    );
    expect(stdout).not.toContain("hidden");

    const wsPort = /WebSocket endpoint: ws:\/\/[^:]+:(\d+)/.exec(stdout)![1];
    const client = new TestClient(`ws://127.0.0.1:${wsPort}/live`);
    await client.join("r");
    await until(() => stderr.includes("webhook failed"), "the webhook failure report", output);
    const lines = stderr.trimEnd().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^\[openlivesync\] webhook failed: WebhookError WEBHOOK_RETRYING: .*ECONNREFUSED/);
    client.close();
    child.kill("SIGTERM");
    await new Promise((resolve) => child.once("exit", resolve));
  });
});

describe("npm start's prestart (scripts/build-if-stale.mjs)", () => {
  /** A copy of the script in a project of its own, with a tsdown stand-in that records that it ran. */
  function project(tsdownExit = 0) {
    const dir = mkdtempSync(join(tmpdir(), "ols-prestart-"));
    dirs.push(dir);
    for (const sub of ["scripts", "src", "adapters", "dist", "node_modules/tsdown"]) mkdirSync(join(dir, sub), { recursive: true });
    copyFileSync(join(ROOT, "scripts", "build-if-stale.mjs"), join(dir, "scripts", "build-if-stale.mjs"));
    writeFileSync(join(dir, "package.json"), "{}");
    writeFileSync(join(dir, "tsdown.config.ts"), "");
    writeFileSync(join(dir, "src", "index.ts"), "");
    writeFileSync(join(dir, "adapters", "cli.ts"), "");
    writeFileSync(join(dir, "node_modules", "tsdown", "package.json"), JSON.stringify({ bin: { tsdown: "./run.mjs" } }));
    writeFileSync(
      join(dir, "node_modules", "tsdown", "run.mjs"),
      `import { writeFileSync } from "node:fs"; writeFileSync(${JSON.stringify(join(dir, "built"))}, "yes"); console.log("tsdown says hi"); process.exit(${tsdownExit});`,
    );
    const set = (path: string, seconds: number) => utimesSync(join(dir, path), seconds, seconds);
    const run = () => spawnSync(process.execPath, [join(dir, "scripts", "build-if-stale.mjs")], { encoding: "utf8" });
    return { dir, set, run, built: () => existsSync(join(dir, "built")) };
  }

  it("prints nothing and builds nothing when dist/ is newer than every source", () => {
    const p = project();
    writeFileSync(join(p.dir, "dist", "cli.js"), "");
    for (const path of ["package.json", "tsdown.config.ts", "src/index.ts", "adapters/cli.ts"]) p.set(path, 1_000);
    p.set("dist/cli.js", 2_000);
    const result = p.run();
    expect(result.status).toBe(0);
    expect(result.stdout + result.stderr).toBe("");
    expect(p.built()).toBe(false);
  });

  it("builds with a one-line note when a source changed after the build", () => {
    const p = project();
    writeFileSync(join(p.dir, "dist", "cli.js"), "");
    p.set("dist/cli.js", 2_000);
    p.set("adapters/cli.ts", 3_000);
    const result = p.run();
    expect(result.status).toBe(0);
    expect(result.stdout).toBe("Sources changed since the last build: building dist/…\n");
    expect(p.built()).toBe(true);
  });

  it("shows the build's output and fails when the build fails", () => {
    const p = project(3);
    const result = p.run();
    expect(result.status).toBe(3);
    expect(result.stdout).toContain("Building dist/ (first start)");
    expect(result.stderr).toContain("tsdown says hi");
  });
});
