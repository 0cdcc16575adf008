import { describe, expect, it } from "vitest";
import { FrameRing } from "../../src/engine/frame-ring.ts";

/** A deterministic stream of numbers in [0, 1) (tests repeat exactly). */
function random(seed: number) {
  return () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
}

const frameOf = (n: number, size: number, wide: boolean) =>
  `{"type":"broadcast_event","payload":{"offset":${n},"event":"${wide ? "é€😀" : "e"}","payload":"${"x".repeat(size)}"}}`;

describe("FrameRing", () => {
  it("gives back every kept frame exactly, through wrap-arounds, new buffers and multi-byte text", () => {
    const next = random(7);
    const ring = new FrameRing(256);
    const model: string[] = [];
    for (let n = 0; n < 20_000; n++) {
      // Sizes drift up and down so the buffer both grows and shrinks; a few frames are not ASCII.
      const size = Math.floor(next() * (n % 5000 < 2500 ? 40 : 400));
      const frame = frameOf(n, size, next() < 0.05);
      ring.push(frame, n);
      model.push(frame);
      const keep = n % 7000 < 3500 ? 256 : 32;
      while (model.length > keep) {
        expect(ring.shift()).toBe(model.shift()!.length);
      }
      if (n % 97 === 0) for (let k = 0; k < model.length; k++) expect(ring.frameAt(k)).toBe(model[k]);
      expect(ring.count).toBe(model.length);
      expect(ring.timeAt(model.length - 1)).toBe(n);
    }
  });

  it("holds about 1.25 times its kept bytes once full, not twice (rooms-1000x100's frames)", () => {
    const ring = new FrameRing(256);
    for (let n = 0; n < 5000; n++) {
      ring.push(frameOf(100_000 + n, 120, false), n);
      if (ring.count > 256) ring.shift();
    }
    expect(ring.keptBytes).toBe(256 * frameOf(100_000, 120, false).length);
    expect(ring.capacity).toBeLessThanOrEqual(1.3 * ring.keptBytes);
  });

  it("lets go of a large buffer once its frames are few, at its next turn to the front", () => {
    const ring = new FrameRing(256);
    for (let n = 0; n < 600; n++) {
      ring.push(frameOf(n, 1000, false), n);
      if (ring.count > 256) ring.shift();
    }
    const big = ring.capacity;
    // ~90 bytes a frame: about 4,000 of them reach the end of the ~350 KB buffer.
    for (let n = 600; n < 6000; n++) {
      ring.push(frameOf(n, 10, false), n);
      while (ring.count > 8) ring.shift();
    }
    expect(ring.capacity).toBeLessThan(big / 50);
  });
});
