import { afterEach, describe, expect, it, vi } from "vitest";
import type { LiveEngine } from "../../src/engine/engine.ts";
import type { PresenceEntry } from "../../src/protocol/messages.ts";
import { FakePeer, fakeEngine } from "../helpers/fake-peer.ts";

/** The last frame parsed: the engine sends one shared string to member after member, parsed once here. */
let parsed: { data: string; frame: any } | undefined;

/**
 * A peer that keeps what a client needs for its presence map: the last `room_joined` (kept as text until
 * the map is asked for, so 2,000 peers do not hold 4 million live entries) and the `presence_updated`
 * payloads after it, plus counts.
 */
class MapPeer extends FakePeer {
  self: string | undefined;
  private snapshot: string | undefined;
  private news: any[] = [];
  presenceFrames = 0;
  /** Fake-clock times of the `presence_updated` frames received. */
  readonly presenceAt: number[] = [];

  override send(data: string): void {
    if (data.startsWith('{"type":"room_joined"')) {
      this.snapshot = data;
      this.news = [];
      this.self = JSON.parse(data).payload.connectionId;
      return;
    }
    if (parsed?.data !== data) parsed = { data, frame: JSON.parse(data) };
    if (parsed.frame.type !== "presence_updated" || !this.snapshot) return;
    this.presenceFrames++;
    this.presenceAt.push(Date.now());
    this.news.push(parsed.frame.payload);
  }

  /** The client's map: the snapshot, then every `presence_updated` after it applied. */
  map(): Record<string, PresenceEntry> {
    const map: Record<string, PresenceEntry> = JSON.parse(this.snapshot!).payload.presence;
    for (const p of this.news) {
      for (const e of p.joined ?? []) map[e.connectionId] = e;
      for (const e of p.updated ?? []) map[e.connectionId] = e;
      for (const id of p.left ?? []) delete map[id];
    }
    return map;
  }
}

const tick = (ms: number) => vi.advanceTimersByTimeAsync(ms);

/**
 * Every member's map holds exactly the room's members, each with its newest presence (a member never
 * receives its own entry). Compared by hand: `toEqual` over 2,000 maps of 2,000 entries takes seconds.
 */
function expectExactMaps(engine: LiveEngine, peers: MapPeer[]): void {
  const members = engine.rooms.get("r")?.members ?? new Map<string, PresenceEntry>();
  const truth = new Map(Array.from(members, ([id, entry]) => [id, JSON.stringify(entry.presence)]));
  const wrong: string[] = [];
  let checked = 0;
  for (const p of peers) {
    if (!p.self || !truth.has(p.self)) continue;
    checked++;
    const map = p.map();
    const ids = Object.keys(map).filter((id) => id !== p.self);
    if (ids.length !== truth.size - 1) wrong.push(`${p.self}: ${ids.length} entries, not ${truth.size - 1}`);
    for (const id of ids) {
      const entry = map[id];
      if (entry?.connectionId !== id || JSON.stringify(entry.presence) !== truth.get(id)) wrong.push(`${p.self}: ${id} wrong or gone`);
    }
  }
  expect(wrong.slice(0, 5)).toEqual([]);
  expect(checked).toBe(truth.size);
}

/** Most presence frames the members received together in any `spanMs` of fake time. */
function busiestSpan(peers: MapPeer[], spanMs: number): number {
  const times = peers.flatMap((p) => p.presenceAt).sort((a, b) => a - b);
  let most = 0;
  for (let start = 0, end = 0; end < times.length; end++) {
    while (times[end]! - times[start]! >= spanMs) start++;
    most = Math.max(most, end - start + 1);
  }
  return most;
}

describe("presence budget per room", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("keeps 2,000 joiners arriving one by one, each a window apart, far from n² frames, and every map exact", async () => {
    vi.useFakeTimers();
    const { engine } = fakeEngine({ presenceBatchMs: 20, presenceBudget: 2000 });
    const peers = Array.from({ length: 2000 }, () => new MapPeer(engine));
    for (const [i, p] of peers.entries()) {
      p.message("join_room", { roomId: "r", presence: { i } });
      await tick(25); // more than presenceBatchMs: without a budget, each join is a window of its own
    }
    await tick(3000);
    const frames = peers.reduce((sum, p) => sum + p.presenceFrames, 0);
    // One by one without a budget: 1 + 2 + … + 1,999 ≈ 2,000,000 frames. With it: about budget × 50 s.
    expect(frames).toBeLessThanOrEqual(200_000);
    expectExactMaps(engine, peers);
    await engine.close();
  }, 900_000);

  it("spends at most about its budget per second, whatever the pace of joins, leaves and moves", async () => {
    vi.useFakeTimers();
    const budget = 1000;
    const { engine } = fakeEngine({ presenceBatchMs: 20, presenceBudget: budget, presenceThrottleMs: 0 });
    const peers = Array.from({ length: 600 }, () => new MapPeer(engine));
    for (const [i, p] of peers.entries()) {
      p.message("join_room", { roomId: "r", presence: { i } });
      await tick(i % 3 === 0 ? 0 : 7);
    }
    // A third leave one by one while others move their cursors, all spaced past the batch window.
    for (let i = 0; i < 200; i++) {
      peers[i * 3]!.message("leave_room");
      peers[i * 3 + 1]!.message("update_presence", { presence: { moved: i } });
      await tick(30);
    }
    await tick(3000);
    // A flush costs one frame per member and waits members / budget seconds after the previous one,
    // so any second holds at most the budget plus one flush's worth.
    expect(busiestSpan(peers, 1000)).toBeLessThanOrEqual(budget + peers.length);
    expectExactMaps(engine, peers);
    await engine.close();
  }, 900_000);

  it("keeps the batch window in a small room", async () => {
    vi.useFakeTimers();
    const { engine } = fakeEngine({ presenceBatchMs: 20, presenceBudget: 2000, presenceThrottleMs: 0 });
    const peers = Array.from({ length: 30 }, () => new MapPeer(engine));
    for (const p of peers) p.message("join_room", { roomId: "r" });
    await tick(100);
    for (let move = 1; move <= 5; move++) {
      peers[0]!.message("update_presence", { presence: { move } });
      await tick(21); // one window: 30 members at 2,000 frames a second need only 15 ms
      expect(peers[1]!.map()[peers[0]!.self!]!.presence).toEqual({ move });
    }
    await engine.close();
  });

  it("makes a big room's news wait members / budget seconds", async () => {
    vi.useFakeTimers();
    const { engine } = fakeEngine({ presenceBatchMs: 20, presenceBudget: 100, presenceThrottleMs: 0 });
    const peers = Array.from({ length: 200 }, () => new MapPeer(engine));
    for (const p of peers) p.message("join_room", { roomId: "r" });
    await tick(5000);
    const [mover, watcher] = [peers[0]!, peers[1]!];
    mover.message("update_presence", { presence: { x: 1 } });
    await tick(10);
    mover.message("update_presence", { presence: { x: 2 } });
    await tick(1500);
    // 200 members at 100 frames a second: one flush every 2 s.
    expect(watcher.map()[mover.self!]!.presence).toEqual({ x: 1 });
    await tick(600);
    expect(watcher.map()[mover.self!]!.presence).toEqual({ x: 2 });
    await engine.close();
  });

  it("rejects a presenceBudget that is not a positive number", () => {
    for (const presenceBudget of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => fakeEngine({ presenceBudget })).toThrow(/presenceBudget/);
    }
  });
});
