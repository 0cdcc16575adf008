/** Client behaviour that needs no full server: close codes, configuration, the bundle, and the pure pieces. */
import { readFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { WebSocketServer } from "ws";
import { createLiveSyncClient } from "../../src/client/index.ts";
import { createBackoff } from "../../src/client/backoff.ts";
import { createPresenceThrottle } from "../../src/client/presence-throttle.ts";
import { applyPresenceDiff, chatAfterJoin } from "../../src/client/room-view.ts";
import { disconnectAll, liveClient, until } from "../helpers/live-clients.ts";

const msg = (id: string) => ({ id, roomId: "r", connectionId: "c", message: id, createdAt: 0 });

afterEach(() => disconnectAll());

describe("close codes", () => {
  for (const code of [4403, 1008]) {
    it(`stops reconnecting after a ${code} close and reports why`, async () => {
      const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
      let connections = 0;
      wss.on("connection", (ws) => {
        connections++;
        ws.close(code, "not you");
      });
      await new Promise((resolve) => wss.once("listening", resolve));
      const client = liveClient(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}/live`);
      client.connect();
      const state = await until(client, (s) => s.status === "stopped");
      expect(state.lastError).toMatchObject({
        name: "ConnectionClosedError",
        code: code === 1008 ? "POLICY_VIOLATION" : "FORBIDDEN",
        closeCode: code,
        reason: "not you",
      });
      expect(state.connectionStatus).toBe("closed");
      expect(client.status).toBe("stopped");
      expect(connections).toBe(1);
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    });
  }

  it("retries with backoff while getAuthToken fails, and reports it", async () => {
    const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
    const urls: string[] = [];
    wss.on("connection", (_ws, req) => urls.push(req.url!));
    await new Promise((resolve) => wss.once("listening", resolve));
    let calls = 0;
    const client = liveClient(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}/live?x=1`, {
      getAuthToken: () => {
        if (++calls < 3) throw new Error("token service down");
        return "t o k";
      },
    });
    const errors: string[] = [];
    client.subscribe((s) => s.lastError && errors.at(-1) !== s.lastError.code && errors.push(s.lastError.code));
    client.connect();
    await until(client, (s) => s.status === "open");
    expect(errors).toEqual(["AUTH_TOKEN_FAILED"]);
    expect(urls).toEqual(["/live?x=1&access_token=t%20o%20k"]);
    client.disconnect();
    await new Promise<void>((resolve) => wss.close(() => resolve()));
  });
});

describe("configuration", () => {
  it("says what to pass when the runtime has no WebSocket", () => {
    const client = createLiveSyncClient({ url: "ws://127.0.0.1:1/live", WebSocket: undefined });
    const saved = (globalThis as any).WebSocket;
    (globalThis as any).WebSocket = undefined;
    try {
      const bare = createLiveSyncClient({ url: "ws://127.0.0.1:1/live" });
      bare.connect();
      expect(bare.status).toBe("stopped");
      expect(bare.getState().lastError).toMatchObject({
        name: "ClientConfigError",
        message: expect.stringContaining('import WebSocket from "ws"'),
      });
    } finally {
      (globalThis as any).WebSocket = saved;
    }
    client.disconnect();
  });

  it("throws NotInRoomError for sendChat before joinRoom", () => {
    const client = createLiveSyncClient({ url: "ws://127.0.0.1:1/live" });
    expect(() => client.sendChat("hi")).toThrow(expect.objectContaining({ name: "NotInRoomError", code: "NOT_IN_ROOM" }));
    expect(client.broadcastEvent("x")).toBe(false);
  });
});

describe("the client bundle", () => {
  it("holds no server code: dist/client.js and the chunks it imports use no runtime module, driver or server library", () => {
    // Besides its own chunks, the client imports Yjs's packages only (the document provider): the app shares
    // one copy of yjs with it, as Yjs requires (two copies break its type checks).
    const yjsPackage = /^(yjs|y-protocols\/[\w-]+|lib0\/[\w-]+)$/;
    const dist = join(import.meta.dirname, "..", "..", "dist");
    const seen = new Set<string>();
    const visit = (name: string) => {
      if (seen.has(name)) return;
      seen.add(name);
      const text = readFileSync(join(dist, name), "utf8");
      for (const m of text.matchAll(/(?:from|import)\s*\(?\s*"([^"]+)"/g)) {
        const spec = m[1]!;
        if (yjsPackage.test(spec)) continue;
        expect(spec, `${name} imports ${spec}`).toMatch(/^\.\/[\w.-]+\.js$/);
        visit(spec.slice(2));
      }
      expect(text).not.toMatch(/crossws|hono|drizzle|node:|createLiveEngine|ioredis/);
    };
    visit("client.js");
    const react = readFileSync(join(dist, "react.js"), "utf8");
    expect([...react.matchAll(/from\s*"([^"]+)"/g)].map((m) => m[1]).filter((s) => !s!.startsWith("./") && !yjsPackage.test(s!))).toEqual([
      "react",
    ]);
  });
});

describe("pieces", () => {
  it("spreads reconnect delays with jitter in the upper half of a doubling, capped window", () => {
    const low = createBackoff(100, 1000, () => 0);
    expect([low.next(), low.next(), low.next(), low.next(), low.next()]).toEqual([50, 100, 200, 400, 500]);
    const high = createBackoff(100, 1000, () => 1);
    expect([high.next(), high.next(), high.next(), high.next(), high.next()]).toEqual([100, 200, 400, 800, 1000]);
    high.reset();
    expect(high.attempt).toBe(0);
  });

  it("keeps the resting cursor position when updates are throttled", () => {
    vi.useFakeTimers();
    try {
      const sent: unknown[] = [];
      const throttle = createPresenceThrottle(100, (p) => sent.push(p.x));
      for (let x = 0; x < 10; x++) throttle.push({ x });
      expect(sent).toEqual([0]);
      vi.advanceTimersByTime(100);
      expect(sent).toEqual([0, 9]);
      throttle.push({ x: 10 });
      throttle.cancel();
      vi.advanceTimersByTime(1000);
      expect(sent).toEqual([0, 9]);
    } finally {
      vi.useRealTimers();
    }
  });

  it("applies presence diffs as joined, updated, then left", () => {
    const e = (id: string, x: number) => ({ connectionId: id, presence: { x } });
    const map = applyPresenceDiff({ a: e("a", 1) }, { roomId: "r", joined: [e("b", 1)], updated: [e("a", 2)], left: ["b"] });
    expect(map).toEqual({ a: e("a", 2) });
  });

  it("marks a gap only when the server could not resume and its history no longer reaches the last message", () => {
    const view = { messages: [msg("1"), msg("2")], gaps: [] };
    expect(chatAfterJoin(view, [msg("3")], "2", true)).toEqual({ messages: [msg("1"), msg("2"), msg("3")], gaps: [] });
    expect(chatAfterJoin(view, [msg("1"), msg("2"), msg("3")], "2", false)).toEqual({ messages: [msg("1"), msg("2"), msg("3")], gaps: [] });
    expect(chatAfterJoin(view, [msg("5"), msg("6")], "2", false)).toEqual({
      messages: [msg("1"), msg("2"), msg("5"), msg("6")],
      gaps: ["2"],
    });
    expect(chatAfterJoin(view, [msg("9")], undefined, false)).toEqual({ messages: [msg("9")], gaps: [] });
  });
});
