import { GCProfiler, getHeapSpaceStatistics } from "node:v8";
import { describe, expect, it } from "vitest";
import { RoomStreams, withOffset } from "../../src/engine/streams.ts";

const frame = (n: number) => `{"type":"broadcast_event","payload":{"event":"e","payload":{"n":${n}}}}`;
/** What one kept message costs the byte cap: its frame with its offset plus the fixed charge. */
const cost = (n: number, offset: number) => withOffset(frame(n), offset).length + 48;

describe("RoomStreams (one instance, in memory)", () => {
  it("past the byte cap, the least recently written rooms lose their oldest messages first", () => {
    const one = cost(1, 1);
    const streams = new RoomStreams({ size: 256, ttlMs: 60_000, maxBytes: one * 6 }, () => true);
    const a = streams.position("a");
    const b = streams.position("b");
    const c = streams.position("c");
    for (const room of ["a", "b", "c"]) streams.append(room, frame(1));
    for (const room of ["a", "b", "c"]) streams.append(room, frame(1));
    // a was written to again after b and c: b is now the least recently written.
    streams.append("a", frame(1));
    expect(streams.keptBytes).toBeLessThanOrEqual(one * 6);
    expect(streams.replay("b", b)).toBeUndefined(); // b lost its first message
    expect(streams.replay("b", { offset: 1, epoch: b.epoch })?.frames).toHaveLength(1);
    expect(streams.replay("a", a)?.frames).toHaveLength(3);
    expect(streams.replay("c", c)?.frames).toHaveLength(2);
    streams.append("c", frame(1)); // over again: b (oldest written) gives its last message, then a
    expect(streams.replay("b", { offset: 1, epoch: b.epoch })).toBeUndefined();
    expect(streams.replay("b", { offset: 2, epoch: b.epoch })?.frames).toEqual([]);
    expect(streams.replay("c", c)?.frames).toHaveLength(3);
    expect(streams.keptBytes).toBeLessThanOrEqual(one * 6);
  });

  it("a room being written to keeps at least its newest message under the cap", () => {
    const streams = new RoomStreams({ size: 256, ttlMs: 60_000, maxBytes: 10 }, () => true);
    const a = streams.position("a");
    streams.append("a", frame(1));
    const out = streams.append("a", frame(2));
    expect(streams.replay("a", { offset: 1, epoch: a.epoch })?.frames).toEqual([out.frame]);
  });

  it("keeps at most size messages, in offset order, and replays them exactly", () => {
    const streams = new RoomStreams({ size: 100, ttlMs: 60_000, maxBytes: 1 << 30 }, () => true);
    const start = streams.position("r");
    const sent = Array.from({ length: 250 }, (_, i) => streams.append("r", frame(i)));
    expect(sent.map((s) => s.offset)).toEqual(Array.from({ length: 250 }, (_, i) => i + 1));
    expect(streams.replay("r", start)).toBeUndefined();
    expect(streams.replay("r", { offset: 150, epoch: start.epoch })?.frames).toEqual(sent.slice(150).map((s) => s.frame));
    expect(streams.replay("r", { offset: 149, epoch: start.epoch })).toBeUndefined();
    expect(streams.keptBytes).toBe(sent.slice(150).reduce((sum, s) => sum + s.frame.length + 48, 0));
  });

  it("leaves a resumeKey's messages out of its replay, the kept resumeKeys in step with the messages as the oldest go", () => {
    const streams = new RoomStreams({ size: 100, ttlMs: 60_000, maxBytes: 1 << 30 }, () => true);
    const start = streams.position("r");
    // Sessions start at the 50th message; every third from there is "mine".
    const sent = Array.from({ length: 400 }, (_, i) =>
      streams.append("r", frame(i), undefined, i >= 50 && i % 3 === 0 ? "mine" : undefined),
    );
    const since = { offset: 320, epoch: start.epoch };
    const others = sent.filter((_, i) => i >= 320 && i % 3 !== 0).map((s) => s.frame);
    expect(streams.replay("r", since, "mine")?.frames).toEqual(others);
    expect(streams.replay("r", since, "theirs")?.frames).toEqual(sent.slice(320).map((s) => s.frame));
    expect(streams.replay("r", since)?.frames).toEqual(sent.slice(320).map((s) => s.frame));
  });

  it("expired messages are dropped; a log whose room is gone is forgotten, and its room gets a new epoch", () => {
    let inUse = true;
    const streams = new RoomStreams({ size: 256, ttlMs: 1000, maxBytes: 1 << 30 }, () => inUse);
    const first = streams.position("r");
    streams.append("r", frame(1));
    streams.append("s", frame(1));
    streams.sweep(Date.now() + 2000);
    expect(streams.keptBytes).toBe(0);
    // Still in use: the log (offset, epoch) stays, empty.
    expect(streams.position("r")).toEqual({ offset: 1, epoch: first.epoch });
    expect(streams.replay("r", { offset: 1, epoch: first.epoch })?.frames).toEqual([]);
    inUse = false;
    streams.sweep(Date.now() + 2000);
    const next = streams.position("r");
    expect(next.offset).toBe(0);
    expect(next.epoch).not.toBe(first.epoch);
    // The forgotten logs left the write order too: the cap still works on what remains.
    streams.append("s", frame(2));
    streams.append("r", frame(2));
    expect(streams.keptBytes).toBe(cost(2, 1) * 2);
  });
  it("replays any text exactly (non-ASCII, astral, a leading BOM, long frames) through growth and expiry", () => {
    const streams = new RoomStreams({ size: 40, ttlMs: 1000, maxBytes: 1 << 30 }, () => true);
    const start = streams.position("r");
    const texts = ["plain", "héllo wörld", "日本語のテキスト", "emoji 🎉👍🏽", "\uFEFFbom", "x".repeat(70_000), "ж".repeat(5000)];
    const sent: { frame: string; offset: number }[] = [];
    // Rounds of short and long frames: the kept bytes move to the front and the buffer grows and shrinks.
    for (let i = 0; i < 300; i++) {
      const text = `${texts[i % texts.length]}${i}`;
      sent.push(streams.append("r", `{"type":"broadcast_event","payload":{"event":"e","payload":${JSON.stringify(text)}}}`));
    }
    const kept = sent.slice(-40);
    expect(streams.replay("r", { offset: kept[0]!.offset - 1, epoch: start.epoch })?.frames).toEqual(kept.map((s) => s.frame));
    const replay = streams.replay("r", { offset: 290, epoch: start.epoch })!;
    expect(replay.frames).toEqual(sent.slice(290).map((s) => s.frame));
    expect(replay.bytes).toBe(sent.slice(290).reduce((sum, s) => sum + s.frame.length, 0));
    expect(streams.keptBytes).toBe(kept.reduce((sum, s) => sum + s.frame.length + 48, 0));
    streams.sweep(Date.now() + 2000);
    expect(streams.keptBytes).toBe(0);
    const next = streams.append("r", frame(1));
    expect(streams.replay("r", { offset: 300, epoch: start.epoch })?.frames).toEqual([next.frame]);
  });
  it("keeps its frames out of the collected heap: a busy backlog adds next to nothing to the old generation", () => {
    const streams = new RoomStreams({ size: 256, ttlMs: 60_000, maxBytes: 1 << 30 }, () => true);
    // Each message also leaves ~4 KB of short-lived garbage, as the send path does (parsing, fan-out,
    // socket writes): scavenges then come often enough that a kept string outlives two of them.
    let sink: unknown;
    const relay = (n: number) => {
      for (let i = 0; i < n; i++) {
        streams.append(`room-${i % 20}`, frame(i));
        sink = new Array(512).fill(i);
      }
    };
    relay(20 * 256); // every room's backlog full: from here on each append drops one
    const oldSpace = (stats: readonly { space_name?: string; spaceName?: string; space_used_size?: number; spaceUsedSize?: number }[]) => {
      const s = stats.find((x) => (x.spaceName ?? x.space_name) === "old_space");
      return s?.spaceUsedSize ?? s?.space_used_size ?? 0;
    };
    const profiler = new GCProfiler();
    let last = oldSpace(getHeapSpaceStatistics());
    profiler.start();
    const messages = 100_000;
    relay(messages);
    const end = oldSpace(getHeapSpaceStatistics());
    // What entered the old generation: promoted by scavenges, or allocated there between collections.
    let entered = 0;
    for (const gc of profiler.stop()?.statistics ?? []) {
      const before = oldSpace(gc.beforeGC.heapSpaceStatistics);
      const after = oldSpace(gc.afterGC.heapSpaceStatistics);
      entered += before - last + (gc.gcType === "Scavenge" ? after - before : 0);
      last = after;
    }
    entered += end - last;
    expect(sink).toBeDefined();
    // Kept as strings, each frame (its cons and slices) outlived the scavenges and ended in the old generation.
    expect(entered / messages).toBeLessThan(80); // measured: 23 B with the ring, 275 B with strings
  });
});
