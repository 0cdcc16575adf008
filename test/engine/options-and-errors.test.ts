import { describe, expect, it, vi } from "vitest";
import { ConfigError, createReporter, MissingDriverError } from "../../src/errors.ts";
import { resolveOptions } from "../../src/options.ts";
import { byteLength, exceedsBytes, isPlainObject, stableKey } from "../../src/util/json.ts";
import { numberOption } from "../../src/util/number-option.ts";

describe("byteLength", () => {
  it("counts UTF-8 bytes exactly as TextEncoder does, lone surrogates included", () => {
    const encoder = new TextEncoder();
    for (const text of ["", "hello", "é", "€", "日本語", "🎉", "a🎉b", "\ud800", "x\udc00y", "\ud83d", "mixed é € 🎉 \ud800 end"]) {
      expect(byteLength(text), JSON.stringify(text)).toBe(encoder.encode(text).length);
    }
  });

  it("decides from the length alone when it can, and counts only in between", () => {
    expect(exceedsBytes("a".repeat(11), 10)).toBe(true);
    expect(exceedsBytes("€€€", 9)).toBe(false); // 3 × 3 bytes
    expect(exceedsBytes("€€€€", 11)).toBe(true); // 12 bytes in 4 units
    expect(exceedsBytes("abcd", 11)).toBe(false);
  });
});

describe("isPlainObject", () => {
  it("accepts {} and JSON objects, refuses arrays, null and class instances", () => {
    expect(isPlainObject({})).toBe(true);
    expect(isPlainObject(Object.create(null))).toBe(true);
    expect(isPlainObject(JSON.parse('{"__proto__":{"x":1}}'))).toBe(true);
    expect(isPlainObject([])).toBe(false);
    expect(isPlainObject(null)).toBe(false);
    expect(isPlainObject(new Date())).toBe(false);
  });
});

describe("stableKey", () => {
  it("is equal for equal values whatever the key order, and tells functions apart by identity", () => {
    const f = () => {};
    expect(stableKey({ b: [1, "x"], a: { d: 1, c: undefined } })).toBe(stableKey({ a: { d: 1 }, b: [1, "x"] }));
    expect(stableKey({ onError: f })).toBe(stableKey({ onError: f }));
    expect(stableKey({ onError: f })).not.toBe(stableKey({ onError: () => {} }));
    expect(stableKey({ a: "1" })).not.toBe(stableKey({ a: 1 }));
  });
});

describe("numberOption", () => {
  it("returns the fallback for undefined and refuses what is out of range with a ConfigError naming the option", () => {
    expect(numberOption("x", undefined, 7)).toBe(7);
    expect(numberOption("x", 0, 7)).toBe(0);
    expect(() => numberOption("heartbeatMs", 0, 7, "positive")).toThrow(/heartbeatMs must be a positive number, got 0/);
    expect(() => numberOption("maxPayload", -1, 7)).toThrow(ConfigError);
    expect(() => numberOption("maxPayload", Number.NaN, 7)).toThrow(/non-negative/);
    expect(() => numberOption("maxPayload", "5" as unknown as number, 7)).toThrow(ConfigError);
  });
});

describe("the error reporter", () => {
  it("passes errors and stages to onError", () => {
    const seen: unknown[] = [];
    const report = createReporter((error, { stage }) => void seen.push([error, stage]));
    report("boom", { stage: "socket" });
    expect(seen).toEqual([["boom", "socket"]]);
  });

  it("logs one line instead of throwing when onError throws or rejects, so no unhandled rejection follows", async () => {
    const log = vi.spyOn(console, "error").mockImplementation(() => {});
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => void unhandled.push(reason);
    process.on("unhandledRejection", onUnhandled);
    try {
      const throwing = createReporter(() => {
        throw new Error("faulty onError");
      });
      const rejecting = createReporter(async () => {
        throw new Error("faulty async onError");
      });
      // The shape the issue describes: a report made inside a .catch handler.
      await Promise.reject(new Error("storage down")).catch((error) => throwing(error, { stage: "storage" }));
      rejecting(new Error("history down"), { stage: "history" });
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(unhandled).toEqual([]);
      expect(log).toHaveBeenCalledTimes(2);
      expect(String(log.mock.calls[0]![0])).toMatch(
        /^\[openlivesync\] storage failed: .*onError threw .*faulty onError.* while reporting .*storage down/,
      );
      expect(String(log.mock.calls[1]![0])).toMatch(/^\[openlivesync\] history failed: .*onError threw/);
    } finally {
      process.off("unhandledRejection", onUnhandled);
      log.mockRestore();
    }
  });

  it("is what resolveOptions hands out as options.onError, and what auth gets unless it has its own", () => {
    const seen: string[] = [];
    const resolved = resolveOptions({ auth: { custom: { decodeOnly: true } }, onError: (_e, { stage }) => void seen.push(stage) });
    resolved.onError(new Error("x"), { stage: "heartbeat" });
    resolved.auth!.onError!(new Error("y"), { stage: "auth" });
    expect(seen).toEqual(["heartbeat", "auth"]);
    const own = () => {};
    expect(resolveOptions({ auth: { onError: own }, onError: () => {} }).auth!.onError).toBe(own);
  });
});

describe("callbackTimeoutMs", () => {
  it("bounds the app's callbacks at 5 s unless set, and still reads the deprecated hookTimeoutMs when only that is set", () => {
    expect(resolveOptions({}).callbacks.timeoutMs).toBe(5000);
    expect(resolveOptions({ callbackTimeoutMs: 200 }).callbacks.timeoutMs).toBe(200);
    expect(resolveOptions({ hookTimeoutMs: 300 }).callbacks.timeoutMs).toBe(300);
    expect(resolveOptions({ callbackTimeoutMs: 200, hookTimeoutMs: 300 }).callbacks.timeoutMs).toBe(200);
    expect(() => resolveOptions({ hookTimeoutMs: 0 })).toThrow(/hookTimeoutMs/);
    expect(() => resolveOptions({ callbackTimeoutMs: -1 })).toThrow(/callbackTimeoutMs/);
  });
});

describe("MissingDriverError", () => {
  it("names the feature that needs the driver", () => {
    const error = new MissingDriverError("ioredis", "npm install ioredis", { feature: "The Redis backplane" });
    expect(error.message).toBe("The Redis backplane needs ioredis: npm install ioredis");
    expect(error.code).toBe("MISSING_DRIVER");
  });
});
