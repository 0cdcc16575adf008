import { afterEach, describe, expect, it, vi } from "vitest";
import type { ChatStorage } from "../../src/storage/chat-storage.ts";
import { createInMemoryChatStorage } from "../../src/storage/memory.ts";
import { fakeEngine, settle } from "../helpers/fake-peer.ts";

/** A storage whose reads and writes wait until the test releases them. */
function gatedStorage() {
  const inner = createInMemoryChatStorage();
  const gates: (() => void)[] = [];
  const named = new Map<string, () => void>();
  const gate = (name: string) =>
    new Promise<void>((resolve) => {
      gates.push(resolve);
      named.set(name, resolve);
    });
  const storage: ChatStorage = {
    async append(roomId, message) {
      await gate(`append ${message.message}`);
      return inner.append(roomId, message);
    },
    async getHistory(roomId, limit, offset) {
      const history = await inner.getHistory(roomId, limit, offset); // read now, answer when released
      await gate(`history ${roomId}`);
      return history;
    },
  };
  return {
    storage,
    gates,
    open: (name: string) => named.get(name)!(),
    releaseAll: () => {
      for (const release of gates.splice(0)) release();
    },
  };
}

/** Every method native; writes, page and resume reads happen at once and answer when the test releases them. */
function gatedCompleteStorage() {
  const inner = createInMemoryChatStorage();
  const named = new Map<string, () => void>();
  const gate = (name: string) => new Promise<void>((resolve) => named.set(name, resolve));
  const storage: ChatStorage = {
    append: (roomId, message) => inner.append(roomId, message),
    getHistory: (roomId, limit, offset) => inner.getHistory(roomId, limit, offset),
    async getHistoryBefore(roomId, beforeId, limit) {
      const page = await inner.getHistoryBefore!(roomId, beforeId, limit);
      await gate(`before ${roomId}`);
      return page;
    },
    async appendOnce(roomId, input) {
      const result = await inner.appendOnce!(roomId, input);
      await gate(`append ${input.message}`);
      return result;
    },
    async getHistoryAfter(roomId, afterId, limit) {
      const after = await inner.getHistoryAfter!(roomId, afterId, limit);
      await gate(`after ${roomId}`);
      return after;
    },
  };
  const open = (name: string) => {
    const release = named.get(name)!;
    named.delete(name);
    release();
  };
  return { storage, open, waiting: (name: string) => named.has(name) };
}

describe("engine (fake peers, no sockets)", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("answers join_room with room_joined holding every member, and tells the others", async () => {
    const { engine, peer } = fakeEngine();
    const [a, b] = [peer(), peer()];
    a.message("join_room", { roomId: "r", presence: { x: 1 } });
    await settle();
    b.message("join_room", { roomId: "r" });
    await settle();
    const joinedB = b.of("room_joined")[0];
    expect(Object.keys(joinedB.presence)).toHaveLength(2);
    expect(a.of("presence_updated")[0].joined[0]).toMatchObject({ connectionId: joinedB.connectionId, presence: {} });
    expect(engine.rooms.get("r")?.local.size).toBe(2);
    await engine.close();
  });

  it("tells the others when a member leaves or its socket closes, and frees the room", async () => {
    const { engine, peer } = fakeEngine();
    const [a, b] = [peer(), peer()];
    for (const p of [a, b]) p.message("join_room", { roomId: "r" });
    await settle();
    const bId = b.of("room_joined")[0].connectionId;
    b.message("leave_room");
    await settle();
    expect(a.of("presence_updated").at(-1)).toEqual({ roomId: "r", left: [bId] });
    a.disconnect();
    await settle();
    expect(engine.rooms.size).toBe(0);
    expect(engine.connections.size).toBe(1);
    await engine.close();
    expect(engine.connections.size).toBe(0);
  });

  it("sends the first presence at once and the newest one when the throttle window ends", async () => {
    vi.useFakeTimers();
    const { engine, peer } = fakeEngine({ presenceThrottleMs: 100 });
    const [a, b] = [peer(), peer()];
    for (const p of [a, b]) p.message("join_room", { roomId: "r" });
    await vi.advanceTimersByTimeAsync(1);
    for (let x = 1; x <= 5; x++) a.message("update_presence", { presence: { x } });
    const updates = () =>
      b
        .of("presence_updated")
        .filter((p) => p.updated)
        .map((p) => p.updated[0].presence.x);
    await vi.advanceTimersByTimeAsync(1); // the batch's turn
    expect(updates()).toEqual([1]);
    await vi.advanceTimersByTimeAsync(100);
    expect(updates()).toEqual([1, 5]);
    await vi.advanceTimersByTimeAsync(500);
    expect(updates()).toEqual([1, 5]);
    expect(engine.rooms.get("r")!.members.size).toBe(2);
    await engine.close();
  });

  it("drops a pending trailing presence send when the member leaves", async () => {
    vi.useFakeTimers();
    const { engine, peer } = fakeEngine({ presenceThrottleMs: 100 });
    const [a, b] = [peer(), peer()];
    for (const p of [a, b]) p.message("join_room", { roomId: "r" });
    await vi.advanceTimersByTimeAsync(1);
    a.message("update_presence", { presence: { x: 1 } });
    await vi.advanceTimersByTimeAsync(1);
    a.message("update_presence", { presence: { x: 2 } });
    a.message("leave_room");
    await vi.advanceTimersByTimeAsync(200);
    expect(b.of("presence_updated").filter((p) => p.updated)).toHaveLength(1);
    expect(b.of("presence_updated").at(-1)).toEqual({ roomId: "r", left: [a.of("room_joined")[0].connectionId] });
    await engine.close();
  });

  it("stores and echoes one connection's chats in the order it sent them, even when storage finishes out of order", async () => {
    const inner = createInMemoryChatStorage();
    let delay = 30;
    const storage: ChatStorage = {
      async append(roomId, message) {
        await new Promise((r) => setTimeout(r, (delay = Math.max(0, delay - 10))));
        return inner.append(roomId, message);
      },
      getHistory: (roomId, limit, offset) => inner.getHistory(roomId, limit, offset),
    };
    const { engine, peer } = fakeEngine({ chat: { storage } });
    const [a, b] = [peer(), peer()];
    for (const p of [a, b]) p.message("join_room", { roomId: "r" });
    await settle();
    for (const m of ["one", "two", "three", "four"]) a.message("send_chat", { message: m });
    await vi.waitFor(() => expect(b.of("chat_message")).toHaveLength(4));
    expect(b.of("chat_message").map((c) => c.message)).toEqual(["one", "two", "three", "four"]);
    expect(a.of("chat_message").map((c) => c.message)).toEqual(["one", "two", "three", "four"]);
    expect((await inner.getHistory("r")).map((c) => c.message)).toEqual(["one", "two", "three", "four"]);
    await engine.close();
  });

  it("runs frames sent during a join after room_joined, in order, and delivers chats stored meanwhile once", async () => {
    const { storage, gates, open, releaseAll } = gatedStorage();
    const { engine, peer } = fakeEngine({ chat: { storage } });
    const [a, b] = [peer(), peer()];
    a.message("join_room", { roomId: "r" });
    await settle();
    releaseAll(); // a's history
    await settle();
    b.message("join_room", { roomId: "r" });
    b.message("update_presence", { presence: { step: 1 } });
    b.message("broadcast_event", { event: "after-join" });
    a.message("send_chat", { message: "while b joins" });
    await settle();
    expect(b.types()).toEqual([]);
    expect(gates.length).toBe(2); // b's history read and a's chat write
    open("append while b joins"); // the chat is stored while b's history (read before it) is still on its way
    await settle();
    expect(b.types()).toEqual([]);
    open("history r");
    await settle();
    expect(b.types()).toEqual(["room_joined", "chat_message"]);
    expect(b.of("room_joined")[0].chatHistory).toEqual([]);
    expect(a.of("broadcast_event")[0].event).toBe("after-join");
    expect(a.of("presence_updated").at(-1).updated[0].presence).toEqual({ step: 1 });
    await engine.close();
  });

  it("delivers chats stored during a resuming join once, in order, whether the resume read saw them or not", async () => {
    const { storage, open, waiting } = gatedCompleteStorage();
    const { engine, peer } = fakeEngine({ chat: { storage } });
    const [a, b] = [peer(), peer()];
    a.message("join_room", { roomId: "r" });
    await settle();
    a.message("send_chat", { message: "m0" });
    await vi.waitFor(() => expect(waiting("append m0")).toBe(true));
    open("append m0");
    await vi.waitFor(() => expect(a.of("chat_message")).toHaveLength(1));
    const last = a.of("chat_message")[0];
    a.message("send_chat", { message: "m1" }); // stored now, published once released
    a.message("send_chat", { message: "m2" });
    await vi.waitFor(() => expect(waiting("append m1")).toBe(true));
    b.message("join_room", { roomId: "r", lastMessageId: last.id });
    await vi.waitFor(() => expect(waiting("after r")).toBe(true)); // b's resume read saw m1, not m2
    open("append m1");
    await vi.waitFor(() => expect(waiting("append m2")).toBe(true));
    open("append m2");
    await vi.waitFor(() => expect(a.of("chat_message")).toHaveLength(3));
    expect(b.types()).toEqual([]);
    open("after r");
    await settle();
    expect(b.types()).toEqual(["room_joined", "chat_message"]);
    const joined = b.of("room_joined")[0];
    expect(joined.resumed).toBe(true);
    expect(joined.chatHistory.map((m: any) => m.message)).toEqual(["m1"]);
    expect(b.of("chat_message").map((m) => m.message)).toEqual(["m2"]);
    await engine.close();
  });

  it("answers a get_chat_history sent while another is loading with RATE_LIMITED, and serves the next one", async () => {
    const { storage, open, waiting } = gatedCompleteStorage();
    const { engine, peer } = fakeEngine({ chat: { storage } });
    const a = peer();
    a.message("join_room", { roomId: "r" });
    await settle();
    a.message("get_chat_history", {});
    a.message("get_chat_history", { limit: 5 });
    await vi.waitFor(() => expect(a.of("error")).toHaveLength(1));
    expect(a.of("error")[0].code).toBe("RATE_LIMITED");
    open("before r");
    await vi.waitFor(() => expect(a.of("chat_history")).toEqual([{ roomId: "r", messages: [], hasMore: false }]));
    a.message("get_chat_history", { limit: 5 });
    await vi.waitFor(() => expect(waiting("before r")).toBe(true));
    open("before r");
    await vi.waitFor(() => expect(a.of("chat_history")).toHaveLength(2));
    await engine.close();
  });

  it("gives the newest history with resumed: false when more than resumeLimit messages came after lastMessageId", async () => {
    const { engine, peer } = fakeEngine({ chat: { resumeLimit: 3, historyLimit: 2 } });
    const a = peer();
    a.message("join_room", { roomId: "r" });
    await settle();
    for (let i = 0; i < 5; i++) a.message("send_chat", { message: `m${i}` });
    await vi.waitFor(() => expect(a.of("chat_message")).toHaveLength(5));
    const ids = a.of("chat_message").map((m) => m.id);
    const [b, c] = [peer(), peer()];
    b.message("join_room", { roomId: "r", lastMessageId: ids[1] }); // 3 after it: resumed
    c.message("join_room", { roomId: "r", lastMessageId: ids[0] }); // 4 after it: a gap
    await vi.waitFor(() => expect([...b.of("room_joined"), ...c.of("room_joined")]).toHaveLength(2));
    expect(b.of("room_joined")[0]).toMatchObject({ resumed: true });
    expect(b.of("room_joined")[0].chatHistory.map((m: any) => m.message)).toEqual(["m2", "m3", "m4"]);
    expect(c.of("room_joined")[0]).toMatchObject({ resumed: false });
    expect(c.of("room_joined")[0].chatHistory.map((m: any) => m.message)).toEqual(["m3", "m4"]);
    await engine.close();
  });

  it("logs once, at start-up, what a storage with only append and getHistory cannot do, and still serves get_chat_history from getHistory", async () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    const inner = createInMemoryChatStorage();
    const requiredOnly: ChatStorage = {
      append: (roomId, m) => inner.append(roomId, m),
      getHistory: (roomId, limit, offset) => inner.getHistory(roomId, limit, offset),
    };
    const { engine, peer } = fakeEngine({ chat: { storage: requiredOnly } });
    expect(warn.mock.calls.map((call) => String(call[0]))).toEqual([
      expect.stringContaining("no getHistoryBefore"),
      expect.stringContaining("no getHistoryAfter"),
      expect.stringContaining("no appendOnce"),
    ]);
    warn.mockRestore();
    const a = peer();
    a.message("join_room", { roomId: "r" });
    await settle();
    for (const message of ["one", "two", "three"]) a.message("send_chat", { message, clientMessageId: "same" });
    await vi.waitFor(() => expect(a.of("chat_message")).toHaveLength(3)); // clientMessageId ignored: each stored
    const [, two] = a.of("chat_message");
    a.message("get_chat_history", { before: two.id, limit: 5 });
    await vi.waitFor(() => expect(a.of("chat_history")).toHaveLength(1));
    expect(a.of("chat_history")[0]).toMatchObject({ roomId: "r", hasMore: false, messages: [{ message: "one" }] });
    const b = peer();
    b.message("join_room", { roomId: "r", lastMessageId: two.id });
    await vi.waitFor(() => expect(b.of("room_joined")).toHaveLength(1));
    expect(b.of("room_joined")[0]).toMatchObject({ resumed: false });
    expect(b.of("room_joined")[0].chatHistory.map((m: any) => m.message)).toEqual(["one", "two", "three"]);
    await engine.close();
  });

  it("refuses frames past the join backlog's bound in frames and in size, and keeps the connection", async () => {
    const { storage, releaseAll } = gatedStorage();
    const { engine, peer } = fakeEngine({ chat: { storage } });
    const a = peer();
    a.message("join_room", { roomId: "r" });
    for (let i = 0; i < 300; i++) a.message("broadcast_event", { event: `e${i}` });
    await settle();
    expect(a.of("error")).toHaveLength(300 - 256);
    releaseAll();
    await settle();
    expect(a.of("room_joined")).toHaveLength(1);

    const b = peer();
    b.message("join_room", { roomId: "r2" });
    const big = "x".repeat(60_000);
    for (let i = 0; i < 20; i++) b.message("broadcast_event", { event: "big", payload: big });
    await settle();
    expect(b.of("error").length).toBeGreaterThan(0);
    expect(b.of("error")[0].code).toBe("INTERNAL_ERROR");
    releaseAll();
    await settle();
    expect(b.closeCode).toBeUndefined();
    await engine.close();
  });

  it("refuses chats past maxChatsInFlight with RATE_LIMITED instead of queueing them without bound", async () => {
    const { storage, releaseAll } = gatedStorage();
    const { engine, peer } = fakeEngine({ chat: { storage, historyLimit: 0 }, maxChatsInFlight: 3 });
    const a = peer();
    a.message("join_room", { roomId: "r" });
    await settle();
    for (let i = 0; i < 5; i++) a.message("send_chat", { message: `m${i}` });
    await settle();
    // Two refused; one RATE_LIMITED says so (at most one a second per connection).
    expect(a.of("error").map((e) => e.code)).toEqual(["RATE_LIMITED"]);
    for (let i = 0; i < 5; i++) {
      releaseAll();
      await settle();
    }
    expect(a.of("chat_message").map((c) => c.message)).toEqual(["m0", "m1", "m2"]);
    a.message("send_chat", { message: "after" });
    await settle();
    releaseAll();
    await settle();
    expect(a.of("chat_message").at(-1).message).toBe("after");
    await engine.close();
  });

  it("keeps no in-progress state on an idle connection once its join, presence and chats are done", async () => {
    vi.useFakeTimers();
    const { engine, peer } = fakeEngine({ presenceThrottleMs: 50 });
    const a = peer();
    a.message("join_room", { roomId: "r" });
    a.message("update_presence", { presence: { x: 1 } });
    a.message("update_presence", { presence: { x: 2 } });
    a.message("send_chat", { message: "hi" });
    await vi.advanceTimersByTimeAsync(200);
    const [conn] = [...engine.connections];
    expect(conn!.work).toBeUndefined();
    await engine.close();
  });

  it("closes with 1001 on close() and refuses new connections after", async () => {
    const { engine, peer } = fakeEngine();
    const a = peer();
    a.message("join_room", { roomId: "r" });
    await settle();
    await engine.close();
    expect(a.closeCode).toBe(1001);
    const late = peer();
    expect(late.closeCode).toBe(1001);
  });
});
