import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import http from "node:http";
import type { AddressInfo } from "node:net";
import {
  bunSocket,
  nodeReceiver,
  nodeWire,
  releaseDenoUpgradeRequest,
  releaseNodeUpgradeRequest,
} from "../../adapters/shared/crossws-internals.ts";
import { slimBunPeer } from "../../adapters/shared/crossws-bun-peer.ts";
import { createBunFanout } from "../../adapters/bun/publish-fanout.ts";
import { createCorkedFanout } from "../../adapters/node/corked-fanout.ts";
import { createWebSocketServer } from "../../adapters/node/index.ts";
import { createRuntimeLive } from "../../adapters/shared/runtime-live.ts";
import { createLoopFanout } from "../../src/engine/fanout.ts";
import { probeShapes } from "../fixtures/crossws-shapes.ts";
import { TestClient } from "../helpers/client.ts";

const root = join(import.meta.dirname, "..", "..");
const fixture = join(root, "test", "fixtures", "crossws-shapes.ts");
const runUnder = (bin: string, args: string[]) =>
  JSON.parse(
    execFileSync(join(root, "node_modules", ".bin", bin), [...args, fixture], { encoding: "utf8", timeout: 30_000 })
      .trim()
      .split("\n")
      .at(-1)!,
  );

const context = { user: "u1" };

describe("crossws internals match the installed crossws", () => {
  it("on Node: the socket is reachable for pre-built frames and the upgrade request can be released", async () => {
    expect(await probeShapes()).toEqual({
      runtime: "node",
      fastPaths: { nodeWire: "wire", nodeReceiver: true, releaseNodeUpgradeRequest: true },
      contextAfter: context,
      sendWorks: true,
    });
  });

  it("on Node: a connection that negotiated permessage-deflate gets no raw frames", async () => {
    expect((await probeShapes({ deflate: true })).fastPaths).toEqual({
      nodeWire: "extension",
      nodeReceiver: false,
      releaseNodeUpgradeRequest: true,
    });
  });

  it("on Node: after each message ws's Receiver holds the connection's own emptied fragments array, not the one ws made", async () => {
    const httpServer = http.createServer();
    const live = createWebSocketServer(httpServer, { path: "/live" });
    await new Promise<void>((resolve) => httpServer.listen(0, "127.0.0.1", resolve));
    const url = `ws://127.0.0.1:${(httpServer.address() as AddressInfo).port}/live`;
    const [a, b] = [new TestClient(url), new TestClient(url)];
    try {
      await a.join("r1");
      await b.join("r1");
      type Held = { receiver: { _fragments: unknown[] } | undefined; fragments: unknown[] };
      const sender = [...live.engine.connections].map((conn) => conn.transport as Held)[0]!;
      const own = sender.fragments;
      for (const n of [1, 2, 3]) {
        a.send("broadcast_event", { event: "e", payload: { n } });
        expect((await b.next("broadcast_event")).payload).toMatchObject({ payload: { n } });
        expect(sender.receiver?._fragments).toBe(own);
        expect(own).toEqual([]);
      }
      // A message in three fragments is gathered in the connection's array and arrives whole.
      const text = JSON.stringify({ type: "broadcast_event", payload: { event: "e", payload: { n: 4 } } });
      const cuts = [0, 10, 30, text.length];
      for (let i = 0; i < 3; i++) a.ws.send(text.slice(cuts[i], cuts[i + 1]), { binary: false, fin: i === 2 });
      expect((await b.next("broadcast_event")).payload).toMatchObject({ payload: { n: 4 } });
      expect(sender.receiver?._fragments).toBe(own);
      expect(own).toEqual([]);
    } finally {
      a.terminate();
      b.terminate();
      await live.close();
      await new Promise((resolve) => httpServer.close(resolve));
    }
  });

  it("on Bun: native pub/sub is reachable and the peer is slimmed with peer.context intact", () => {
    expect(runUnder("bun", [])).toEqual({
      runtime: "bun",
      fastPaths: { bunSocket: true, slimBunPeer: true },
      contextAfter: context,
      sendWorks: true,
    });
  });

  it("on Deno: the upgrade request snapshot can be released", () => {
    expect(runUnder("deno", ["run", "-A", "--no-lock"])).toEqual({
      runtime: "deno",
      fastPaths: { releaseDenoUpgradeRequest: true },
      contextAfter: context,
      sendWorks: true,
    });
  });
});

describe("when crossws moved its internals", () => {
  // A peer of some other crossws version: the public API only, private fields elsewhere.
  const movedPeer = () => {
    const sent: string[] = [];
    const internals = { socket: { ws: {} }, req: {} };
    return {
      sent,
      internals,
      peer: { context, namespace: "/live", _internal: internals, send: (data: string) => void sent.push(data), bufferedAmount: 0 },
    };
  };

  it("changes nothing on the peer and says so", () => {
    const { peer, internals } = movedPeer();
    expect(nodeWire(peer)).toBeUndefined();
    expect(nodeReceiver(internals.socket.ws as never)).toBeUndefined();
    expect(releaseNodeUpgradeRequest(peer)).toBe(false);
    expect(bunSocket(peer)).toBeUndefined();
    expect(slimBunPeer(peer)).toBe(false);
    expect(releaseDenoUpgradeRequest(peer)).toBe(false);
    expect(peer._internal).toBe(internals);
    expect(internals).toEqual({ socket: { ws: {} }, req: {} });
  });

  it("leaves a Bun peer whose ws.data holds fields it does not know as it was", () => {
    const data = { server: { publish() {} }, request: {}, context, namespace: "/live", peer: undefined as unknown, extra: 1 };
    const internal = { ws: { data }, request: {}, peers: new Set(), namespace: "/live", sync: undefined, hooks: {} };
    const peer = {
      _internal: internal,
      get context() {
        return this._internal.ws.data.context;
      },
      namespace: "/live",
    };
    data.peer = peer;
    internal.peers.add(peer);
    expect(slimBunPeer(peer)).toBe(false);
    expect(peer._internal).toBe(internal);
    expect(internal.ws.data).toBe(data);
    expect(internal.peers.has(peer)).toBe(true);
  });

  for (const [name, create] of [
    ["Node", createCorkedFanout],
    ["Bun", createBunFanout],
  ] as const) {
    it(`falls back to peer.send in the ${name} fan-out and reports why`, () => {
      const reports: string[] = [];
      const fanout = create((what) => reports.push(what))({ maxBufferedBytes: 1024, overLimit: () => {} });
      const a = movedPeer();
      const b = movedPeer();
      const conns = [a, b].map(({ peer }) => ({ peer, closed: false, transport: undefined }) as never);
      for (const conn of conns) fanout.attach?.(conn);
      const room = { id: "r", local: new Set(conns) } as never;
      for (const conn of conns) fanout.join?.(conn, room);
      fanout.publish(room, "to-room", conns[0]);
      fanout.send(conns[0]!, "direct");
      expect(a.sent).toEqual(["direct"]);
      expect(b.sent).toEqual(["to-room"]);
      // Reported per connection here; createRuntimeLive passes each distinct report to onError once.
      expect(reports.length).toBeGreaterThan(0);
      expect(reports.every((what) => what.includes("fan-out") || what.includes("upgrade request"))).toBe(true);
    });
  }

  it("reports each fallback once per adapter through onError", async () => {
    const reports: [string, string][] = [];
    const live = createRuntimeLive(
      { heartbeatIntervalMs: 0, onError: (error, { stage }) => void reports.push([stage, String((error as Error).message)]) },
      (fellBack) => ({
        createFanout: (context) => {
          fellBack("a fan-out"); // while the engine is being built
          return { ...createLoopFanout(context), attach: () => fellBack("a fan-out") };
        },
      }),
      (_engine, fellBack) => {
        fellBack("the adapter");
        fellBack("the adapter");
        return { close() {} };
      },
    );
    await Promise.resolve();
    expect(reports.map(([stage, message]) => [stage, message.split(":")[0]])).toEqual([
      ["socket", "[openlivesync] the adapter"],
      ["socket", "[openlivesync] a fan-out"],
    ]);
    await live.close();
  });
});
