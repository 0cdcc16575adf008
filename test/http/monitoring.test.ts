import type { AddressInfo } from "node:net";
import { Hono } from "hono";
import { afterEach, describe, expect, it } from "vitest";
import { createServer, mountLive, type NodeLiveServer } from "../../adapters/node/index.ts";
import type { ServerOptions } from "../../adapters/shared/handle.ts";
import type { Backplane } from "../../src/cluster/backplane.ts";
import { createRedisBackplane } from "../../src/cluster/redis-backplane.ts";
import { createInMemoryChatStorage } from "../../src/storage/memory.ts";
import { TestClient } from "../helpers/client.ts";
import { describeWithService, REDIS_URL } from "../helpers/services.ts";

const cleanups: (() => Promise<unknown> | void)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

async function start(options: ServerOptions = {}): Promise<{ server: NodeLiveServer; base: string }> {
  const server = createServer({ port: 0, hostname: "127.0.0.1", ...options });
  await new Promise<void>((resolve) => (server.listening ? resolve() : server.once("listening", () => resolve())));
  cleanups.push(() => new Promise((r) => server.close(() => r(undefined))));
  return { server, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

function client(url: string) {
  const c = new TestClient(url);
  cleanups.push(() => c.terminate());
  return c;
}

/** `name{labels} value` lines of a Prometheus text page, as a map. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const i = line.lastIndexOf(" ");
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

describe("monitoring routes", () => {
  it("serves /healthz, /readyz and /metrics with the traffic counted", async () => {
    const { base } = await start();
    const ws = `${base.replace("http", "ws")}/live`;
    const a = client(ws);
    const b = client(ws);
    await a.join("room-1");
    await b.join("room-1");
    a.send("send_chat", { message: "hello" });
    await b.next("chat_message");
    a.sendRaw("not json");
    await a.next("error");

    expect(await (await fetch(`${base}/healthz`)).text()).toBe("ok");
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ ok: true, checks: { storage: "ok" } });

    const page = await fetch(`${base}/metrics`);
    expect(page.headers.get("content-type")).toMatch(/^text\/plain; version=0.0.4/);
    const m = samples(await page.text());
    expect(m.get("openlivesync_connections")).toBe(2);
    expect(m.get("openlivesync_rooms")).toBe(1);
    expect(m.get('openlivesync_messages_received_total{type="join_room"}')).toBe(2);
    expect(m.get('openlivesync_messages_received_total{type="send_chat"}')).toBe(1);
    expect(m.get('openlivesync_messages_received_total{type="other"}')).toBe(1);
    expect(m.get('openlivesync_messages_sent_total{type="chat_message"}')).toBe(2); // the sender gets it too
    expect(m.get('openlivesync_errors_total{code="INVALID_JSON"}')).toBe(1);
    expect(m.get('openlivesync_storage_duration_seconds_count{op="append"}')).toBe(1);
    expect(m.get('openlivesync_storage_duration_seconds_bucket{op="append",le="+Inf"}')).toBe(1);
    for (const name of m.keys()) expect(name).toMatch(/^openlivesync_[a-z_]+(\{.*\})?$/);
  });

  it("counts a message by its type wherever its type field is, and a frame that does not parse by its head", async () => {
    const { base } = await start();
    const a = client(`${base.replace("http", "ws")}/live`);
    await a.join("r");
    a.sendRaw('{"payload":{"message":"hi"},"type":"send_chat"}'); // type last: still a send_chat
    await a.next("chat_message");
    a.sendRaw('{"type":"send_chat","payload":5}'); // does not validate: counted by its head
    await a.next("error");
    a.sendRaw('{"payload":5,"type":"send_chat"}'); // neither: other
    await a.next("error");
    const m = samples(await (await fetch(`${base}/metrics`)).text());
    expect(m.get('openlivesync_messages_received_total{type="send_chat"}')).toBe(2);
    expect(m.get('openlivesync_messages_received_total{type="other"}')).toBe(1);
    expect(m.get('openlivesync_messages_sent_total{type="chat_message"}')).toBe(1);
    expect(m.get('openlivesync_messages_sent_total{type="error"}')).toBe(2);
    expect(m.get('openlivesync_errors_total{code="INVALID_PAYLOAD"}')).toBe(2);
  });

  it("counts the closes the server decides by code", async () => {
    const { base } = await start({ maxPayload: 1024, onError: () => {} }); // the 1009 is a client fault, reported once
    const a = client(`${base.replace("http", "ws")}/live`);
    await a.join("r");
    a.sendRaw("x".repeat(2000));
    await new Promise((resolve) => a.ws.once("close", resolve));
    const m = samples(await (await fetch(`${base}/metrics`)).text());
    expect(m.get("openlivesync_connections")).toBe(0);
    expect(m.get("openlivesync_connections_closed_total")).toBe(1);
  });

  it("answers 503 on /readyz when chat storage fails or the backplane is down", async () => {
    const storage = createInMemoryChatStorage();
    storage.getHistory = () => Promise.reject(new Error("database is down"));
    const backplane: Backplane = {
      instanceId: "test",
      start: async () => {},
      store() {},
      publish() {},
      fetchRoom: async () => undefined,
      close: async () => {},
      health: async () => ({ up: false }),
    };
    const { base } = await start({ chat: { storage }, backplane });
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toEqual({ ok: false, checks: { storage: "failed: database is down", backplane: "not connected" } });
    const m = samples(await (await fetch(`${base}/metrics`)).text());
    expect(m.get("openlivesync_backplane_up")).toBe(0);
  });

  it("keeps them on another port, or off", async () => {
    const { server, base } = await start({ monitoring: { port: 0, hostname: "127.0.0.1" } });
    expect((await fetch(`${base}/metrics`)).status).toBe(404);
    await new Promise<void>((resolve) =>
      server.monitoring!.listening ? resolve() : server.monitoring!.once("listening", () => resolve()),
    );
    const probes = `http://127.0.0.1:${(server.monitoring!.address() as AddressInfo).port}`;
    expect(await (await fetch(`${probes}/healthz`)).text()).toBe("ok");
    expect((await fetch(`${probes}/metrics`)).status).toBe(200);

    const off = await start({ monitoring: false });
    expect((await fetch(`${off.base}/healthz`)).status).toBe(404);
  });

  it("adds them to a mounted Hono app unless told not to", async () => {
    const app = new Hono();
    const live = mountLive(app, "/live");
    cleanups.push(() => live.close());
    expect(await (await app.request("/healthz")).text()).toBe("ok");
    expect((await app.request("/metrics")).status).toBe(200);
    const quiet = new Hono();
    const other = mountLive(quiet, "/live", { monitoring: false });
    cleanups.push(() => other.close());
    expect((await quiet.request("/healthz")).status).toBe(404);
  });
});

await describeWithService("Redis", REDIS_URL, "REDIS_URL", () => {
  describe("monitoring a Redis backplane", () => {
    it("reports a Redis backplane as ready, with its round trip", async () => {
      const backplane = createRedisBackplane({ url: REDIS_URL, keyPrefix: `ols-metrics-${crypto.randomUUID()}` });
      const { base } = await start({ backplane });
      for (let i = 0; i < 200 && (await fetch(`${base}/readyz`)).status !== 200; i++) await new Promise((r) => setTimeout(r, 25));
      expect(await (await fetch(`${base}/readyz`)).json()).toEqual({ ok: true, checks: { storage: "ok", backplane: "ok" } });
      const m = samples(await (await fetch(`${base}/metrics`)).text());
      expect(m.get("openlivesync_backplane_up")).toBe(1);
      expect(m.get("openlivesync_backplane_lag_seconds")).toBeGreaterThan(0);
    });
  });
});
