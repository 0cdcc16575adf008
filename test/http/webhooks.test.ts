/**
 * Webhooks against a real receiver on 127.0.0.1 (node:http): signatures verify with docs/webhooks.md's
 * snippet; a receiver down for 10 s then back gets every event once, in order per room; the queue bound
 * holds when it stays down; 4xx is not retried; `close()` gives up within its bound. The engine's side
 * (sockets → lifecycle) is in test/http/webhooks-server.test.ts.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { ConfigError, WebhookError } from "../../src/errors.ts";
import type { ErrorStage } from "../../src/errors.ts";
import { resolveOptions } from "../../src/options.ts";
import { resolveWebhookOptions, type WebhookOptions } from "../../src/webhooks/options.ts";
import { createWebhooks, type Webhooks } from "../../src/webhooks/webhooks.ts";
import { Metrics } from "../../src/engine/metrics.ts";
import { webhooksFromCli } from "../../adapters/cli/cli-config.ts";
import { WebhookReceiver } from "../helpers/webhook-receiver.ts";

const SECRET = "whsec-test";
type Verify = (raw: string | Buffer, signature: unknown, secret: string, toleranceSeconds?: number) => boolean;

/** docs/webhooks.md's `verify-webhook.mjs`, as published: written to a file and imported. */
let verifyWebhook: Verify;
let snippetDir: string;
beforeAll(async () => {
  const page = readFileSync(fileURLToPath(new URL("../../docs/webhooks.md", import.meta.url)), "utf8");
  const snippet = /```js\n(\/\/ verify-webhook\.mjs\n[\s\S]*?)```/.exec(page)?.[1];
  if (!snippet) throw new Error("docs/webhooks.md has no verify-webhook.mjs snippet");
  snippetDir = mkdtempSync(join(tmpdir(), "ols-webhook-"));
  const file = join(snippetDir, "verify-webhook.mjs");
  writeFileSync(file, snippet);
  ({ verifyWebhook } = await import(pathToFileURL(file).href));
});
afterAll(() => rmSync(snippetDir, { recursive: true, force: true }));

interface Reported {
  error: unknown;
  stage: ErrorStage;
}
const open: Webhooks[] = [];
const receivers: WebhookReceiver[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((w) => w.close()));
  await Promise.all(receivers.splice(0).map((r) => r.down()));
});

async function receiver(): Promise<WebhookReceiver> {
  const r = await WebhookReceiver.start();
  receivers.push(r);
  return r;
}

function webhooks(options: Partial<WebhookOptions> & { url: string }): { hooks: Webhooks; reports: Reported[] } {
  const reports: Reported[] = [];
  const hooks = createWebhooks({ secret: SECRET, ...options }, (error, { stage }) => reports.push({ error, stage }));
  open.push(hooks);
  return { hooks, reports };
}

const codes = (reports: Reported[]) => reports.map((r) => (r.error instanceof WebhookError ? r.error.code : String(r.error)));
const ctx = (roomId: string, connectionId: string) => ({ roomId, connectionId, user: { userId: `u-${connectionId}`, name: "Ada" } });
const entry = (connectionId: string) => ({ connectionId, userId: `u-${connectionId}`, name: "Ada", presence: { x: 1 } });
const chat = (roomId: string, id: string) => ({ id, roomId, connectionId: "c1", message: `hi ${id}`, createdAt: Date.now() });

describe("webhook payloads and signatures", () => {
  it("signs every POST so the documented snippet verifies it, and sends each event's documented body", async () => {
    const r = await receiver();
    const { hooks } = webhooks({ url: r.url });
    hooks.lifecycle.joined?.(ctx("room-1", "c1"), entry("c1"));
    hooks.lifecycle.chatStored?.(chat("room-1", "m1"));
    hooks.lifecycle.left?.(ctx("room-1", "c1"));
    hooks.lifecycle.emptied?.("room-1");
    hooks.lifecycle.chatDeleted?.("room-1", "m1");
    await vi.waitFor(() => expect(r.received).toHaveLength(5), { timeout: 10_000 });

    expect(r.received.map((h) => h.body.type)).toEqual(["member.joined", "chat.stored", "member.left", "room.emptied", "chat.deleted"]);
    for (const hook of r.received) {
      const signature = hook.headers["openlivesync-signature"];
      expect(signature).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
      expect(verifyWebhook(hook.raw, signature, SECRET)).toBe(true);
      expect(verifyWebhook(Buffer.from(hook.raw), signature, SECRET)).toBe(true);
      expect(verifyWebhook(hook.raw.replace("room-1", "room-2"), signature, SECRET)).toBe(false);
      expect(verifyWebhook(hook.raw, signature, "another secret")).toBe(false);
      // Far from now: the snippet's tolerance refuses it (a replayed request).
      expect(verifyWebhook(hook.raw, signature, SECRET, -1)).toBe(false);
      expect(hook.headers["openlivesync-event-id"]).toBe(hook.body.id);
      expect(hook.headers["openlivesync-event-type"]).toBe(hook.body.type);
      expect(hook.headers["openlivesync-attempt"]).toBe("1");
      expect(hook.headers["content-type"]).toBe("application/json");
      expect(Object.keys(hook.body)).toEqual(["id", "type", "createdAt", "data"]);
    }
    expect(new Set(r.ids()).size).toBe(5);
    const [joined, stored, left, emptied, deleted] = r.received.map((h) => h.body.data);
    expect(joined).toEqual({ roomId: "room-1", connectionId: "c1", userId: "u-c1", name: "Ada", presence: { x: 1 } });
    expect(stored).toMatchObject({ id: "m1", roomId: "room-1", message: "hi m1" });
    expect(left).toEqual({ roomId: "room-1", connectionId: "c1", userId: "u-c1", name: "Ada" });
    expect(emptied).toEqual({ roomId: "room-1" });
    expect(deleted).toEqual({ roomId: "room-1", id: "m1" });
    expect(hooks.stats()).toMatchObject({ delivered: 5, queued: 0, retries: 0, dropped: 0 });
  });

  it("sets only the lifecycle methods of the chosen events", async () => {
    const r = await receiver();
    const { hooks } = webhooks({ url: r.url, events: ["chat.stored", "room.emptied"] });
    expect(Object.keys(hooks.lifecycle).sort()).toEqual(["chatStored", "emptied"]);
  });

  it("keeps the room and connection ids when an identity field has the same name", async () => {
    const r = await receiver();
    const { hooks } = webhooks({ url: r.url });
    hooks.lifecycle.left?.({ roomId: "real", connectionId: "c1", user: { userId: "u", roomId: "fake", connectionId: "fake" } });
    await vi.waitFor(() => expect(r.received).toHaveLength(1));
    expect(r.received[0]!.body.data).toEqual({ roomId: "real", connectionId: "c1", userId: "u" });
  });
});

describe("webhook retries", () => {
  it("delivers every event exactly once, in order per room, to a receiver down for 10 s then back (default retries)", {
    timeout: 60_000,
  }, async () => {
    const r = await receiver();
    await r.down();
    const { hooks, reports } = webhooks({ url: r.url });
    const sent = new Map<string, string[]>();
    for (let i = 0; i < 60; i++) {
      const room = `room-${i % 6}`;
      const id = `c${i}`;
      hooks.lifecycle.joined?.(ctx(room, id), entry(id));
      hooks.lifecycle.left?.(ctx(room, id));
      sent.set(room, [...(sent.get(room) ?? []), `joined ${id}`, `left ${id}`]);
    }
    await new Promise((resolve) => setTimeout(resolve, 10_000));
    expect(r.received).toHaveLength(0);
    await r.up();
    await vi.waitFor(() => expect(hooks.stats().queued).toBe(0), { timeout: 40_000, interval: 100 });

    const ids = r.ids();
    expect(ids).toHaveLength(120);
    expect(new Set(ids).size).toBe(120);
    const got = new Map<string, string[]>();
    for (const { body } of r.received) {
      const line = `${body.type === "member.joined" ? "joined" : "left"} ${body.data.connectionId}`;
      got.set(body.data.roomId, [...(got.get(body.data.roomId) ?? []), line]);
    }
    expect(got).toEqual(sent);
    const stats = hooks.stats();
    expect(stats).toMatchObject({ delivered: 120, dropped: 0, rejected: 0, expired: 0 });
    expect(stats.retries).toBeGreaterThan(0);
    // Failing for 10 s is one report (at most once a minute), not one per event or attempt.
    expect(codes(reports)).toEqual(["WEBHOOK_RETRYING"]);
  });

  it("retries 5xx, 408 and 429 with the same id and a new signature, and delivers once accepted", async () => {
    const r = await receiver();
    const answers = [503, 429, 408, 500];
    r.answer = () => answers.shift() ?? 200;
    const { hooks } = webhooks({ url: r.url, retryDelayMs: 5, maxRetryDelayMs: 20 });
    hooks.lifecycle.emptied?.("room-r");
    await vi.waitFor(() => expect(hooks.stats().delivered).toBe(1));
    expect(r.received.map((h) => h.headers["openlivesync-attempt"])).toEqual(["1", "2", "3", "4", "5"]);
    expect(new Set(r.ids()).size).toBe(1);
    for (const hook of r.received) expect(verifyWebhook(hook.raw, hook.headers["openlivesync-signature"], SECRET)).toBe(true);
    expect(hooks.stats()).toMatchObject({ retries: 4, delivered: 1 });
  });

  it("retries a POST that got no answer within timeoutMs (at least once: the receiver sees the id twice)", async () => {
    const r = await receiver();
    let first = true;
    r.answer = () => {
      if (!first) return 200;
      first = false;
      return "hold";
    };
    const { hooks, reports } = webhooks({ url: r.url, timeoutMs: 200, retryDelayMs: 5 });
    hooks.lifecycle.emptied?.("room-t");
    await vi.waitFor(() => expect(hooks.stats().delivered).toBe(1));
    expect(r.ids()).toHaveLength(2);
    expect(new Set(r.ids()).size).toBe(1);
    expect(codes(reports)).toEqual(["WEBHOOK_RETRYING"]);
    expect(String((reports[0]!.error as Error).message)).toMatch(/no answer within 200 ms/);
  });

  it("does not retry another 4xx: counts it rejected, reports it once, and goes on with the room's next event", async () => {
    const r = await receiver();
    r.answer = (hook) => (hook.body.type === "room.emptied" ? 200 : 400);
    const { hooks, reports } = webhooks({ url: r.url, retryDelayMs: 5 });
    for (let i = 0; i < 3; i++) hooks.lifecycle.joined?.(ctx("room-4", `c${i}`), entry(`c${i}`));
    hooks.lifecycle.emptied?.("room-4");
    await vi.waitFor(() => expect(hooks.stats().delivered).toBe(1));
    // One room, one lane: a retry of a refused event would have come before `room.emptied`.
    expect(r.received.map((h) => h.body.type)).toEqual(["member.joined", "member.joined", "member.joined", "room.emptied"]);
    expect(hooks.stats()).toMatchObject({ rejected: 3, retries: 0, delivered: 1 });
    expect(codes(reports)).toEqual(["WEBHOOK_REJECTED"]);
    expect(String((reports[0]!.error as Error).message)).toMatch(/HTTP 400/);
  });

  it("gives an event up after retryForMs and reports it", async () => {
    const r = await receiver();
    r.answer = () => 503;
    const { hooks, reports } = webhooks({ url: r.url, retryDelayMs: 5, maxRetryDelayMs: 10, retryForMs: 100 });
    hooks.lifecycle.emptied?.("room-e");
    await vi.waitFor(() => expect(hooks.stats().expired).toBe(1));
    expect(hooks.stats().queued).toBe(0);
    expect(codes(reports)).toEqual(["WEBHOOK_RETRYING", "WEBHOOK_EXPIRED"]);
  });

  it("sends rooms independently: a room whose POST hangs does not hold another room back", async () => {
    const r = await receiver();
    const held: { end: () => void }[] = [];
    r.answer = (hook, res) => {
      if (hook.body.data.roomId !== "slow") return 200;
      held.push({ end: () => res.writeHead(200).end() });
      return "hold";
    };
    const { hooks } = webhooks({ url: r.url });
    hooks.lifecycle.emptied?.("slow");
    hooks.lifecycle.joined?.(ctx("slow", "c9"), entry("c9"));
    for (let i = 0; i < 3; i++) hooks.lifecycle.joined?.(ctx("fast", `c${i}`), entry(`c${i}`));
    await vi.waitFor(() => expect(hooks.stats().delivered).toBe(3));
    // The slow room's second event waits for its first: one POST of it so far.
    expect(r.received.filter((h) => h.body.data.roomId === "slow")).toHaveLength(1);
    held[0]!.end();
    await vi.waitFor(() => expect(hooks.stats().delivered).toBe(4));
    await vi.waitFor(() => expect(held).toHaveLength(2));
    held[1]!.end();
    await vi.waitFor(() => expect(hooks.stats().delivered).toBe(5));
  });
});

describe("webhook queue bound and close", () => {
  it("holds the queue at maxQueue while the receiver stays down, counts the overflow and reports it once", async () => {
    const r = await receiver();
    await r.down();
    const { hooks, reports } = webhooks({ url: r.url, maxQueue: 20, closeTimeoutMs: 100 });
    for (let i = 0; i < 500; i++) hooks.lifecycle.chatStored?.(chat(`room-${i % 7}`, `m${i}`));
    expect(hooks.stats()).toMatchObject({ queued: 20, dropped: 480 });
    await vi.waitFor(() => expect(hooks.stats().retries).toBeGreaterThan(5));
    for (let i = 0; i < 100; i++) hooks.lifecycle.chatStored?.(chat("room-x", `n${i}`));
    expect(hooks.stats()).toMatchObject({ queued: 20, dropped: 580 });
    expect(codes(reports).filter((c) => c === "WEBHOOK_QUEUE_FULL")).toHaveLength(1);
    const text = new Metrics().render({ connections: 0, rooms: 0, webhooks: hooks.stats() });
    expect(text).toContain('openlivesync_webhook_events_total{outcome="dropped"} 580');
    expect(text).toContain("openlivesync_webhook_queue_events 20");

    await hooks.close();
    expect(hooks.stats()).toMatchObject({ queued: 0, abandoned: 20, inFlight: 0 });
    expect(codes(reports).at(-1)).toBe("WEBHOOK_CLOSE_TIMEOUT");
    expect(String((reports.at(-1)!.error as Error).message)).toMatch(/^20 webhook events were not delivered/);
    // After close nothing is taken: counted dropped, not reported again.
    hooks.lifecycle.emptied?.("late");
    expect(hooks.stats()).toMatchObject({ queued: 0, dropped: 581 });
    expect(codes(reports).filter((c) => c === "WEBHOOK_QUEUE_FULL")).toHaveLength(1);
  });

  it("holds the queue at maxQueueBytes", async () => {
    const r = await receiver();
    await r.down();
    const { hooks } = webhooks({ url: r.url, maxQueueBytes: 4000, closeTimeoutMs: 0 });
    for (let i = 0; i < 100; i++) hooks.lifecycle.chatStored?.(chat("room-b", `m${i}`));
    const { queued, queuedBytes, dropped } = hooks.stats();
    expect(queuedBytes).toBeLessThanOrEqual(4000);
    expect(queuedBytes).toBeGreaterThan(3000);
    expect(queued + dropped).toBe(100);
  });

  it("reports a new overflow only after the queue drained to half", async () => {
    const r = await receiver();
    await r.down();
    const { hooks, reports } = webhooks({ url: r.url, maxQueue: 10, retryDelayMs: 5, maxRetryDelayMs: 20, closeTimeoutMs: 0 });
    for (let i = 0; i < 15; i++) hooks.lifecycle.emptied?.(`room-${i}`);
    await r.up();
    await vi.waitFor(() => expect(hooks.stats().queued).toBe(0));
    await r.down();
    for (let i = 0; i < 15; i++) hooks.lifecycle.emptied?.(`room-${i}`);
    expect(codes(reports).filter((c) => c === "WEBHOOK_QUEUE_FULL")).toHaveLength(2);
    expect(hooks.stats()).toMatchObject({ dropped: 10, delivered: 10 });
  });

  it("close() delivers what is queued when the receiver answers, giving waiting retries one attempt at once", async () => {
    const r = await receiver();
    await r.down();
    // A first retry 60 s away: only close()'s immediate attempt can deliver within the test.
    const { hooks, reports } = webhooks({ url: r.url, retryDelayMs: 60_000, maxRetryDelayMs: 60_000 });
    for (let i = 0; i < 5; i++) hooks.lifecycle.emptied?.(`room-${i}`);
    await vi.waitFor(() => expect(hooks.stats().retries).toBe(5));
    await r.up();
    await hooks.close();
    expect(hooks.stats()).toMatchObject({ delivered: 5, queued: 0, abandoned: 0 });
    expect(codes(reports)).toEqual(["WEBHOOK_RETRYING"]);
  });

  it("close() aborts a POST that hangs once closeTimeoutMs has passed and reports what was left", async () => {
    const r = await receiver();
    r.answer = () => "hold";
    const { hooks, reports } = webhooks({ url: r.url, closeTimeoutMs: 200 });
    hooks.lifecycle.emptied?.("room-h");
    hooks.lifecycle.emptied?.("room-h2");
    await vi.waitFor(() => expect(r.received).toHaveLength(2));
    await hooks.close();
    expect(hooks.stats()).toMatchObject({ abandoned: 2, queued: 0, inFlight: 0, delivered: 0 });
    expect(codes(reports)).toEqual(["WEBHOOK_CLOSE_TIMEOUT"]);
  });
});

describe("webhook options", () => {
  it("refuses a bad URL, an empty secret or an unknown event at start-up with a ConfigError", () => {
    const bad: unknown[] = [
      { url: "not a url", secret: "s" },
      { url: "ftp://example.com/x", secret: "s" },
      { url: "http://127.0.0.1/x", secret: "" },
      { url: "http://127.0.0.1/x" },
      { url: "http://127.0.0.1/x", secret: "s", events: [] },
      { url: "http://127.0.0.1/x", secret: "s", events: ["member.kicked"] },
      { url: "http://127.0.0.1/x", secret: "s", maxQueue: 0 },
      { url: "http://127.0.0.1/x", secret: "s", timeoutMs: -1 },
    ];
    for (const webhooks of bad) {
      expect(() => resolveOptions({ webhooks: webhooks as WebhookOptions }), JSON.stringify(webhooks)).toThrow(ConfigError);
    }
    expect(resolveOptions({}).webhooks).toBeUndefined();
    const resolved = resolveOptions({ webhooks: { url: "https://example.com/h", secret: "s" } }).webhooks!;
    expect(resolved).toMatchObject({
      maxQueue: 10_000,
      closeTimeoutMs: 5000,
      documentDebounceMs: 2000,
      events: ["member.joined", "member.left", "room.emptied", "chat.stored", "chat.deleted", "document.updated"],
    });
    expect(resolveWebhookOptions(resolved)).toEqual(resolved);
  });

  it("takes --webhook-url and --webhook-secret (or WEBHOOK_URL, WEBHOOK_SECRET), both or neither", () => {
    expect(webhooksFromCli({}, {})).toBeUndefined();
    expect(webhooksFromCli({ "webhook-url": "http://127.0.0.1:9/h", "webhook-secret": "s" }, {})).toMatchObject({
      url: "http://127.0.0.1:9/h",
      secret: "s",
    });
    expect(webhooksFromCli({}, { WEBHOOK_URL: "https://a.example/h", WEBHOOK_SECRET: "e" })).toMatchObject({
      url: "https://a.example/h",
      secret: "e",
    });
    expect(() => webhooksFromCli({ "webhook-url": "http://127.0.0.1:9/h" }, {})).toThrow(/--webhook-secret/);
    expect(() => webhooksFromCli({ "webhook-secret": "s" }, {})).toThrow(/--webhook-url/);
    expect(() => webhooksFromCli({ "webhook-url": "nope", "webhook-secret": "s" }, {})).toThrow(ConfigError);
  });
});
