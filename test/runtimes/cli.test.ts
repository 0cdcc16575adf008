import { spawn, type ChildProcess } from "node:child_process";
import { createHmac } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { authFromCli, settingsFromCli } from "../../adapters/cli/cli-config.ts";
import { TestClient } from "../helpers/client.ts";
import { WebhookReceiver } from "../helpers/webhook-receiver.ts";
import type { RedisBackplane } from "../../src/cluster/redis-backplane.ts";

const CLI = join(import.meta.dirname, "..", "..", "dist", "cli.js");
const children = new Set<ChildProcess>();
const dir = mkdtempSync(join(tmpdir(), "ols-cli-"));

afterAll(() => {
  for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});

interface Started {
  child: ChildProcess;
  port: number;
  output: () => string;
  exited: Promise<number | null>;
}

const BIN = join(import.meta.dirname, "..", "..", "node_modules", ".bin");
/** How each runtime runs the built CLI: `node dist/cli.js`, `bun dist/cli.js`, `deno run -A dist/cli.js`. */
const RUNTIMES = {
  node: [process.execPath, CLI],
  bun: [join(BIN, "bun"), CLI],
  deno: [join(BIN, "deno"), "run", "-A", "--no-lock", CLI],
} as const;

/** Run the built CLI; resolves once it prints its WebSocket line (or exits). */
function runCli(args: string[], env: Record<string, string> = {}, runtime: keyof typeof RUNTIMES = "node"): Promise<Started> {
  const [cmd, ...pre] = RUNTIMES[runtime];
  const child = spawn(cmd, [...pre, ...args], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  children.add(child);
  let out = "";
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      const m = /WebSocket endpoint: ws:\/\/[^:]+:(\d+)/.exec(out);
      if (m) resolve({ child, port: Number(m[1]), output: () => out, exited });
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    exited.then((code) => resolve({ child, port: 0, output: () => out, exited: Promise.resolve(code) }));
    setTimeout(() => reject(new Error(`CLI did not start: ${out}`)), 20_000);
  });
}

describe("openlivesync CLI", () => {
  it("serves on the given port and path, prints its URLs, and stops cleanly on SIGTERM", async () => {
    const cli = await runCli(["--port", "0", "--path", "/rt"]);
    expect(cli.output()).toMatch(/listening on http:\/\/127\.0\.0\.1:\d+/);
    expect(await (await fetch(`http://127.0.0.1:${cli.port}/`)).text()).toBe("openlivesync");
    const c = new TestClient(`ws://127.0.0.1:${cli.port}/rt`);
    await c.join("r");
    cli.child.kill("SIGTERM");
    expect((await c.closed).code).toBe(1001);
    expect(await cli.exited).toBe(0);
    expect(cli.output()).toContain("openlivesync stopped");
  });

  for (const runtime of ["bun", "deno"] as const) {
    it(`runs under ${runtime} with the same flags, and stops cleanly on SIGTERM`, async () => {
      const cli = await runCli(["--port", "0", "--path", "/rt", "--history-limit", "5"], {}, runtime);
      expect(cli.output()).toMatch(/listening on http:\/\/127\.0\.0\.1:\d+/);
      expect(await (await fetch(`http://127.0.0.1:${cli.port}/`)).text()).toBe("openlivesync");
      const a = new TestClient(`ws://127.0.0.1:${cli.port}/rt`);
      const b = new TestClient(`ws://127.0.0.1:${cli.port}/rt`);
      await a.join("r");
      await b.join("r");
      a.send("send_chat", { message: "hi" });
      expect((await b.next("chat_message")).payload.message).toBe("hi");
      cli.child.kill("SIGTERM");
      expect((await a.closed).code).toBe(1001);
      expect(await cli.exited).toBe(0);
    });
  }

  it("serves the HTTP API under /api with --api-secret, and nothing there without it", async () => {
    const secret = "cli-api-secret-0123456789";
    const cli = await runCli(["--port", "0", "--api-secret", secret]);
    expect(cli.output()).toContain(`HTTP API: http://127.0.0.1:${cli.port}/api`);
    const c = new TestClient(`ws://127.0.0.1:${cli.port}/live`);
    await c.join("cli-room");
    const rooms = await fetch(`http://127.0.0.1:${cli.port}/api/rooms`, { headers: { authorization: `Bearer ${secret}` } });
    expect(await rooms.json()).toEqual({ rooms: [{ roomId: "cli-room", members: 1 }] });
    expect((await fetch(`http://127.0.0.1:${cli.port}/api/rooms`)).status).toBe(401);
    c.terminate();
    cli.child.kill("SIGTERM");
    expect(await cli.exited).toBe(0);
    const off = await runCli(["--port", "0"], { API_SECRET: "" });
    expect((await fetch(`http://127.0.0.1:${off.port}/api/rooms`, { headers: { authorization: `Bearer ${secret}` } })).status).toBe(404);
    off.child.kill("SIGTERM");
    await off.exited;
  });

  it("sends signed webhooks with --webhook-url and --webhook-secret, the leaves of SIGTERM included", async () => {
    const receiver = await WebhookReceiver.start();
    try {
      const cli = await runCli(["--port", "0", "--webhook-url", receiver.url], { WEBHOOK_SECRET: "cli-secret" });
      const c = new TestClient(`ws://127.0.0.1:${cli.port}/live`);
      await c.join("hooked");
      c.send("send_chat", { message: "hi" });
      await c.next("chat_message");
      cli.child.kill("SIGTERM");
      expect(await cli.exited).toBe(0);
      expect(receiver.received.map((h) => h.body.type)).toEqual(["member.joined", "chat.stored", "member.left", "room.emptied"]);
      for (const { headers, raw } of receiver.received) {
        const [t, v1] = String(headers["openlivesync-signature"])
          .split(",")
          .map((part) => part.split("=")[1]);
        expect(createHmac("sha256", "cli-secret").update(`${t}.${raw}`).digest("hex")).toBe(v1);
      }
    } finally {
      await receiver.down();
    }
  });

  it("takes its settings from the environment when no flag is given", async () => {
    const cli = await runCli([], { PORT: "0", LIVE_PATH: "/from-env", HISTORY_LIMIT: "2" });
    const c = new TestClient(`ws://127.0.0.1:${cli.port}/from-env`);
    await c.join("r");
    for (const m of ["a", "b", "c"]) c.send("send_chat", { message: m });
    await c.until((all) => all.filter((x) => x.type === "chat_message").length === 3);
    const d = new TestClient(`ws://127.0.0.1:${cli.port}/from-env`);
    expect((await d.join("r")).chatHistory.map((m: any) => m.message)).toEqual(["b", "c"]);
    c.terminate();
    d.terminate();
    cli.child.kill("SIGINT");
    expect(await cli.exited).toBe(0);
  });

  it("keeps chat history across restarts with --storage sqlite:", async () => {
    const db = join(dir, "chat.db");
    const first = await runCli(["--port", "0", "--storage", `sqlite:${db}`]);
    const c = new TestClient(`ws://127.0.0.1:${first.port}/live`);
    await c.join("kept");
    c.send("send_chat", { message: "survives" });
    await c.next("chat_message");
    first.child.kill("SIGTERM");
    expect(await first.exited).toBe(0);

    const second = await runCli(["--port", "0"], { STORAGE_URL: `sqlite:${db}` });
    const d = new TestClient(`ws://127.0.0.1:${second.port}/live`);
    expect((await d.join("kept")).chatHistory.map((m: any) => m.message)).toEqual(["survives"]);
    d.terminate();
    second.child.kill("SIGTERM");
    await second.exited;
  });

  for (const [what, args, pattern] of [
    ["a storage URL it does not know", ["--storage", "redis://x"], /Unknown storage "redis:\/\/x"/],
    ["an unreachable database", ["--storage", "postgres://postgres@127.0.0.1:1/test"], /ECONNREFUSED|connect/],
    ["a port that is not a number", ["--port", "http"], /--port must be a port number from 0 to 65535/],
    ["a hostile table name", ["--storage", "sqlite::memory:", "--table", "x; DROP TABLE y"], /table/i],
    [
      "an API secret shorter than 16 characters",
      ["--api-secret", "too-short"],
      /--api-secret \(API_SECRET\) must be at least 16 characters/,
    ],
    [
      "a webhook URL that is not http(s)",
      ["--webhook-url", "ftp://127.0.0.1/h", "--webhook-secret", "s"],
      /webhooks\.url must be an http or https URL/,
    ],
    ["a webhook URL without a secret", ["--webhook-url", "http://127.0.0.1:9/h"], /--webhook-url needs --webhook-secret/],
  ] as const) {
    it(`exits non-zero with one clear line for ${what}`, async () => {
      const cli = await runCli(["--port", "0", ...args]);
      expect(await cli.exited).toBe(1);
      const lines = cli.output().trim().split("\n");
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^openlivesync: /);
      expect(lines[0]).toMatch(pattern);
    });
  }
});

describe("CLI settings", () => {
  it("prefers flags over environment variables", async () => {
    const s = await settingsFromCli({ port: "4000" }, { PORT: "5000", HOST: "0.0.0.0", LIVE_PATH: "/x" });
    expect(s).toMatchObject({ port: 4000, hostname: "0.0.0.0", path: "/x", storageUrl: "memory" });
  });

  it("joins a Redis cluster only when a Redis URL is given, and a Redis Cluster when it lists several nodes", async () => {
    expect((await settingsFromCli({}, {})).options.backplane).toBeUndefined();
    const s = await settingsFromCli({ redis: "redis://127.0.0.1:6379" }, { REDIS_PREFIX: "cli-test" });
    expect(s.options.backplane).toBeDefined();
    await expect(settingsFromCli({ "redis-prefix": "x" }, {})).rejects.toThrow(/--redis/);
    expect((s.options.backplane as RedisBackplane).mode).toBe("single");
    const cluster = await settingsFromCli({ redis: "redis://127.0.0.1:7000,redis://127.0.0.1:7001" }, {});
    expect((cluster.options.backplane as RedisBackplane).mode).toBe("cluster");
  });

  it("turns the HTTP API on from --api-secret or API_SECRET, and refuses a short secret before connecting storage", async () => {
    expect((await settingsFromCli({}, {})).options.api).toBeUndefined();
    expect((await settingsFromCli({}, { API_SECRET: "from-env-0123456789" })).options.api).toEqual({ secret: "from-env-0123456789" });
    expect((await settingsFromCli({ "api-secret": "from-flag-0123456789" }, { API_SECRET: "x" })).options.api).toEqual({
      secret: "from-flag-0123456789",
    });
    await expect(settingsFromCli({ storage: "postgres://nobody@127.0.0.1:1/x" }, { API_SECRET: "short" })).rejects.toThrow(/at least 16/);
  });

  it("takes allowed origins from a repeated flag, a comma-separated one, or ALLOWED_ORIGINS", async () => {
    expect((await settingsFromCli({}, {})).options.allowedOrigins).toBeUndefined();
    const repeated = await settingsFromCli({ "allowed-origin": ["https://a.example", "https://b.example"] }, {});
    expect(repeated.options.allowedOrigins).toEqual(["https://a.example", "https://b.example"]);
    const fromEnv = await settingsFromCli({}, { ALLOWED_ORIGINS: "https://a.example, http://localhost:5173" });
    expect(fromEnv.options.allowedOrigins).toEqual(["https://a.example", "http://localhost:5173"]);
    expect((await settingsFromCli({ "allowed-origin": "*" }, {})).options.allowedOrigins).toBe("*");
  });

  it("requires a token at connect when any auth provider is configured", async () => {
    expect(authFromCli({}, {})).toBeUndefined();
    expect(authFromCli({}, { AUTH_GOOGLE_CLIENT_ID: "a,b" })).toEqual({ google: { clientId: ["a", "b"] } });
    expect(authFromCli({ "auth-microsoft-tenant-id": "common" }, { AUTH_MICROSOFT_CLIENT_ID: "app" })).toEqual({
      microsoft: { tenantId: "common", clientId: ["app"] },
    });
    expect(authFromCli({}, { AUTH_JWKS_URL: "https://issuer/jwks", AUTH_ISSUER: "https://issuer" })).toMatchObject({
      custom: { jwksUrl: "https://issuer/jwks", issuer: "https://issuer" },
    });
    expect(() => authFromCli({}, { AUTH_ISSUER: "https://issuer" })).toThrow(/--auth-jwks-url/);
    const s = await settingsFromCli({}, { AUTH_GOOGLE_CLIENT_ID: "a" });
    expect(typeof s.options.onAuth).toBe("function");
  });
});
