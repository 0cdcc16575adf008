import { describe, expect, it } from "vitest";
import { Connection, RoomManager } from "../../src/engine/room.ts";

const peer = { send() {}, close() {}, terminate() {} };
const conn = (id: string, user?: Record<string, unknown>) => new Connection(id, peer, user, user !== undefined);

/** Which collection each connection is in, by the RoomManager's own view. */
function places(rooms: RoomManager): Record<string, string> {
  const out: Record<string, string> = {};
  for (const c of rooms.lobby) out[c.id] = "lobby";
  for (const room of rooms.rooms.values()) {
    for (const c of room.joining.keys()) out[c.id] = `${room.id}:joining`;
    for (const c of room.local) out[c.id] = `${room.id}:local`;
  }
  return out;
}

describe("rooms", () => {
  it("keeps each connection in exactly one collection through join, completion, leave and close", () => {
    const rooms = new RoomManager();
    const a = conn("a");
    rooms.admit(a);
    expect(places(rooms)).toEqual({ a: "lobby" });
    rooms.beginJoin(a, "r1", a.entry({}));
    expect(places(rooms)).toEqual({ a: "r1:joining" });
    rooms.completeJoin(a);
    expect(places(rooms)).toEqual({ a: "r1:local" });
    rooms.beginJoin(a, "r2", a.entry({})); // joining another room leaves the first
    expect(places(rooms)).toEqual({ a: "r2:joining" });
    expect(rooms.get("r1")).toBeUndefined();
    rooms.leave(a);
    expect(places(rooms)).toEqual({ a: "lobby" });
    rooms.remove(a);
    expect(places(rooms)).toEqual({});
    expect(rooms.size).toBe(0);
    expect([...rooms.connections()]).toEqual([]);
  });

  it("creates a room on first join and frees it once the last member left", () => {
    const rooms = new RoomManager();
    const [a, b] = [conn("a"), conn("b")];
    const room = rooms.beginJoin(a, "r", a.entry({}));
    expect(rooms.beginJoin(b, "r", b.entry({}))).toBe(room);
    expect(rooms.leave(a)).toEqual({ room, wasMember: true, wasJoined: false });
    expect(rooms.get("r")).toBe(room);
    rooms.remove(b);
    expect(rooms.get("r")).toBeUndefined();
  });

  it("keeps a room alive while a member is still joining", () => {
    const rooms = new RoomManager();
    const a = conn("a");
    rooms.beginJoin(a, "r", a.entry({}));
    expect(rooms.removeIfEmpty(rooms.get("r")!)).toBe(false);
  });

  it("tells the fan-out when a connection starts and stops receiving a room's frames", () => {
    const calls: string[] = [];
    const rooms = new RoomManager({
      join: (c, r) => calls.push(`join ${c.id} ${r.id}`),
      leave: (c, r) => calls.push(`leave ${c.id} ${r.id}`),
    });
    const a = conn("a");
    rooms.beginJoin(a, "r", a.entry({}));
    expect(calls).toEqual([]);
    rooms.completeJoin(a);
    rooms.leave(a);
    expect(calls).toEqual(["join a r", "leave a r"]);
  });

  it("hands the room messages held meanwhile to the joiner when its join completes", () => {
    const rooms = new RoomManager();
    const a = conn("a");
    const room = rooms.beginJoin(a, "r", a.entry({}));
    room.hold("frame-1", "m1", 1);
    room.hold("frame-2", undefined, 2);
    expect(rooms.completeJoin(a)).toEqual([
      { frame: "frame-1", chatId: "m1", offset: 1 },
      { frame: "frame-2", chatId: undefined, offset: 2 },
    ]);
    room.hold("frame-3", "m3", 3); // no one joining: nothing held
    expect(rooms.completeJoin(a)).toEqual([]);
  });

  it("tells the cluster when the last local connection left, while remote members remain", () => {
    const rooms = new RoomManager();
    const vacated: string[] = [];
    rooms.onVacated = (room) => {
      vacated.push(room.id);
      for (const id of [...room.remote.keys()]) room.deleteRemote(id);
    };
    const a = conn("a");
    const room = rooms.beginJoin(a, "r", a.entry({}));
    room.setRemote({ connectionId: "remote-1", presence: {} }, "instance-2");
    expect(room.members.size).toBe(2);
    rooms.leave(a);
    expect(vacated).toEqual(["r"]);
    expect(rooms.get("r")).toBeUndefined();
  });

  it("builds presence entries with identity and extra user fields, leaving token claims out", () => {
    expect(conn("c1").entry({ x: 1 })).toEqual({ connectionId: "c1", presence: { x: 1 } });
    const known = conn("c2", { userId: "u", name: "N", email: "e@x", provider: "google", extra: 1 });
    expect(known.entry({})).toEqual({
      connectionId: "c2",
      userId: "u",
      name: "N",
      email: "e@x",
      provider: "google",
      extra: 1,
      presence: {},
    });
    const fromToken = conn("c3", { userId: "u", iss: "https://issuer", exp: 1, aud: "a", picture: "p.png" });
    expect(fromToken.entry({})).toEqual({ connectionId: "c3", userId: "u", picture: "p.png", presence: {} });
  });

  it("keeps its verified, alive and closed flags apart", () => {
    const c = new Connection("c1", peer, undefined, true);
    expect([c.verified, c.alive, c.closed]).toEqual([true, true, false]);
    c.alive = false;
    c.closed = true;
    expect([c.verified, c.alive, c.closed]).toEqual([true, false, true]);
    c.verified = false;
    c.alive = true;
    expect([c.verified, c.alive, c.closed]).toEqual([false, true, true]);
  });

  it("creates its in-progress state on demand and drops it once nothing is pending", () => {
    const c = conn("c1");
    expect(c.work).toBeUndefined();
    c.busy().backlog = [];
    c.settle();
    expect(c.work).toBeDefined();
    c.work!.backlog = undefined;
    c.settle();
    expect(c.work).toBeUndefined();
  });

  it("lists every member in the snapshot keyed by connection id", () => {
    const rooms = new RoomManager();
    const [a, b] = [conn("c1"), conn("c2")];
    const room = rooms.beginJoin(a, "r", a.entry({}));
    rooms.beginJoin(b, "r", b.entry({}));
    expect(Object.keys(room.snapshot())).toEqual(["c1", "c2"]);
  });
});
