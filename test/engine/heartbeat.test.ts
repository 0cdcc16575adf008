import { describe, expect, it } from "vitest";
import { createLiveEngine } from "../../src/engine/engine.ts";
import { createLoopFanout, type CreateFanout } from "../../src/engine/fanout.ts";
import { HEARTBEAT_SLICE } from "../../src/engine/registry.ts";
import { FakePeer } from "../helpers/fake-peer.ts";

const until = async (check: () => boolean, what: string) => {
  const deadline = Date.now() + 20_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
};

/** A peer that counts the pings it was sent through `peer.ping()`. */
class CountingPeer extends FakePeer {
  pings = 0;
  override ping(): void {
    this.pings++;
  }
}

describe("heartbeat", () => {
  it("pings through the fan-out's ping when it has one, and every connection of a round larger than one slice", async () => {
    const viaFanout = new Map<unknown, number>();
    const createFanout: CreateFanout = (context) => ({
      ...createLoopFanout(context),
      ping: (conn) => void viaFanout.set(conn.peer, (viaFanout.get(conn.peer) ?? 0) + 1),
    });
    const engine = createLiveEngine({ heartbeatIntervalMs: 200, presenceBatchMs: 0 }, { createFanout });
    try {
      const peers = Array.from({ length: 2 * HEARTBEAT_SLICE + 7 }, () => new CountingPeer(engine));
      await until(() => peers.every((p) => viaFanout.has(p)), "a ping to every connection");
      expect(peers.every((p) => p.pings === 0)).toBe(true);
    } finally {
      await engine.close();
    }
  });

  it("drops, with 4408, the silent connections in every slice and keeps those that answered", async () => {
    const engine = createLiveEngine({ heartbeatIntervalMs: 150, presenceBatchMs: 0 });
    try {
      const peers = Array.from({ length: 2 * HEARTBEAT_SLICE + 7 }, () => new CountingPeer(engine));
      const answering = peers.filter((_, i) => i % 2 === 0);
      // An answering peer answers each ping with a pong, as a client's WebSocket does.
      for (const p of answering) p.ping = () => void engine.hooks.pong?.(p as never, {} as never);
      await until(() => peers.every((p, i) => i % 2 === 0 || p.closeCode === 4408), "every silent peer dropped");
      expect(answering.every((p) => p.closeCode === undefined)).toBe(true);
    } finally {
      await engine.close();
    }
  });
});
