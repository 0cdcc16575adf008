/**
 * Cluster-room convergence through an in-memory backplane (no Redis): several engines linked by a hub
 * that keeps the shared room state and relays messages in publish order, as the Redis backplane does.
 * The hub can lose messages and state (an outage) and stop relaying for one instance (a crash), so
 * every repair path of the cluster rooms runs here; the Redis tests run the same behaviour for real.
 */
import { afterEach, describe, expect, it } from "vitest";
import type { Backplane, BackplaneSink, MemberChange, OutgoingMessage, RoomState } from "../../src/cluster/backplane.ts";
import { createLiveEngine, type LiveEngine } from "../../src/engine/engine.ts";
import type { WebSocketServerOptions } from "../../src/options.ts";
import { FakePeer } from "../helpers/fake-peer.ts";

type Delivered = Parameters<BackplaneSink["deliver"]>[0];

/** Shared state and the channel between the fake backplanes of one cluster. */
class Hub {
  /** room → connection → { instanceId, entry }, like the `P:room:<id>` hashes. */
  readonly rooms = new Map<string, Map<string, { instanceId: string; entry: string }>>();
  /** Instances whose members are all recorded (the `P:instances` set). */
  readonly recorded = new Set<string>();
  readonly members = new Map<string, FakeBackplane>();
  /** While down, publishes are dropped and reads fail, as while Redis is unreachable. */
  down = false;

  backplane(): FakeBackplane {
    return new FakeBackplane(this);
  }

  /** Shared state comes back empty (a Redis restart): every instance writes its members back, then all re-read. */
  restore(): void {
    this.down = false;
    this.rooms.clear();
    this.recorded.clear();
    for (const b of this.members.values()) b.announce();
    for (const b of this.members.values()) b.sink!.resync();
  }

  /** `instanceId` stops without closing: nothing it had is removed and it relays nothing more. */
  crash(instanceId: string): void {
    this.members.get(instanceId)!.crashed = true;
    this.members.delete(instanceId);
  }

  write(instanceId: string, roomId: string, connectionId: string, entry: string | undefined): void {
    let room = this.rooms.get(roomId);
    if (!room) this.rooms.set(roomId, (room = new Map()));
    if (entry === undefined) room.delete(connectionId);
    else room.set(connectionId, { instanceId, entry });
  }
}

let nextId = 0;

class FakeBackplane implements Backplane {
  readonly instanceId = `instance-${++nextId}`;
  sink: BackplaneSink | undefined;
  crashed = false;
  /** Rooms whose messages reach this instance (one channel per room, as on Redis). */
  readonly subscribed = new Set<string>();
  /** subscribe / fetch / unsubscribe calls in order, `<call> <room>`. */
  readonly calls: string[] = [];
  /** Every message this instance handed to the backplane. */
  readonly published: OutgoingMessage[] = [];
  /** Every shared-state write this instance asked for, `<kind> <room> <connection>`, in order. */
  readonly stored: string[] = [];
  constructor(private readonly hub: Hub) {}

  async start(sink: BackplaneSink): Promise<void> {
    this.sink = sink;
    this.hub.members.set(this.instanceId, this);
    this.announce();
  }

  announce(): void {
    for (const m of this.sink!.localMembers()) this.hub.write(this.instanceId, m.roomId, m.connectionId, m.entry);
    this.hub.recorded.add(this.instanceId);
  }

  store(roomId: string, changes: readonly MemberChange[]): void {
    for (const c of changes) this.stored.push(`${c.kind} ${roomId} ${c.connectionId}`);
    if (this.hub.down || this.crashed) return;
    for (const c of changes) this.hub.write(this.instanceId, roomId, c.connectionId, c.kind === "left" ? undefined : c.entry);
  }

  publish(message: OutgoingMessage): void {
    this.published.push(message);
    if (this.hub.down || this.crashed) return;
    const { kind, roomId } = message;
    const connectionId = message.kind === "presence" ? "" : message.connectionId;
    const delivered: Delivered = { kind, instanceId: this.instanceId, roomId, connectionId, frame: message.frame };
    for (const other of this.hub.members.values()) {
      // One queue per receiver, FIFO: publish order is kept, as on a room's Redis channel.
      if (other !== this && other.subscribed.has(roomId)) queueMicrotask(() => other.sink?.deliver(delivered));
    }
  }

  async subscribe(roomId: string): Promise<void> {
    this.calls.push(`subscribe ${roomId}`);
    this.subscribed.add(roomId);
  }

  unsubscribe(roomId: string): void {
    this.calls.push(`unsubscribe ${roomId}`);
    this.subscribed.delete(roomId);
  }

  async fetchRoom(roomId: string): Promise<RoomState | undefined> {
    this.calls.push(`fetch ${roomId}`);
    await Promise.resolve();
    if (this.hub.down) return undefined;
    const room = this.hub.rooms.get(roomId) ?? new Map();
    return {
      members: [...room].map(([connectionId, { instanceId, entry }]) => ({ connectionId, instanceId, entry })),
      instances: new Set(this.hub.recorded),
    };
  }

  async close(): Promise<void> {
    for (const room of this.hub.rooms.values()) for (const [id, m] of room) if (m.instanceId === this.instanceId) room.delete(id);
    this.hub.recorded.delete(this.instanceId);
    this.hub.members.delete(this.instanceId);
  }
}

const engines: LiveEngine[] = [];
afterEach(async () => {
  await Promise.all(engines.splice(0).map((e) => e.close()));
});

function cluster(size: number, options: WebSocketServerOptions = {}) {
  const hub = new Hub();
  const errors: { error: unknown; stage: string }[] = [];
  const nodes = Array.from({ length: size }, () => {
    const backplane = hub.backplane();
    const engine = createLiveEngine({
      backplane,
      heartbeatIntervalMs: 0,
      presenceThrottleMs: 0,
      chat: { historyLimit: 0 },
      onError: (error, { stage }) => void errors.push({ error, stage }),
      ...options,
    });
    engines.push(engine);
    return { engine, backplane, peer: (user?: Record<string, unknown>) => new FakePeer(engine, user) };
  });
  return { hub, errors, nodes };
}

const presenceFrom = (peer: FakePeer, key: "joined" | "left" | "updated", id: string, from = 0) =>
  peer.next("presence_updated", (p) => (key === "left" ? p.left?.includes(id) : p[key]?.some((e: any) => e.connectionId === id)), from);

/**
 * The entry of member `id` as `peer` sees it: in its room_joined, or in the `joined` just after. A join
 * reaches shared state at its instance's next presence flush, so a joiner elsewhere may read the room
 * before it and hear of it on the bus instead.
 */
async function shown(peer: FakePeer, joined: any, id: string): Promise<any> {
  return joined.presence[id] ?? (await presenceFrom(peer, "joined", id)).payload.joined.find((e: any) => e.connectionId === id);
}

describe("cluster rooms over an in-memory backplane", () => {
  it("shows members of other instances in room_joined and sends joins and presence across", async () => {
    const { nodes, errors } = cluster(3);
    const [a, b, c] = [nodes[0]!.peer(), nodes[1]!.peer(), nodes[2]!.peer()];
    const ja = await a.join("room", { cursor: 1 });
    const jb = await b.join("room", { cursor: 2 });
    expect((await shown(b, jb, ja.connectionId)).presence).toEqual({ cursor: 1 });
    await presenceFrom(a, "joined", jb.connectionId);

    const jc = await c.join("room");
    for (const j of [ja, jb]) await shown(c, jc, j.connectionId);
    await presenceFrom(a, "joined", jc.connectionId);
    await presenceFrom(b, "joined", jc.connectionId);

    const mark = a.frames.length;
    c.message("update_presence", { presence: { cursor: 9 } });
    const updated = await presenceFrom(a, "updated", jc.connectionId, mark);
    expect(updated.payload.updated[0].presence).toEqual({ cursor: 9 });
    expect(errors).toEqual([]);
  });

  it("subscribes to a room before reading its members and unsubscribes when its last local member leaves", async () => {
    const { nodes } = cluster(2);
    const [a, b, b2] = [nodes[0]!.peer(), nodes[1]!.peer(), nodes[1]!.peer()];
    await a.join("room");
    const jb = await b.join("room");
    const jb2 = await b2.join("room");
    expect(nodes[1]!.backplane.calls).toEqual(["subscribe room", "fetch room"]);
    // Seen joining first: a member that joins and leaves within one presence window is news to no one.
    await presenceFrom(a, "joined", jb.connectionId);
    await presenceFrom(a, "joined", jb2.connectionId);
    b.message("leave_room", {});
    await presenceFrom(a, "left", jb.connectionId);
    expect(nodes[1]!.backplane.subscribed.has("room")).toBe(true); // b2 is still there
    b2.close(1000, "bye");
    await presenceFrom(a, "left", jb2.connectionId);
    expect(nodes[1]!.backplane.calls.at(-1)).toBe("unsubscribe room");
    // Back in the room later: subscribed again before the read, and the room's news flows again.
    const b3 = nodes[1]!.peer();
    await b3.join("room");
    expect(nodes[1]!.backplane.calls.slice(-2)).toEqual(["subscribe room", "fetch room"]);
    a.message("broadcast_event", { event: "again" });
    expect((await b3.next("broadcast_event")).payload.event).toBe("again");
  });

  it("relays events and chat to every other instance, in order", async () => {
    const { nodes } = cluster(2);
    const [a, b] = [nodes[0]!.peer(), nodes[1]!.peer()];
    await a.join("room");
    await b.join("room");
    for (let i = 0; i < 5; i++) a.message("broadcast_event", { event: "tick", payload: i });
    a.message("send_chat", { message: "hello" });
    const chat = await b.next("chat_message");
    expect(chat.payload.message).toBe("hello");
    expect(b.frames.filter((f) => f.type === "broadcast_event").map((f) => f.payload.payload)).toEqual([0, 1, 2, 3, 4]);
  });

  it("tells other instances when a member leaves or disconnects", async () => {
    const { nodes } = cluster(2);
    const [a, b, b2] = [nodes[0]!.peer(), nodes[1]!.peer(), nodes[1]!.peer()];
    await a.join("room");
    const jb = await b.join("room");
    const jb2 = await b2.join("room");
    // One that joins and leaves within a presence window is told to nobody: leave once a saw the joins.
    await presenceFrom(a, "joined", jb.connectionId);
    await presenceFrom(a, "joined", jb2.connectionId);
    b.message("leave_room", {});
    await presenceFrom(a, "left", jb.connectionId);
    b2.close(1000, "bye");
    await presenceFrom(a, "left", jb2.connectionId);
    const joined = await nodes[0]!.peer().join("room");
    expect(Object.keys(joined.presence)).toHaveLength(2); // a and the newcomer
  });

  it("removes the members of an instance that stopped beating and tells local clients", async () => {
    const { hub, nodes } = cluster(3);
    const [a, b, c] = [nodes[0]!.peer(), nodes[1]!.peer(), nodes[2]!.peer()];
    await a.join("room");
    await b.join("room");
    const jc = await c.join("room");
    await presenceFrom(a, "joined", jc.connectionId);
    await presenceFrom(b, "joined", jc.connectionId);

    hub.crash(nodes[2]!.backplane.instanceId);
    await new Promise((resolve) => setTimeout(resolve, 5)); // "checked" after the members were first seen
    const dead = new Set([nodes[2]!.backplane.instanceId]);
    for (const node of nodes.slice(0, 2)) node.backplane.sink!.instancesDown(dead, Date.now());
    await presenceFrom(a, "left", jc.connectionId);
    await presenceFrom(b, "left", jc.connectionId);
    expect(nodes[0]!.engine.rooms.get("room")?.members.has(jc.connectionId)).toBe(false);
  });

  it("converges after shared state and messages were lost: missed joins and leaves arrive on resync", async () => {
    const { hub, nodes } = cluster(2);
    const [a, b] = [nodes[0]!.peer(), nodes[1]!.peer()];
    const ja = await a.join("room", { v: 1 });
    const jb = await b.join("room");
    await presenceFrom(a, "joined", jb.connectionId);

    hub.down = true; // everything published now is lost
    const b2 = nodes[1]!.peer();
    const jb2 = await b2.join("room", { late: true });
    b.message("leave_room", {});
    a.message("update_presence", { presence: { v: 2 } });
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(a.frames.some((f) => f.type === "presence_updated" && f.payload.joined?.[0]?.connectionId === jb2.connectionId)).toBe(false);

    const [markA, markB2] = [a.frames.length, b2.frames.length];
    hub.restore();
    const joined = await presenceFrom(a, "joined", jb2.connectionId, markA);
    expect(joined.payload.joined[0].presence).toEqual({ late: true });
    await presenceFrom(a, "left", jb.connectionId, markA);
    const updated = await presenceFrom(b2, "updated", ja.connectionId, markB2);
    expect(updated.payload.updated[0].presence).toEqual({ v: 2 });

    // Both views are now the same room.
    const viewA = await nodes[0]!.peer().join("room");
    const viewB = await nodes[1]!.peer().join("room");
    const ids = (p: any) =>
      Object.keys(p.presence)
        .filter((id) => id !== p.connectionId)
        .sort();
    expect(ids(viewA)).toContain(jb2.connectionId);
    expect(ids(viewA)).not.toContain(jb.connectionId);
    expect(ids(viewB)).toContain(ja.connectionId);
  });

  it("batches presence across instances: each member once per window on the backplane, one frame per window on the other side", async () => {
    // A long window, so every move below falls in one; the first news of an idle room goes out at once.
    const { nodes } = cluster(2, { presenceBatchMs: 1000 });
    const watcher = nodes[1]!.peer();
    await watcher.join("room");
    const movers = Array.from({ length: 20 }, () => nodes[0]!.peer());
    const joins = await Promise.all(movers.map((p) => p.join("room")));
    const ids = joins.map((j) => j.connectionId).sort();
    const seen = () => watcher.of("presence_updated").flatMap((p) => (p.joined ?? []).map((e: any) => e.connectionId));
    while (seen().length < ids.length) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(seen().sort()).toEqual(ids);
    expect(watcher.of("presence_updated").length).toBeLessThan(ids.length);

    const backplane = nodes[0]!.backplane;
    const [published, mark] = [backplane.published.length, watcher.frames.length];
    for (let x = 1; x <= 5; x++) for (const p of movers) p.message("update_presence", { presence: { x } });
    const last = () => watcher.frames.slice(mark).flatMap((f) => (f.payload as any).updated ?? []);
    while (last().filter((e: any) => e.presence.x === 5).length < movers.length) await new Promise((resolve) => setTimeout(resolve, 20));
    const sent = backplane.published.slice(published);
    // One presence message per window for the whole room (a leading one and the window's newest), each
    // mover in it once with its newest state, never one message per move or per mover.
    expect(sent.map((m) => m.kind)).toEqual(sent.map(() => "presence"));
    expect(sent.length).toBeLessThanOrEqual(2);
    for (const m of sent) {
      if (m.kind !== "presence") continue;
      const ids = m.presence.updated.map((e) => e.connectionId);
      expect(new Set(ids).size).toBe(ids.length);
      expect(JSON.parse(m.frame).payload.updated.map((e: any) => e.connectionId)).toEqual(ids);
    }
    expect(watcher.frames.length - mark).toBeLessThanOrEqual(2);
    const room = nodes[1]!.engine.rooms.get("room")!;
    for (const id of ids) expect(room.members.get(id)!.presence).toEqual({ x: 5 });
  });

  it("stores joins and leaves in shared state at once: a joiner elsewhere finds a member whose join is still batched, and loses one that left", async () => {
    const { hub, nodes } = cluster(2, { presenceBatchMs: 1000 });
    const [first, x, y] = [nodes[0]!.peer(), nodes[0]!.peer(), nodes[0]!.peer()];
    const jf = await first.join("room"); // its flush opens a 1 s window on instance 0
    await new Promise((resolve) => setTimeout(resolve, 5));
    const jx = await x.join("room", { x: 1 });
    const jy = await y.join("room", { y: 1 });
    const published = nodes[0]!.backplane.published.length;
    expect(hub.rooms.get("room")?.has(jx.connectionId)).toBe(true); // stored, though its news waits for the window

    const watcher = nodes[1]!.peer();
    const jw = await watcher.join("room");
    expect(Object.keys(jw.presence)).toEqual(expect.arrayContaining([jx.connectionId, jy.connectionId]));
    // y joined and left inside the window: instance 0 tells its own members nothing of it, but the
    // watcher read it from shared state, so the window's message names it in `left`.
    y.message("leave_room", {});
    expect(hub.rooms.get("room")?.has(jy.connectionId)).toBe(false);
    expect(nodes[0]!.backplane.published.length).toBe(published);
    await presenceFrom(watcher, "left", jy.connectionId);
    const news = nodes[0]!.backplane.published.slice(published);
    expect(news.map((m) => m.kind)).toEqual(["presence"]);
    expect([...nodes[1]!.engine.rooms.get("room")!.members.keys()].sort()).toEqual(
      [jw.connectionId, jf.connectionId, jx.connectionId].sort(),
    );
    expect(first.of("presence_updated").some((p) => p.left?.includes(jy.connectionId))).toBe(false);
  });

  it("delivers a member's join before a chat it sends in the same presence window, on every instance", async () => {
    const { nodes } = cluster(2, { presenceBatchMs: 1000 });
    const [watcher, first, x] = [nodes[1]!.peer(), nodes[0]!.peer(), nodes[0]!.peer()];
    await watcher.join("room");
    const jf = await first.join("room"); // its flush opens a 1 s window on instance 0
    await presenceFrom(watcher, "joined", jf.connectionId);
    const jx = await x.join("room");
    x.message("send_chat", { message: "hi" });
    await watcher.next("chat_message");
    const order = watcher.frames.filter(
      (f) => f.type === "chat_message" || (f.payload as any).joined?.some((e: any) => e.connectionId === jx.connectionId),
    );
    expect(order.map((f) => f.type)).toEqual(["presence_updated", "chat_message"]);
  });

  it("reports garbled messages with stage backplane and drops them", async () => {
    const { nodes, errors } = cluster(2);
    const a = nodes[0]!.peer();
    await a.join("room");
    const sink = nodes[0]!.backplane.sink!;
    const before = a.frames.length;
    const from = nodes[1]!.backplane.instanceId;
    sink.deliver({ kind: "joined", instanceId: from, roomId: "room", connectionId: "x", frame: "not json" });
    sink.deliver({
      kind: "event",
      instanceId: from,
      roomId: "room",
      connectionId: "x",
      frame: '{"type":"broadcast_event","payload":{"roomId":"other"}}',
    });
    sink.deliver({
      kind: "joined",
      instanceId: from,
      roomId: "room",
      connectionId: "x",
      frame: '{"type":"presence_updated","payload":{"roomId":"room","joined":[{"connectionId":"y","presence":{}}]}}',
    });
    sink.deliver({
      kind: "chat",
      instanceId: from,
      roomId: "room",
      connectionId: "x",
      frame: '{"type":"chat_message","payload":{"roomId":"room"}}',
    });
    expect(errors.map((e) => e.stage)).toEqual(["backplane", "backplane", "backplane", "backplane"]);
    expect(errors.every((e) => (e.error as { code?: string }).code === "BACKPLANE_ERROR")).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(a.frames.slice(before)).toEqual([]);
    expect([...nodes[0]!.engine.rooms.get("room")!.members.keys()]).toHaveLength(1);
  });
});
