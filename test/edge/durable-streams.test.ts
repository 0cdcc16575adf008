/**
 * The room stream a Durable Object keeps in its SQLite (adapters/cloudflare/durable-streams.ts), over
 * better-sqlite3 in the shape of `ctx.storage`: what outlives the object (a new instance on the same
 * storage, as after an eviction) and the bounds (`size`, `ttlMs`, `maxBytes`). Against workerd itself:
 * test/edge/cloudflare-idle.test.ts.
 */
import Database from "better-sqlite3";
import { afterEach, describe, expect, it, vi } from "vitest";
import { DurableStreams } from "../../adapters/cloudflare/durable-streams.ts";
import type { DurableObjectStateLike } from "../../adapters/cloudflare/shapes.ts";
import type { ResolvedStreams } from "../../src/engine/streams.ts";

function objectStorage(): DurableObjectStateLike["storage"] {
  const db = new Database(":memory:");
  return {
    sql: {
      exec(query, ...bindings) {
        const statement = db.prepare(query);
        const rows = statement.reader ? (statement.all(...bindings) as Record<string, unknown>[]) : (statement.run(...bindings), []);
        return { toArray: () => rows };
      },
    },
    transactionSync: (fn) => db.transaction(fn)(),
    setAlarm: async () => {},
  };
}

const options = (o: Partial<ResolvedStreams> = {}): ResolvedStreams => ({ size: 256, ttlMs: 300_000, maxBytes: 1 << 20, ...o });
const frame = (n: number) => JSON.stringify({ type: "broadcast_event", payload: { event: "n", payload: n } });
const numbers = (frames: string[] | undefined) => frames?.map((f) => JSON.parse(f).payload.payload);

afterEach(() => {
  vi.useRealTimers();
});

describe("room streams in a Durable Object's SQLite", () => {
  it("leaves a resumeKey's own events out of its replay, on a log made before senders were kept too", () => {
    const storage = objectStorage();
    storage.sql.exec("create table openlivesync_stream (seq integer primary key, frame text not null, at integer not null)");
    const streams = new DurableStreams(storage, options());
    const { epoch } = streams.position("r");
    for (let n = 1; n <= 6; n++) streams.append("r", frame(n), undefined, n % 2 === 0 ? "mine" : undefined);
    const since = { offset: 2, epoch };
    expect(numbers(streams.replay("r", since, "mine")?.frames)).toEqual([3, 5]);
    expect(numbers(streams.replay("r", since, "theirs")?.frames)).toEqual([3, 4, 5, 6]);
    expect(numbers(new DurableStreams(storage, options()).replay("r", since)?.frames)).toEqual([3, 4, 5, 6]);
  });

  it("goes on from the same epoch and offset in a new object on the same storage, and replays from there", () => {
    const storage = objectStorage();
    const first = new DurableStreams(storage, options());
    const { epoch } = first.position("r");
    for (let n = 1; n <= 3; n++) expect(first.append("r", frame(n)).offset).toBe(n);
    first.append("r", frame(4), "key-4");

    const woken = new DurableStreams(storage, options());
    expect(woken.position("r")).toEqual({ epoch, offset: 4 });
    expect(numbers(woken.replay("r", { epoch, offset: 1 })?.frames)).toEqual([2, 3, 4]);
    expect(woken.remembered("r", "key-4")).toBe(4);
    expect(JSON.parse(woken.append("r", frame(5)).frame).payload.offset).toBe(5);
    // Another object's storage is another epoch: its offsets mean nothing here.
    expect(new DurableStreams(objectStorage(), options()).position("r").epoch).not.toBe(epoch);
    expect(woken.replay("r", { epoch: "other", offset: 1 })).toBeUndefined();
    expect(woken.replay("r", { epoch, offset: 9 })).toBeUndefined();
  });

  it("keeps the newest `size` messages: a rejoiner behind them gets no replay (a gap), one within gets the rest", () => {
    const streams = new DurableStreams(objectStorage(), options({ size: 3 }));
    const { epoch } = streams.position("r");
    for (let n = 1; n <= 5; n++) streams.append("r", frame(n));
    expect(streams.replay("r", { epoch, offset: 1 })).toBeUndefined();
    expect(numbers(streams.replay("r", { epoch, offset: 2 })?.frames)).toEqual([3, 4, 5]);
    expect(streams.replay("r", { epoch, offset: 5 })?.frames).toEqual([]);
  });

  it("drops messages and idempotency keys older than ttlMs", () => {
    vi.useFakeTimers({ now: 1_000_000 });
    const streams = new DurableStreams(objectStorage(), options({ ttlMs: 1000 }));
    const { epoch } = streams.position("r");
    streams.append("r", frame(1), "k");
    vi.setSystemTime(1_000_600);
    streams.append("r", frame(2));
    vi.setSystemTime(1_001_200);
    expect(streams.remembered("r", "k")).toBeUndefined();
    expect(streams.replay("r", { epoch, offset: 0 })).toBeUndefined();
    expect(numbers(streams.replay("r", { epoch, offset: 1 })?.frames)).toEqual([2]);
    vi.setSystemTime(1_002_000);
    expect(streams.replay("r", { epoch, offset: 1 })).toBeUndefined();
    expect(streams.replay("r", { epoch, offset: 2 })?.frames).toEqual([]);
  });

  it("drops the oldest messages past maxBytes, always keeping the newest", () => {
    const size = frame(10).length + '"offset":10,'.length;
    const streams = new DurableStreams(objectStorage(), options({ maxBytes: size * 2 }));
    const { epoch } = streams.position("r");
    for (let n = 10; n <= 14; n++) streams.append("r", frame(n));
    expect(numbers(streams.replay("r", { epoch, offset: 3 })?.frames)).toEqual([13, 14]);
    expect(streams.replay("r", { epoch, offset: 2 })).toBeUndefined();
    const tiny = new DurableStreams(objectStorage(), options({ maxBytes: 1 }));
    const e = tiny.position("r").epoch;
    tiny.append("r", frame(1));
    tiny.append("r", frame(2));
    expect(numbers(tiny.replay("r", { epoch: e, offset: 1 })?.frames)).toEqual([2]);
  });
});
