/**
 * Room streams across instances, one instance's side in isolation: the order it delivers a room's
 * sequenced messages in, when the room's channel drops or reorders one and backlog reads are late or
 * fail. A shared-state stand-in answers each read as the test says, so every interleaving is exact.
 */
import { describe, expect, it, vi } from "vitest";
import type { SharedStreamStore } from "../../src/cluster/backplane.ts";
import type { Room, RoomManager } from "../../src/engine/room.ts";
import { SharedStreams } from "../../src/engine/shared-streams.ts";
import { withOffset } from "../../src/engine/streams.ts";

type ReadAnswer = Awaited<ReturnType<SharedStreamStore["read"]>>;

const frameOf = (offset: number) => withOffset(`{"type":"broadcast_event","payload":{"roomId":"r","event":"e"}}`, offset);

/** Shared state: the room's messages as Redis would keep them; each read answers when the test says. */
function sharedState() {
  let given = 0;
  const reads: { since: number | undefined; answer: (a: ReadAnswer) => void }[] = [];
  const store: SharedStreamStore = {
    sequence: async () => undefined,
    remembered: async () => undefined,
    read: (_roomId, since) => new Promise<ReadAnswer>((answer) => reads.push({ since, answer })),
  };
  const now = (): ReadAnswer => ({
    offset: given,
    epoch: "e1",
    entries: Array.from({ length: given }, (_, i) => ({ at: Date.now(), offset: i + 1, frame: frameOf(i + 1), except: "c0" })),
  });
  return {
    store,
    reads,
    /** One more message sequenced (and kept); its offset. */
    give: () => ++given,
    now,
    /** Answer the oldest pending read with what shared state holds now (or with `answer`). */
    async answer(answer?: ReadAnswer) {
      await vi.waitFor(() => expect(reads.length).toBeGreaterThan(0), { timeout: 5000 });
      reads.shift()!.answer(answer ?? now());
    },
    /** Fail the oldest pending read (Redis unreachable, or the read timed out). */
    async fail() {
      await vi.waitFor(() => expect(reads.length).toBeGreaterThan(0), { timeout: 5000 });
      reads.shift()!.answer(undefined);
    },
  };
}

function setUp(members = 1) {
  const shared = sharedState();
  const local = new Set<{ id: string }>();
  for (let i = 0; i < members; i++) local.add({ id: `c${i}` });
  const room = { id: "r", local, joining: new Map() } as unknown as Room;
  const rooms = { get: (id: string) => (id === "r" ? room : undefined), rooms: new Map([["r", room]]) } as unknown as RoomManager;
  const delivered: number[] = [];
  /** Offset → the connection it was not sent to. */
  const skipped = new Map<number, string | undefined>();
  const dropped: number[] = [];
  const reports: string[] = [];
  const streams = new SharedStreams({
    store: shared.store,
    options: { size: 256, ttlMs: 60_000, maxBytes: 1 << 20 },
    rooms,
    deliver: (_room, _frame, _chatId, except, offset) => {
      delivered.push(offset);
      skipped.set(offset, except?.id);
    },
    drop: (_conn, code) => dropped.push(code),
    report: (message) => reports.push(message),
  });
  const accept = (offset: number) => streams.accept(room, frameOf(offset), offset, undefined, "c0");
  return { shared, room, streams, delivered, skipped, dropped, reports, accept };
}

describe("a room's sequenced messages on one instance", () => {
  it("does not skip a message the channel lost when a backlog read taken before it was given answers after a later one arrived", async () => {
    const { shared, room, streams, delivered, dropped, accept } = setUp();
    const ready = streams.prepare(room, undefined);
    await shared.answer();
    await ready;
    // A resync reads the backlog; before it answers, 1 and 2 are given, the channel loses 1 and brings 2.
    streams.recheckAll();
    const stale = shared.now();
    shared.give();
    accept(shared.give());
    await shared.answer(stale); // the read saw neither
    expect(delivered).toEqual([]);
    // The gap is read again: 1 is in the backlog.
    await shared.answer();
    await vi.waitFor(() => expect(delivered).toEqual([1, 2]), { timeout: 5000 });
    expect(dropped).toEqual([]);
  });

  it("does not skip a gap when the read to fill it fails; it reads again, and does not send a sender its own event", async () => {
    const { shared, room, streams, delivered, skipped, dropped, accept } = setUp();
    const ready = streams.prepare(room, undefined);
    await shared.answer();
    await ready;
    shared.give(); // lost by the channel
    accept(shared.give());
    accept(shared.give());
    await shared.fail();
    expect(delivered).toEqual([]);
    await shared.answer();
    await vi.waitFor(() => expect(delivered).toEqual([1, 2, 3]), { timeout: 5000 });
    expect(dropped).toEqual([]);
    // 1, read back from the backlog, was sent by local member c0: not to it, as 2 and 3 (from the channel) were not.
    expect(skipped.get(1)).toBe("c0");
  });

  it("skips only what the backlog no longer holds, and closes the members with 1012 so they learn of the gap", async () => {
    const { shared, room, streams, delivered, dropped, reports, accept } = setUp(2);
    const ready = streams.prepare(room, undefined);
    await shared.answer();
    await ready;
    for (let i = 0; i < 4; i++) shared.give(); // 1–4 lost by the channel
    accept(shared.give());
    const read = shared.now()!;
    read.entries = read.entries!.slice(3); // the backlog kept the newest two: 4 and 5
    await shared.answer(read);
    await vi.waitFor(() => expect(delivered).toEqual([4, 5]), { timeout: 5000 });
    expect(dropped).toEqual([1012, 1012]);
    expect(reports.join()).toContain("1..3");
  });

  it("delivers a message that arrived while the room's first read was in flight, when it is newer than the read", async () => {
    const { shared, room, streams, delivered, accept } = setUp(0);
    const ready = streams.prepare(room, undefined);
    const read = shared.now();
    accept(shared.give()); // given after the read, arrived before its answer
    await shared.answer(read);
    await ready;
    expect(delivered).toEqual([1]);
    expect(streams.position(room)).toEqual({ offset: 1, epoch: "e1" });
  });

  it("reads a room again whose members joined while the read failed, and delivers to them from the first message that reached them", async () => {
    const { shared, room, streams, delivered, accept } = setUp(1);
    const failed = streams.prepare(room, undefined);
    await shared.fail();
    await failed;
    expect(streams.position(room)).toBeUndefined();
    // Redis is back: another instance publishes 1 and 2; both reach this one before its new read answers.
    accept(shared.give());
    accept(shared.give());
    await shared.answer();
    await vi.waitFor(() => expect(delivered).toEqual([1, 2]), { timeout: 5000 });
    expect(streams.position(room)).toEqual({ offset: 2, epoch: "e1" });
  });
});
