import { afterEach, describe, expect, it, vi } from "vitest";
import { createReporter, describeError } from "../../src/errors.ts";

afterEach(() => vi.restoreAllMocks());

describe("the default error reporter", () => {
  it("prints one line per failure, the error and its causes with their codes, never a stack", () => {
    const lines: string[] = [];
    vi.spyOn(console, "error").mockImplementation((...args: unknown[]) => void lines.push(args.map(String).join(" ")));
    const refused = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:9"), { code: "ECONNREFUSED" });
    const failure = Object.assign(
      new Error("POST to the webhook receiver failed;\nretrying", { cause: new TypeError("fetch failed", { cause: refused }) }),
      {
        name: "WebhookError",
        code: "WEBHOOK_RETRYING",
      },
    );
    createReporter()(failure, { stage: "webhook" });
    expect(lines).toEqual([
      "[openlivesync] webhook failed: WebhookError (WEBHOOK_RETRYING): POST to the webhook receiver failed; retrying; caused by TypeError: fetch failed; caused by Error (ECONNREFUSED): connect ECONNREFUSED 127.0.0.1:9",
    ]);
  });

  it("prints one line when the app's onError itself throws", () => {
    const lines: string[] = [];
    vi.spyOn(console, "error").mockImplementation((...args: unknown[]) => void lines.push(args.map(String).join(" ")));
    createReporter(() => {
      throw new RangeError("logger down");
    })(new Error("disk full"), { stage: "storage" });
    expect(lines).toEqual([
      "[openlivesync] onError threw while reporting a storage failure: RangeError: logger down; the failure was: Error: disk full",
    ]);
  });

  it("describes values that are not errors", () => {
    expect(describeError("plain text")).toBe("plain text");
    expect(describeError(undefined)).toBe("");
  });
});
