import { afterEach, describe, expect, it, vi } from "vitest";
import { MetricHistory, type MetricTotals } from "../../src/engine/metric-history.ts";

const zero: MetricTotals = { connections: 0, rooms: 0, received: 0, sent: 0, errors: 0, storageCalls: 0, storageSeconds: 0 };

describe("metric history (the admin page's charts)", () => {
  afterEach(() => void vi.useRealTimers());

  it("turns counters into rates and mean storage time per interval, gauges as they are", () => {
    // The clock stands still between start() and t0: the first interval is exactly 5 s.
    vi.useFakeTimers({ toFake: ["Date"] });
    let totals = { ...zero };
    const history = new MetricHistory(() => totals, { intervalMs: 5000, capacity: 10 });
    history.start();
    const t0 = Date.now();
    totals = { connections: 3, rooms: 2, received: 50, sent: 500, errors: 5, storageCalls: 4, storageSeconds: 0.02 };
    history.sample(t0 + 5000);
    totals = { ...totals, connections: 1, received: 60 };
    history.sample(t0 + 10_000);
    history.stop();
    expect(history.samples()).toEqual([
      { at: t0 + 5000, connections: 3, rooms: 2, receivedPerSecond: 10, sentPerSecond: 100, errorsPerSecond: 1, storageMs: 5 },
      { at: t0 + 10_000, connections: 1, rooms: 2, receivedPerSecond: 2, sentPerSecond: 0, errorsPerSecond: 0, storageMs: null },
    ]);
  });

  it("keeps the newest `capacity` samples, oldest first, in fixed memory", () => {
    let n = 0;
    const history = new MetricHistory(() => ({ ...zero, connections: n }), { intervalMs: 1000, capacity: 3 });
    history.start();
    const t0 = Date.now();
    for (n = 1; n <= 7; n++) history.sample(t0 + n * 1000);
    history.stop();
    expect(history.samples().map((s) => s.connections)).toEqual([5, 6, 7]);
    expect(history.view()).toMatchObject({ scope: "instance", intervalMs: 1000, capacity: 3 });
  });

  it("samples on its timer only between start and stop, and holds an hour at the default interval", () => {
    vi.useFakeTimers();
    const history = new MetricHistory(() => zero);
    expect(history.capacity).toBe(720);
    vi.advanceTimersByTime(20_000);
    expect(history.samples()).toEqual([]);
    history.start();
    history.start();
    vi.advanceTimersByTime(15_000);
    expect(history.samples()).toHaveLength(3);
    history.stop();
    expect(history.running).toBe(false);
    vi.advanceTimersByTime(15_000);
    expect(history.samples()).toHaveLength(3);
  });
});
