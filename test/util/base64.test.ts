import { describe, expect, it } from "vitest";
import { fromBase64, toBase64 } from "../../src/util/base64.ts";

describe("base64 without Buffer", () => {
  it("encodes as Node's Buffer does and decodes back, across the chunk boundary", () => {
    for (const size of [0, 1, 2, 3, 0x8000, 0x8000 + 5, 200_000]) {
      const bytes = new Uint8Array(size).map((_, i) => (i * 7919 + size) & 0xff);
      const text = toBase64(bytes);
      expect(text).toBe(Buffer.from(bytes).toString("base64"));
      expect(fromBase64(text)).toEqual(bytes);
    }
  });

  it("rejects text that is not base64", () => {
    expect(fromBase64("not base64!")).toBeUndefined();
  });
});
