/** The default error reporter: one safe line per failure kind and minute, never a stack, a query or user content. */
import { afterEach, describe, expect, it, vi } from "vitest";
import { CallbackError } from "../../src/engine/app-callbacks.ts";
import { createReporter, describeError, StorageError } from "../../src/errors.ts";

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

/** A driver error as drizzle wraps it: the statement and its parameters in the message. */
function queryError(): Error {
  const driver = Object.assign(new Error('value too long for type character varying(64): "secret-value"'), { code: "22001" });
  return new Error('Failed query: insert into "chat" ("message") values ($1)\nparams: secret chat text', { cause: driver });
}

describe("the default error reporter", () => {
  it("logs the first failure of a stage at once and sums up the rest of the minute in one line", () => {
    vi.useFakeTimers();
    const lines: string[] = [];
    vi.spyOn(console, "error").mockImplementation((line: unknown) => void lines.push(String(line)));
    const report = createReporter();
    for (let i = 0; i < 500; i++) report(new StorageError(`Could not store chat messages: connect ECONNREFUSED`), { stage: "storage" });
    report(new Error("socket gone"), { stage: "socket" });
    expect(lines).toEqual([
      "[openlivesync] storage failed: StorageError STORAGE_ERROR: Could not store chat messages: connect ECONNREFUSED",
      "[openlivesync] socket failed: Error: socket gone",
    ]);
    vi.advanceTimersByTime(60_000);
    expect(lines.slice(2)).toEqual([
      "[openlivesync] storage failed 499 more times in the last 60 s; the last: StorageError STORAGE_ERROR: Could not store chat messages: connect ECONNREFUSED",
    ]);
    // A quiet minute ends the run: nothing is written for it, and the next failure is logged at once.
    vi.advanceTimersByTime(120_000);
    expect(lines).toHaveLength(3);
    report(new StorageError("again"), { stage: "storage" });
    expect(lines).toHaveLength(4);
  });

  it("never writes a query's text, its parameters, a foreign message's quoted values or a stack", () => {
    const lines: string[] = [];
    vi.spyOn(console, "error").mockImplementation((...args: unknown[]) => void lines.push(args.map(String).join(" ")));
    const report = createReporter();
    report(queryError(), { stage: "storage" });
    report(new CallbackError("beforeChat threw", { cause: new Error('spam filter refused "secret chat text"') }), { stage: "callback" });
    report(new SyntaxError(`Unexpected token 's', "secret" is not valid JSON`), { stage: "backplane" });
    expect(lines).toHaveLength(3);
    for (const line of lines) {
      expect(line).not.toMatch(/secret|insert|params|\n|\bat .*:\d+/);
    }
    expect(lines[0]).toBe('[openlivesync] storage failed: Error 22001: value too long for type character varying(64): "…"');
    expect(lines[1]).toBe(
      '[openlivesync] callback failed: CallbackError CALLBACK_FAILED: beforeChat threw (cause: Error: spam filter refused "…")',
    );
  });

  it("describes a storage error by its own message, which carries the driver's message without values", () => {
    expect(
      describeError(
        new StorageError("Could not store chat messages in Postgres: connect ECONNREFUSED 127.0.0.1:5432", { cause: queryError() }),
      ),
    ).toBe("StorageError STORAGE_ERROR: Could not store chat messages in Postgres: connect ECONNREFUSED 127.0.0.1:5432");
    expect(describeError("plain")).toBe("plain");
    expect(describeError({ message: "not an Error" })).toBe("object");
  });
});
