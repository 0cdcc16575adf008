import { afterEach, describe, expect, it, vi } from "vitest";
import { createRefusals } from "../../src/engine/refusals.ts";

afterEach(() => vi.useRealTimers());

describe("refused upgrades", () => {
  it("are reported at the first, then in one summary a minute with the counts, and not at all in a quiet minute", () => {
    vi.useFakeTimers();
    const said: string[] = [];
    const refusals = createRefusals((error, { stage }) => void said.push(`${stage}: ${(error as Error).message}`));
    refusals.record("origin");
    for (let i = 0; i < 40; i++) refusals.record("origin");
    for (let i = 0; i < 3; i++) refusals.record("auth");
    refusals.record("rate");
    expect(said).toEqual(["upgrade: WebSocket upgrade refused: origin 1 (HTTP 403, Origin not in allowedOrigins)"]);
    vi.advanceTimersByTime(60_000);
    expect(said.slice(1)).toEqual([
      "upgrade: WebSocket upgrades refused in the last 60 s: origin 40 (HTTP 403, Origin not in allowedOrigins), auth 3 (HTTP 401 or 500, onAuth), rate 1 (HTTP 429 or close 1008, maxConnectionsPerIp)",
    ]);
    vi.advanceTimersByTime(180_000);
    expect(said).toHaveLength(2);
    expect(refusals.totals()).toEqual({ origin: 41, auth: 3, full: 0, rate: 1 });
    refusals.record("full");
    expect(said).toHaveLength(3);
    refusals.stop();
  });
});
