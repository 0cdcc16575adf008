import { afterEach, describe, expect, it, vi } from "vitest";
import type { PresenceEntry } from "../../src/protocol/messages.ts";
import { fakeEngine, type FakePeer } from "../helpers/fake-peer.ts";

type Map_ = Record<string, PresenceEntry>;

/** The upstream client (packages/client/src/client.ts `applyPresenceUpdated`): joined, then left, then updated. */
function upstreamApply(map: Map_, p: any): void {
  for (const e of p.joined ?? []) map[e.connectionId] = e;
  for (const id of p.left ?? []) delete map[id];
  for (const e of p.updated ?? []) map[e.connectionId] = e;
}

/** Our client (src/client/room-view.ts `applyPresenceDiff`): joined, then updated, then left. */
function oursApply(map: Map_, p: any): void {
  for (const e of p.joined ?? []) map[e.connectionId] = e;
  for (const e of p.updated ?? []) map[e.connectionId] = e;
  for (const id of p.left ?? []) delete map[id];
}

/** What a client holds after its last room_joined and the presence frames after it. */
function clientMap(peer: FakePeer, apply: (map: Map_, p: any) => void): Map_ | undefined {
  let map: Map_ | undefined;
  for (const f of peer.frames) {
    if (f.type === "room_joined") map = { ...(f.payload as any).presence };
    else if (f.type === "presence_updated" && map) apply(map, f.payload);
  }
  return map;
}

const id = (peer: FakePeer): string => peer.of("room_joined").at(-1).connectionId;
const tick = (ms: number) => vi.advanceTimersByTimeAsync(ms);

describe("presence batching (fake peers)", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("sends the joins of one window to each member as one presence_updated", async () => {
    vi.useFakeTimers();
    const { engine, peer } = fakeEngine({ presenceBatchMs: 50 });
    const a = peer();
    a.message("join_room", { roomId: "r" });
    await tick(60);
    const others = Array.from({ length: 20 }, () => peer());
    for (const p of others) p.message("join_room", { roomId: "r" });
    await tick(60);
    const frames = a.of("presence_updated");
    expect(frames).toHaveLength(1);
    expect(frames[0].joined.map((e: PresenceEntry) => e.connectionId).sort()).toEqual(others.map(id).sort());
    // Each joiner: its room_joined and at most one batch, never its own entry.
    for (const p of others) {
      expect(p.of("presence_updated").length).toBeLessThanOrEqual(1);
      for (const f of p.of("presence_updated")) expect(f.joined.map((e: PresenceEntry) => e.connectionId)).not.toContain(id(p));
    }
    await engine.close();
  });

  it("tells nobody about a member that joined and left within one window, except a joiner whose snapshot showed it", async () => {
    vi.useFakeTimers();
    const { engine, peer } = fakeEngine({ presenceBatchMs: 50 });
    const [a, b, c] = [peer(), peer(), peer()];
    a.message("join_room", { roomId: "r" });
    await tick(10); // a's join went out at once (an idle room); the next window ends at 50 ms
    b.message("join_room", { roomId: "r" });
    await tick(1);
    c.message("join_room", { roomId: "r" });
    await tick(1);
    const bId = id(b);
    expect(Object.keys(c.of("room_joined")[0].presence)).toContain(bId);
    b.message("leave_room");
    await tick(60);
    const seenByA = a.of("presence_updated");
    expect(seenByA).toHaveLength(1);
    expect(seenByA[0].joined.map((e: PresenceEntry) => e.connectionId)).toEqual([id(c)]);
    expect(seenByA[0].left).toBeUndefined();
    expect(c.of("presence_updated")).toEqual([{ roomId: "r", left: [bId] }]);
    expect(clientMap(c, upstreamApply)).toEqual(clientMap(a, upstreamApply));
    await engine.close();
  });

  it("costs the others nothing when a member joins and leaves within one window", async () => {
    vi.useFakeTimers();
    const errors: unknown[] = [];
    const { engine, peer } = fakeEngine({ presenceBatchMs: 50, onError: (error) => void errors.push(error) });
    const [a, b] = [peer(), peer()];
    a.message("join_room", { roomId: "r" });
    await tick(10);
    b.message("join_room", { roomId: "r" });
    await tick(1);
    expect(b.of("room_joined")).toHaveLength(1);
    b.message("leave_room");
    await tick(100);
    expect(a.of("presence_updated")).toEqual([]);
    expect(errors).toEqual([]);
    await engine.close();
  });

  it("sends each member once per window with its newest state", async () => {
    vi.useFakeTimers();
    const { engine, peer } = fakeEngine({ presenceBatchMs: 50, presenceThrottleMs: 0 });
    const [a, b] = [peer(), peer()];
    for (const p of [a, b]) p.message("join_room", { roomId: "r" });
    await tick(60);
    const before = b.frames.length;
    for (let x = 1; x <= 5; x++) a.message("update_presence", { presence: { x } });
    await tick(60);
    const frames = b.frames.slice(before);
    expect(frames).toHaveLength(1);
    expect((frames[0]!.payload as any).updated).toEqual([expect.objectContaining({ connectionId: id(a), presence: { x: 5 } })]);
    await engine.close();
  });

  it("keeps the resting cursor position when updates are throttled and batched", async () => {
    vi.useFakeTimers();
    const { engine, peer } = fakeEngine({ presenceBatchMs: 30, presenceThrottleMs: 100 });
    const [a, b] = [peer(), peer()];
    for (const p of [a, b]) p.message("join_room", { roomId: "r" });
    await tick(60);
    for (let x = 1; x <= 40; x++) {
      a.message("update_presence", { presence: { x } });
      await tick(7);
    }
    await tick(300);
    expect(clientMap(b, oursApply)![id(a)]!.presence).toEqual({ x: 40 });
    // Throttled at 100 ms: about 280 ms of moves give a handful of frames, not 40.
    expect(b.of("presence_updated").filter((p) => p.updated).length).toBeLessThanOrEqual(5);
    await engine.close();
  });

  it("never sends a member its own entry; members without one share one frame", async () => {
    vi.useFakeTimers();
    const { engine, peer } = fakeEngine({ presenceBatchMs: 50 });
    const [a, b, c, d] = [peer(), peer(), peer(), peer()];
    for (const p of [a, b, c, d]) p.message("join_room", { roomId: "r" });
    await tick(60);
    a.message("update_presence", { presence: { x: 1 } });
    b.message("update_presence", { presence: { x: 2 } });
    await tick(60);
    const last = (p: FakePeer) => p.frames.at(-1)!.payload as any;
    expect(last(a).updated.map((e: PresenceEntry) => e.connectionId)).toEqual([id(b)]);
    expect(last(b).updated.map((e: PresenceEntry) => e.connectionId)).toEqual([id(a)]);
    expect(last(c)).toEqual(last(d));
    expect(last(c).updated).toHaveLength(2);
    await engine.close();
  });

  it("sends a member's join before a chat it sends in the same window", async () => {
    vi.useFakeTimers();
    const { engine, peer } = fakeEngine({ presenceBatchMs: 1000 });
    const [a, b] = [peer(), peer()];
    a.message("join_room", { roomId: "r" });
    await tick(1100);
    b.message("join_room", { roomId: "r" });
    b.message("send_chat", { message: "hi" });
    await tick(5);
    expect(a.types().slice(-2)).toEqual(["presence_updated", "chat_message"]);
    await engine.close();
  });

  it("caps room_joined at maxPresenceSnapshot and says how many members there are, also in later presence frames", async () => {
    vi.useFakeTimers();
    const { engine, peer } = fakeEngine({ maxPresenceSnapshot: 3 });
    const members = Array.from({ length: 6 }, () => peer());
    for (const p of members) {
      p.message("join_room", { roomId: "r" });
      await tick(1);
    }
    const first = members[0]!.of("room_joined")[0];
    expect(first.memberCount).toBeUndefined();
    const last = members[5]!.of("room_joined")[0];
    expect(Object.keys(last.presence)).toHaveLength(3);
    expect(last.presence[last.connectionId]).toBeDefined();
    expect(last.memberCount).toBe(6);
    members[0]!.message("update_presence", { presence: { x: 1 } });
    await tick(200);
    expect(members[1]!.of("presence_updated").at(-1)).toMatchObject({ updated: [{ presence: { x: 1 } }], memberCount: 6 });
    await engine.close();
  });

  it.each([7, 8, 9])("keeps an exact presence map in both clients through random joins, leaves and moves (start %i)", async (start) => {
    vi.useFakeTimers();
    let state = start;
    const random = () => (state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const { engine, peer } = fakeEngine({ presenceBatchMs: 20, presenceThrottleMs: 10 });
    const peers = Array.from({ length: 12 }, () => peer());
    const check = () => {
      const room = engine.rooms.get("r");
      const truth = Object.fromEntries(room?.members ?? []);
      for (const p of peers) {
        if (p.of("room_joined").length === 0 || !room?.members.has(id(p))) continue;
        const own = p
          .of("presence_updated")
          .flatMap((f) => [...(f.joined ?? []), ...(f.updated ?? [])])
          .filter((e) => e.connectionId === id(p));
        expect(own).toEqual([]);
        for (const apply of [upstreamApply, oursApply]) {
          const map = clientMap(p, apply)!;
          // A member never receives its own presence: its own entry is what it asked for itself.
          delete map[id(p)];
          const expected = { ...truth };
          delete expected[id(p)];
          expect(map).toEqual(expected);
        }
      }
    };
    for (let step = 1; step <= 1500; step++) {
      const p = peers[Math.floor(random() * peers.length)]!;
      const r = random();
      const inRoom = p.of("room_joined").length > 0 && engine.rooms.get("r")?.members.has(id(p));
      if (!inRoom || r < 0.1) p.message("join_room", { roomId: "r", presence: { step } });
      else if (r < 0.45) p.message("leave_room");
      else p.message("update_presence", { presence: { step } });
      await tick(Math.floor(random() * 4));
      if (step % 25 === 0) {
        await tick(50); // every batch and trailing send went out
        check();
      }
    }
    await engine.close();
  });
});
