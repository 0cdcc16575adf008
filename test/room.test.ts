import { describe, expect, it } from "vitest";
import { Connection, RoomManager } from "../src/engine/room.ts";

const peer = { send() {}, close() {}, terminate() {} };

describe("rooms", () => {
  it("creates a room on first use and frees it once empty", () => {
    const rooms = new RoomManager();
    const room = rooms.getOrCreate("a");
    expect(rooms.getOrCreate("a")).toBe(room);
    const conn = new Connection("c1", peer, undefined, false);
    room.local.add(conn);
    room.members.set(conn.id, conn.entry({}));
    expect(rooms.removeIfEmpty(room)).toBe(false);
    room.local.delete(conn);
    room.members.delete(conn.id);
    expect(rooms.removeIfEmpty(room)).toBe(true);
    expect(rooms.get("a")).toBeUndefined();
    expect(rooms.size).toBe(0);
  });

  it("keeps a room alive while a member is still joining", () => {
    const rooms = new RoomManager();
    const room = rooms.getOrCreate("a");
    room.joining.set(new Connection("c1", peer, undefined, false), []);
    expect(rooms.removeIfEmpty(room)).toBe(false);
  });

  it("builds presence entries with identity and extra user fields, leaving token claims out", () => {
    const anon = new Connection("c1", peer, undefined, false);
    expect(anon.entry({ x: 1 })).toEqual({ connectionId: "c1", presence: { x: 1 } });
    const known = new Connection("c2", peer, { userId: "u", name: "N", email: "e@x", provider: "google", extra: 1 }, true);
    expect(known.entry({})).toEqual({ connectionId: "c2", userId: "u", name: "N", email: "e@x", provider: "google", extra: 1, presence: {} });
    const fromToken = new Connection("c3", peer, { userId: "u", iss: "https://issuer", exp: 1, aud: "a", picture: "p.png" }, true);
    expect(fromToken.entry({})).toEqual({ connectionId: "c3", userId: "u", picture: "p.png", presence: {} });
  });

  it("keeps its verified, alive and closed flags apart", () => {
    const conn = new Connection("c1", peer, undefined, true);
    expect([conn.verified, conn.alive, conn.closed]).toEqual([true, true, false]);
    conn.alive = false;
    conn.closed = true;
    expect([conn.verified, conn.alive, conn.closed]).toEqual([true, false, true]);
    conn.verified = false;
    conn.alive = true;
    expect([conn.verified, conn.alive, conn.closed]).toEqual([false, true, true]);
  });

  it("lists every member in the snapshot keyed by connection id", () => {
    const rooms = new RoomManager();
    const room = rooms.getOrCreate("a");
    for (const id of ["c1", "c2"]) room.members.set(id, new Connection(id, peer, undefined, false).entry({}));
    expect(Object.keys(room.snapshot())).toEqual(["c1", "c2"]);
  });
});
